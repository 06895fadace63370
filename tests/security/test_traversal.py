"""Path traversal: static paths (plain, encoded, versioned), media routes and upload filenames."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from feedback.db import Database
from feedback.settings import PROJECT_ROOT
from feedback.web import staticfiles
from feedback.web.templating import STATIC_DIR
from tests.conftest import csrf_token, login
from tests.staff_factories import PNG, WAV, make_item

# Text that only exists in files outside static/ (settings, the project file, the database).
OUTSIDE_MARKERS = (b"FEEDBACK_SECRET_KEY", b"[project]", b"SQLite format", b"root:x:0:0")

STATIC_ATTACKS = (
    "/static/../feedback/settings.py",
    "/static/../pyproject.toml",
    "/static/css/../../feedback/settings.py",
    "/static/css/../../pyproject.0123456789.toml",
    "/static/css/../../feedback/settings.0123456789.py",
    "/static/../../../../../../etc/passwd",
    "/static//etc/passwd",
    "/static/%2e%2e/feedback/settings.py",
    "/static/..%2ffeedback%2fsettings.py",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/..%5cfeedback%5csettings.py",
    "/static/....//feedback/settings.py",
    "/static/css/app.css/../../../pyproject.toml",
    "/static/css/%00app.css",
)


async def raw_get(app: Starlette, raw_path: str) -> tuple[int, bytes]:
    """One GET with the path exactly as a hostile client would send it (no URL normalisation).

    The ASGI server decodes the path (``%2e`` → ``.``, ``%2f`` → ``/``) and keeps the raw bytes.
    """
    from urllib.parse import unquote

    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": unquote(raw_path), "raw_path": raw_path.encode(), "root_path": "",
        "query_string": b"", "headers": [(b"host", b"testserver")], "server": ("testserver", 80),
        "client": ("203.0.113.10", 4714),
    }
    messages: list[dict[str, Any]] = []
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected; the response ends first
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    status = messages[0]["status"]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return status, body


@pytest.mark.parametrize("path", STATIC_ATTACKS)
async def test_static_traversal_is_refused_and_nothing_outside_is_read(
    app: Starlette, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []
    real_hash = staticfiles.static_hash

    def spy(name: str) -> str:
        hashed.append(name)
        return real_hash(name)

    monkeypatch.setattr(staticfiles, "static_hash", spy)
    status, body = await raw_get(app, path)
    assert status in (400, 404), (path, status)
    for marker in OUTSIDE_MARKERS:
        assert marker not in body, (path, marker)
    # The versioned-name lookup must not even open a file outside static/ to hash it.
    root = STATIC_DIR.resolve()
    for name in hashed:
        assert (root / name).resolve().is_relative_to(root), name


async def test_static_files_are_still_served(app: Starlette) -> None:
    from feedback.web.templating import versioned_static_path

    status, body = await raw_get(app, "/static/css/app.css")
    assert status == 200 and body
    status, versioned = await raw_get(app, "/static/" + versioned_static_path("css/app.css"))
    assert status == 200 and versioned == body
    status, _ = await raw_get(app, "/static/css/app.0123456789.css")
    assert status == 404


@pytest.mark.parametrize("path", [
    "/kiosk/prompts/fr/..%2f..%2fsettings",
    "/kiosk/prompts/../../feedback/settings.py",
    "/kiosk/prompts/%2e%2e/%2e%2e",
    "/kiosk/prompts/fr/' OR '1'='1",
    "/portal/items/1/attachments/..%2f..%2fsettings",
    "/admin/voice-prompts/..%2f..%2fetc/passwd",
])
async def test_media_routes_refuse_traversal(app: Starlette, path: str) -> None:
    status, body = await raw_get(app, path)
    assert status in (303, 400, 404), (path, status)
    for marker in OUTSIDE_MARKERS:
        assert marker not in body


def _exists(path: Path) -> bool:
    return path.exists()


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


async def test_upload_filenames_never_become_paths(client: httpx.AsyncClient, db: Database, settings: Any,
                                                   tmp_path: Path) -> None:
    """Uploads are stored in the database by content; a hostile filename touches no file."""
    item = await make_item(db)
    await login(client, "agent.laf")
    token = await csrf_token(client, f"/portal/items/{item.id}")
    before_project = _tree(PROJECT_ROOT / "static")
    before_data = _tree(settings.data_dir)
    for name in ("../../../../tmp/sauti-evil.png", "..\\..\\static\\evil.png", "/etc/cron.d/evil.png",
                 "evil.png\x00.html", "%2e%2e%2fevil.png"):
        response = await client.post(f"/portal/items/{item.id}/photos", data={"csrf_token": token},
                                     files={"photo": (name, PNG, "image/png")})
        assert response.status_code == 303, (name, response.status_code)
    assert not _exists(Path("/tmp/sauti-evil.png"))
    assert _tree(PROJECT_ROOT / "static") == before_project
    assert _tree(settings.data_dir) - before_data <= {"feedback.db-journal", "feedback.db-wal", "feedback.db-shm"}
    page = await client.get(f"/portal/items/{item.id}")
    assert "sauti-evil" not in page.text and "cron.d" not in page.text
    # Served back under its own kind and id, never under the uploaded name.
    import re

    links = re.findall(rf"/portal/items/{item.id}/attachments/(\d+)", page.text)
    assert links
    served = await client.get(f"/portal/items/{item.id}/attachments/{links[0]}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert "evil" not in served.headers.get("content-disposition", "")
    assert served.headers["x-content-type-options"] == "nosniff"


async def test_disguised_uploads_are_refused(client: httpx.AsyncClient, db: Database) -> None:
    """Content is sniffed: HTML or a script named .png / .wav is refused everywhere."""
    item = await make_item(db)
    html = b"<html><script>alert(1)</script></html>"
    await login(client, "admin")
    token = await csrf_token(client, "/admin/voice-prompts")
    prompt = await client.post("/admin/voice-prompts/topic/fr/upload", data={"csrf_token": token},
                               files={"file": ("../../prompt.wav", html, "audio/wav")})
    assert prompt.status_code == 400
    good = await client.post("/admin/voice-prompts/topic/fr/upload", data={"csrf_token": token},
                             files={"file": ("../../prompt.wav", WAV, "audio/wav")})
    assert good.status_code == 303
    for screen, locale in (("..", "fr"), ("topic", ".."), ("%2e%2e", "fr"), ("topic", "fr%2f..")):
        refused = await client.post(f"/admin/voice-prompts/{screen}/{locale}/upload",
                                    data={"csrf_token": token}, files={"file": ("p.wav", WAV, "audio/wav")})
        assert refused.status_code == 404, (screen, locale)
    token = await csrf_token(client, f"/portal/items/{item.id}")
    photo = await client.post(f"/portal/items/{item.id}/photos", data={"csrf_token": token},
                              files={"photo": ("x.png", b"\x89PNG" + html, "image/png")})
    assert photo.status_code in (400, 403)


async def test_kiosk_voice_note_is_sniffed(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client, "/kiosk/BKO-C4-LAF")
    answers = {"csrf_token": token, "lang": "fr", "feedback_type": "complaint", "topic": "welcome",
               "has_voice": "1", "contact_consent": "no", "publish_consent": "no", "gender": "undisclosed",
               "age_band": "undisclosed", "idempotency_key": "k" * 24, "step": "review", "nav": "send"}
    html = b"<html><script>alert(1)</script></html>"
    response = await client.post("/kiosk/BKO-C4-LAF", data=answers,
                                 files={"voice": ("../../../evil.wav", html, "audio/wav")})
    assert response.status_code == 422
    assert "<script>alert(1)" not in response.text
    assert not _exists(STATIC_DIR / "evil.wav") and not _exists(STATIC_DIR.parent / "evil.wav")
