"""The offline kiosk's API (/kiosk-api/): registration, device tokens, reserved codes, sync,
heartbeat, the service worker and the version that keeps page, cache and API together."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from feedback import codes
from feedback.db import Database
from feedback.domain import intake
from feedback.models import Attachment, FeedbackItem, Kiosk, ReservedCode, Site, utcnow
from feedback.web.offline import app_version
from tests.conftest import csrf_token, login
from tests.http.test_kiosk import wav

SITE = "BKO-C4-LAF"
OTHER_SITE = "BKO-C2-BAG"
VERSION = {"X-App-Version": app_version()}
# Every answer of the flow, as the final step sends them.
ANSWERS = {
    "lang": "bm", "feedback_type": "complaint", "topic": "waiting", "text": "Makɔnɔni ka jan kosɛbɛ",
    "contact_consent": "no", "publish_consent": "yes", "gender": "female", "age_band": "25_34",
}


async def register(client: httpx.AsyncClient, site: str = SITE) -> tuple[int, str]:
    token = await csrf_token(client, f"/kiosk/{site}")
    response = await client.post(f"/kiosk-api/{site}/register", headers={"X-CSRF-Token": token, **VERSION})
    assert response.status_code == 201, response.text
    data = response.json()
    return data["kiosk_id"], data["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **VERSION}


async def reserve(client: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    response = await client.post("/kiosk-api/codes", headers=bearer(token))
    assert response.status_code == 200, response.text
    return list(response.json()["codes"])


def key(n: int = 1) -> str:
    return f"offline-key-{n:04d}-abcdefgh"


async def send(client: httpx.AsyncClient, token: str, headers: dict[str, str] | None = None,
               files: dict[str, Any] | None = None, **fields: str) -> httpx.Response:
    data = {**ANSWERS, "idempotency_key": key(), "submitted_at": (utcnow() - timedelta(hours=3)).isoformat(), **fields}
    return await client.post("/kiosk-api/submissions", data=data, files=files,
                             headers=headers if headers is not None else bearer(token))


# --- registration ------------------------------------------------------------------------


async def test_register_needs_the_csrf_token_of_the_kiosk_page(
    app: Any, client: httpx.AsyncClient, db: Database
) -> None:
    path = f"/kiosk-api/{SITE}/register"
    assert (await client.post(path, headers=VERSION)).status_code == 403
    await client.get(f"/kiosk/{SITE}")  # a cookie, but not its token
    assert (await client.post(path, headers={"X-CSRF-Token": "0" * 64, **VERSION})).status_code == 403
    # The token of another browser's cookie is refused too.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as other:
        foreign = await csrf_token(other, f"/kiosk/{SITE}")
    assert (await client.post(path, headers={"X-CSRF-Token": foreign, **VERSION})).status_code == 403
    own = await csrf_token(client, f"/kiosk/{SITE}")
    assert (await client.post("/kiosk-api/NOPE/register", headers={"X-CSRF-Token": own, **VERSION})).status_code == 404

    kiosk_id, token = await register(client)
    async with db.read() as session:
        kiosk = await session.get_one(Kiosk, kiosk_id)
        site = await session.get_one(Site, kiosk.site_id)
    # Only the hash of the token is stored; the kiosk belongs to the site it registered at.
    assert kiosk.token_hash == hashlib.sha256(token.encode()).hexdigest() and len(token) >= 40
    assert site.code == SITE and kiosk.last_contact_at is not None and kiosk.app_version == app_version()


async def test_register_is_rate_limited(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client, f"/kiosk/{SITE}")
    statuses = [
        (await client.post(f"/kiosk-api/{SITE}/register", headers={"X-CSRF-Token": token, **VERSION})).status_code
        for _ in range(21)
    ]
    assert statuses[:20] == [201] * 20 and statuses[20] == 429


@pytest.mark.parametrize("path", ["/kiosk-api/codes", "/kiosk-api/submissions", "/kiosk-api/heartbeat"])
async def test_every_other_state_change_needs_a_device_token(client: httpx.AsyncClient, path: str) -> None:
    await register(client)
    for headers in ({}, VERSION, {"Authorization": "Bearer not-a-token", **VERSION},
                    {"Authorization": "Basic abc", **VERSION},
                    # The seeded demo kiosks hold no token anyone could know.
                    {"Authorization": "Bearer demo-kiosk-BKO-C4-LAF", **VERSION}):
        response = await client.post(path, headers=headers, data={**ANSWERS, "idempotency_key": key()})
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "error" in response.json()


# --- reserved codes ----------------------------------------------------------------------


async def test_codes_are_unique_expire_and_belong_to_one_kiosk(client: httpx.AsyncClient, db: Database) -> None:
    kiosk_a, token_a = await register(client)
    kiosk_b, token_b = await register(client)
    first = await reserve(client, token_a)
    assert len(first) == 50 and len({c["code"] for c in first}) == 50
    assert all(codes.is_valid(c["code"]) and "<svg" in c["qr"] for c in first)
    # Topped up, not replaced: the same 50 again.
    assert {c["code"] for c in await reserve(client, token_a)} == {c["code"] for c in first}
    other = {c["code"] for c in await reserve(client, token_b)}
    assert not other & {c["code"] for c in first}
    async with db.read() as session:
        rows = (await session.scalars(select(ReservedCode).where(ReservedCode.kiosk_id == kiosk_a))).all()
    assert len(rows) == 50
    assert all(timedelta(days=29) < r.expires_at - r.reserved_at <= timedelta(days=30) for r in rows)

    # Kiosk B cannot use a code of kiosk A: refused for good (422) with the reason.
    stolen = first[0]["code"]
    response = await send(client, token_b, reserved_code=stolen)
    assert response.status_code == 422 and "reserved_code" in response.json()["errors"]
    # A code used after it expired is refused too.
    async with db.write() as session, session.begin():
        await session.execute(update(ReservedCode).where(ReservedCode.code == first[1]["code"])
                              .values(expires_at=utcnow() - timedelta(days=1)))
    response = await send(client, token_a, reserved_code=first[1]["code"], submitted_at=utcnow().isoformat())
    assert response.status_code == 422 and "reserved_code" in response.json()["errors"]
    # Expired codes are not handed out again; the kiosk is topped up to 50 usable ones.
    again = {c["code"] for c in await reserve(client, token_a)}
    assert first[1]["code"] not in again and len(again) == 50
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(FeedbackItem)) == 0


async def test_online_intake_never_draws_a_reserved_code(db: Database, monkeypatch: pytest.MonkeyPatch,
                                                         client: httpx.AsyncClient) -> None:
    _, token = await register(client)
    held = (await reserve(client, token))[0]["code"]
    drawn = iter([held, "K7M4PX2RC"])
    monkeypatch.setattr(codes, "new_tracking_code", lambda: next(drawn))
    sub = intake.Submission(site_code=SITE, channel="web", feedback_type="question", topic_slug="waiting",
                            text="Quand ouvre le CSCOM ?", idempotency_key="web-key-0001-abcdef")
    item, _ = await intake.submit_once(db.write, sub)
    assert item.tracking_code == "K7M4PX2RC"


# --- sync --------------------------------------------------------------------------------


async def test_sync_stores_exactly_once_with_the_reserved_code_and_device_time(
    client: httpx.AsyncClient, db: Database
) -> None:
    kiosk_id, token = await register(client)
    code = (await reserve(client, token))[0]["code"]
    device_time = (utcnow() - timedelta(hours=5)).replace(microsecond=123000)
    fields = {"reserved_code": code, "submitted_at": device_time.isoformat().replace("+00:00", "Z"),
              "has_voice": "1"}
    first = await send(client, token, files={"voice": ("voice.wav", wav(), "audio/wav")}, **fields)
    assert first.status_code == 201, first.text
    assert first.json() == {"tracking_code": code, "created": True}
    # The same submission again (its answer was lost on the way): the same item, nothing new.
    again = await send(client, token, files={"voice": ("voice.wav", wav(), "audio/wav")}, **fields)
    assert again.status_code == 200 and again.json() == {"tracking_code": code, "created": False}

    async with db.read() as session:
        items = (await session.scalars(select(FeedbackItem))).all()
        voices = await session.scalar(select(func.count()).select_from(Attachment))
        reserved = await session.get_one(ReservedCode, code)
        kiosk = await session.get_one(Kiosk, kiosk_id)
    assert len(items) == 1 and voices == 1
    item = items[0]
    assert (item.tracking_code, item.kiosk_id, item.channel, item.language) == (code, kiosk_id, "kiosk", "bm")
    assert item.submitted_at == device_time and item.received_at > device_time + timedelta(hours=4)
    assert reserved.used_at is not None and kiosk.last_contact_at is not None
    # The receipt's code works on the tracking page.
    assert (await client.get(f"/track/{code}")).status_code == 200


async def test_sync_without_a_reserved_code_gets_a_fresh_one(client: httpx.AsyncClient) -> None:
    _, token = await register(client)
    response = await send(client, token)
    assert response.status_code == 201 and codes.is_valid(response.json()["tracking_code"])


@pytest.mark.parametrize(("fields", "field"), [
    ({"topic": "nope"}, "topic"),
    ({"text": ""}, "text"),
    ({"contact_consent": "yes", "contact_phone": "12"}, "contact_phone"),
    ({"has_voice": "1"}, "voice"),
    ({"idempotency_key": "bad key!"}, "idempotency_key"),
    ({"submitted_at": "yesterday"}, "submitted_at"),
    ({"reserved_code": "K7M4PX2RC"}, "reserved_code"),
])
async def test_a_refused_submission_gets_422_with_its_reason(
    client: httpx.AsyncClient, db: Database, fields: dict[str, str], field: str
) -> None:
    _, token = await register(client)
    response = await send(client, token, **fields)
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in body["errors"] and body["error"]
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(FeedbackItem)) == 0


async def test_a_voice_note_that_is_not_audio_is_refused(client: httpx.AsyncClient) -> None:
    _, token = await register(client)
    response = await send(client, token, has_voice="1", files={"voice": ("v.webm", b"<html>not audio", "audio/webm")})
    assert response.status_code == 422 and "voice" in response.json()["errors"]


async def test_the_submission_goes_to_the_kiosks_own_site(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await register(client, OTHER_SITE)
    response = await send(client, token, site=SITE)
    assert response.status_code == 201
    async with db.read() as session:
        item = await session.scalar(select(FeedbackItem))
    assert item is not None
    async with db.read() as session:
        site = await session.get_one(Site, item.site_id)
    assert site.code == OTHER_SITE


# --- heartbeat and versions --------------------------------------------------------------


async def test_heartbeat_records_what_the_kiosk_reports(client: httpx.AsyncClient, db: Database) -> None:
    kiosk_id, token = await register(client)
    await reserve(client, token)
    response = await client.post("/kiosk-api/heartbeat", headers=bearer(token),
                                 json={"queued_count": 3, "rejected_count": 1})
    assert response.status_code == 200
    assert response.json()["codes_left"] == 50 and response.json()["version"] == app_version()
    async with db.read() as session:
        kiosk = await session.get_one(Kiosk, kiosk_id)
    assert (kiosk.queued_count, kiosk.rejected_count, kiosk.app_version) == (3, 1, app_version())
    # Nonsense counts are read as nothing, never as an error.
    response = await client.post("/kiosk-api/heartbeat", headers=bearer(token), json={"queued_count": "many"})
    assert response.status_code == 200


async def test_an_old_version_is_told_to_reload_and_sends_nothing(client: httpx.AsyncClient, db: Database) -> None:
    kiosk_id, token = await register(client)
    old = {"Authorization": f"Bearer {token}", "X-App-Version": "0ld0ld0ld0ld"}
    # The heartbeat of an old kiosk is recorded (staff see it is behind), then it is told to reload.
    response = await client.post("/kiosk-api/heartbeat", headers=old, json={"queued_count": 2})
    assert response.status_code == 409
    assert response.json()["reload"] is True and response.json()["version"] == app_version()
    async with db.read() as session:
        kiosk = await session.get_one(Kiosk, kiosk_id)
    assert (kiosk.app_version, kiosk.queued_count) == ("0ld0ld0ld0ld", 2)
    # Nothing is stored from an old page: its queue waits on the device until it has reloaded.
    assert (await send(client, token, headers=old)).status_code == 409
    assert (await client.post("/kiosk-api/codes", headers=old)).status_code == 409
    assert (await client.post("/kiosk-api/codes", headers={"Authorization": f"Bearer {token}"})).status_code == 409
    csrf = await csrf_token(client, f"/kiosk/{SITE}")
    assert (await client.post(f"/kiosk-api/{SITE}/register",
                              headers={"X-CSRF-Token": csrf, "X-App-Version": "0ld"})).status_code == 409
    assert (await client.get(f"/kiosk-api/{SITE}/flow.fr.json?v=0ld0ld0ld0ld")).status_code == 409
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(FeedbackItem)) == 0


async def test_a_kiosk_step_from_an_old_page_is_not_answered_with_new_screens(client: httpx.AsyncClient) -> None:
    page = await client.get(f"/kiosk/{SITE}")
    assert page.headers["X-App-Version"] == app_version()
    assert f'"X-App-Version": "{app_version()}"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token, "step": "type", "lang": "fr", "feedback_type": "complaint",
            "idempotency_key": key()}
    old = await client.post(f"/kiosk/{SITE}", data=form, headers={"HX-Request": "true", "X-App-Version": "0ld"})
    assert old.status_code == 409 and old.headers["HX-Refresh"] == "true" and old.text == ""
    same = await client.post(f"/kiosk/{SITE}", data=form, headers={"HX-Request": "true", **VERSION})
    assert same.status_code == 200 and 'data-step="topic"' in same.text
    # Without JavaScript there is no version to compare: a plain form always works.
    plain = await client.post(f"/kiosk/{SITE}", data=form)
    assert plain.status_code == 200


async def test_the_service_worker(client: httpx.AsyncClient) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["Cache-Control"] == "no-cache"
    assert f'"version": "{app_version()}"' in response.text and '"scope": "/kiosk/"' in response.text
    # Everything it stores when it installs is really there.
    precache = re.search(r'"precache": \[([^\]]*)\]', response.text).group(1)  # type: ignore[union-attr]
    for url in re.findall(r'"([^"]+)"', precache):
        assert (await client.get(url)).status_code == 200, url


async def test_the_flow_texts_for_the_device(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/kiosk-api/{SITE}/flow.bm.json?v={app_version()}")
    assert response.status_code == 200 and response.headers["X-App-Version"] == app_version()
    flow = response.json()
    assert flow["version"] == app_version() and flow["lang"] == "bm"
    assert list(flow["screens"]) == ["language", "type", "topic", "say", "contact", "publish", "gender", "age",
                                     "review"]
    assert 'data-step="topic"' in flow["screens"]["topic"] and 'lang="bm"' not in flow["screens"]["type"]
    assert "data-offline-note" in flow["receipt"] and "waiting" in flow["topics"]
    # The same translated texts as the server's own screens.
    page = await client.post(f"/kiosk/{SITE}", data={
        "csrf_token": await csrf_token(client, f"/kiosk/{SITE}"), "step": "language", "lang": "bm",
        "idempotency_key": key()})
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", page.text).group(1)  # type: ignore[union-attr]
    assert f">{heading}</h1>" in flow["screens"]["type"]
    assert flow["messages"]["topic"] and flow["messages"]["topic"] != "Please choose what your feedback is about."
    assert (await client.get(f"/kiosk-api/{SITE}/flow.xx.json")).status_code == 404
    assert (await client.get("/kiosk-api/NOPE/flow.fr.json")).status_code == 404


# --- the kiosks page ---------------------------------------------------------------------


async def test_kiosks_page_shows_contact_queue_refusals_codes_and_version(
    client: httpx.AsyncClient, db: Database
) -> None:
    kiosk_id, token = await register(client)
    await reserve(client, token)
    await client.post("/kiosk-api/heartbeat", headers=bearer(token), json={"queued_count": 4, "rejected_count": 2})
    client.cookies.clear()
    await login(client, "admin")
    page = await client.get("/admin/kiosks")
    assert page.status_code == 200
    row = re.search(rf'<tr data-kiosk="{kiosk_id}".*?</tr>', page.text, re.S).group(0)  # type: ignore[union-attr]
    assert ">50<" in row and app_version() in row and "data-rejected" in row and ">4<" in row
    assert "data-silent" not in row
    # The demo kiosk of Niamakoro has been silent for three days.
    silent = re.search(r'<tr data-kiosk="\d+" class="silent">.*?</tr>', page.text, re.S).group(0)  # type: ignore[union-attr]
    assert "BKO-C6-NIA" in silent and "data-silent" in silent and "3" in silent
    client.cookies.clear()
    await login(client, "chef.laf")
    assert (await client.get("/admin/kiosks")).status_code == 404
