"""Security headers, secure cookies, body limits and error pages that give nothing away (issue 9 §5)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from feedback.app import create_app
from feedback.seed import DEMO_PASSWORD
from tests.conftest import SECRET, csrf_token, make_settings

PAGES = ("/", "/board/", "/track/", "/login", "/submit", "/kiosk/BKO-C4-LAF", "/healthz",
         "/open311/v2/services.json", "/export/feedback.csv", "/feeds/board.atom", "/no-such-page")


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


@pytest.mark.parametrize("path", PAGES)
async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code < 500, path
    policy = directives(response.headers["content-security-policy"])
    scripts = policy.get("script-src", policy["default-src"])
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert "*" not in scripts and not any(s.startswith(("http:", "https:", "data:")) for s in scripts)
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] in (["'none'"], ["'self'"])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")
    assert response.headers["x-frame-options"] == "DENY"
    # HSTS only in production: on plain-HTTP development it would lock browsers out of localhost.
    assert "strict-transport-security" not in response.headers


async def test_no_inline_script_or_style_on_pages(client: httpx.AsyncClient) -> None:
    """The CSP would block them: every script comes from /static/ and no element has style=""."""
    import re

    for path in ("/", "/board/", "/track/", "/login", "/submit", "/kiosk/BKO-C4-LAF"):
        html = (await client.get(path)).text
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, (path, tag)
        assert not re.search(r"<[a-z][^>]*\sstyle=", html), path
        assert not re.search(r"<[a-z][^>]*\son[a-z]+=", html), path


# --- production -----------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def production_app(database_url: str, tmp_path: Path) -> AsyncIterator[Starlette]:
    data_dir = tmp_path / "prod-data"
    data_dir.mkdir()
    settings = make_settings(database_url, data_dir, FEEDBACK_ENV="production",
                             FEEDBACK_BASE_URL="https://testserver")
    assert settings.production and settings.secure_cookies and len(SECRET) >= 32
    application = create_app(settings)
    yield application
    await application.state.db.dispose()


@pytest_asyncio.fixture
async def https_client(production_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=production_app, client=("203.0.113.8", 4712))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http


def cookie_attributes(header: str) -> tuple[str, set[str]]:
    name = header.split("=", 1)[0]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    samesite = [p.strip().split("=")[1].lower() for p in header.split(";")[1:] if p.strip().lower().startswith("samesite=")]
    return name, attributes | {f"samesite={v}" for v in samesite}


async def test_production_sends_hsts(https_client: httpx.AsyncClient) -> None:
    response = await https_client.get("/")
    hsts = response.headers["strict-transport-security"]
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 180 * 86400


async def test_production_cookies_are_secure_httponly_samesite(https_client: httpx.AsyncClient) -> None:
    page = await https_client.get("/login")
    set_cookies = page.headers.get_list("set-cookie")
    assert set_cookies, "the login page sets the CSRF cookie"
    token = await csrf_token(https_client, "/login")
    signed_in = await https_client.post("/login", data={"login": "admin", "password": DEMO_PASSWORD,
                                                         "csrf_token": token})
    assert signed_in.status_code == 303
    set_cookies += signed_in.headers.get_list("set-cookie")
    language = await https_client.get("/language", params={"lang": "en", "next": "/"})
    set_cookies += language.headers.get_list("set-cookie")
    names = set()
    for header in set_cookies:
        name, attributes = cookie_attributes(header)
        names.add(name)
        assert {"secure", "httponly", "path"} <= attributes, header
        assert "samesite=lax" in attributes or "samesite=strict" in attributes, header
    # The __Host- prefix: the browser only accepts them over HTTPS, for this host, on Path=/.
    assert {"__Host-csrf", "__Host-session", "lang"} <= names
    # And the session works over HTTPS.
    portal = await https_client.get("/portal/")
    assert portal.status_code == 200


async def test_production_refuses_a_short_secret(database_url: str, tmp_path: Path) -> None:
    from feedback.settings import SettingsError

    settings = make_settings(database_url, tmp_path, FEEDBACK_ENV="production", FEEDBACK_SECRET_KEY="short")
    with pytest.raises(SettingsError):
        create_app(settings)


# --- request size ---------------------------------------------------------------------------------


async def test_oversized_body_by_content_length_is_413(client: httpx.AsyncClient, settings: object) -> None:
    limit = settings.max_body_bytes  # type: ignore[attr-defined]
    token = await csrf_token(client, "/submit")
    response = await client.post("/submit", content=b"a" * (limit + 1),
                                 headers={"content-type": "application/x-www-form-urlencoded",
                                          "x-csrf-token": token})
    assert response.status_code == 413
    assert "<html" in response.text.lower() and "Traceback" not in response.text


async def test_oversized_streamed_body_is_413(client: httpx.AsyncClient, settings: object) -> None:
    """A chunked body has no Content-Length: the limit is counted while it streams in."""
    limit = settings.max_body_bytes  # type: ignore[attr-defined]
    token = await csrf_token(client, "/submit")

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        while sent <= limit:
            yield b"x" * 65536
            sent += 65536

    for path, headers in (
        ("/submit", {"x-csrf-token": token, "content-type": "application/x-www-form-urlencoded"}),
        ("/sms/inbound", {"x-sauti-secret": "sms-test-secret", "content-type": "application/x-www-form-urlencoded"}),
    ):
        response = await client.post(path, content=chunks(), headers=headers)
        assert "content-length" not in response.request.headers
        assert response.status_code == 413, (path, response.status_code)
    # Open311's form parser stops earlier, at its 1 MB per-field limit: refused either way.
    response = await client.post("/open311/v2/requests.json", content=chunks(),
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code in (400, 413)


async def test_limit_holds_even_when_a_handler_swallows_the_error(app: Starlette) -> None:
    """A handler that turns any body error into its own answer still yields 413."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from feedback.web.security import BodyLimitMiddleware

    async def careless(request: Request) -> PlainTextResponse:
        try:
            await request.body()
        except Exception:  # noqa: BLE001
            return PlainTextResponse("malformed", status_code=400)
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/", careless, methods=["POST"]), *app.routes])
    inner.state.templates = app.state.templates
    inner.state.settings = app.state.settings
    limited = BodyLimitMiddleware(inner, max_bytes=1000)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 500

    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.post("/", content=b"z" * 10)).text == "ok"
        response = await http.post("/", content=chunks())
    assert response.status_code == 413
    assert "malformed" not in response.text


async def test_body_under_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client, "/submit")
    response = await client.post("/submit", data={"csrf_token": token, "step": "site", "text": "x" * 100_000})
    assert response.status_code in (200, 422)


# --- errors ---------------------------------------------------------------------------------------


async def test_a_crash_is_the_translated_500_page_without_traceback_or_secret(
    app: Starlette, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from feedback.queries import places

    leak = f"secret={SECRET} password={DEMO_PASSWORD}"

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"database exploded: {leak}")

    monkeypatch.setattr(places, "active_sites", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for lang, title in (("en", "Something went wrong on our side"), ("fr", "<html")):
            response = await http.get("/", params={"lang": lang})
            assert response.status_code == 500
            assert title in response.text
            for forbidden in ("Traceback", "RuntimeError", "database exploded", SECRET, DEMO_PASSWORD, 'File "'):
                assert forbidden not in response.text, forbidden
            assert response.headers["content-security-policy"]
            assert response.headers["cache-control"] == "no-store"
    # The log has the traceback for the operator, but never the configured secret key
    # (the exception's own text is the exception's business; the app adds nothing).
    formatter = logging.Formatter()
    logged = "\n".join(formatter.format(r) for r in caplog.records)
    assert "unhandled error on GET /" in logged and "Traceback" in logged
    assert SECRET not in logged.replace(leak, "")
    assert DEMO_PASSWORD not in logged.replace(leak, "")


async def test_json_errors_carry_no_exception_text(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> None:
    from feedback.queries import tracking

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"boom {SECRET}")

    for name in dir(tracking):
        if not name.startswith("_") and callable(getattr(tracking, name)) and getattr(
            getattr(tracking, name), "__module__", "") == tracking.__name__:
            monkeypatch.setattr(tracking, name, broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/api/track/2346789AC")
    assert response.status_code in (404, 500)
    assert "boom" not in response.text and SECRET not in response.text and "Traceback" not in response.text


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("GET", "/portal/items/abc", {}),
    ("GET", "/board/items?page=-1&period=%00", {}),
    ("GET", "/track/%ff%fe", {}),
    ("GET", "/open311/v2/requests.json?start_date=not-a-date", {}),
    ("GET", "/open311/v2/requests/%27.json", {}),
    ("POST", "/sms/inbound", {"content": b"\xff\xfe{", "headers": {"x-sauti-secret": "sms-test-secret",
                                                                    "content-type": "application/json"}}),
    ("POST", "/open311/v2/requests.json", {"content": b"--x\r\nbroken", "headers": {
        "content-type": "multipart/form-data; boundary=x"}}),
])
async def test_bad_input_is_a_4xx_without_internals(client: httpx.AsyncClient, method: str, path: str,
                                                    kwargs: dict[str, object]) -> None:
    response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code < 500, (path, response.status_code)
    for forbidden in ("Traceback", "Exception", "sqlalchemy", "aiosqlite", "asyncpg", SECRET):
        assert forbidden not in response.text, (path, forbidden)


async def test_secrets_sent_to_the_app_never_reach_its_log(
    client: httpx.AsyncClient, db: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Passwords, the SMS secret and API keys pass through handlers without being logged."""
    from tests.http.opendata_items import make_key

    key = await make_key(db)  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG)
    token = await csrf_token(client, "/login")
    await client.post("/login", data={"login": "admin", "password": DEMO_PASSWORD, "csrf_token": token})
    await client.post("/login", data={"login": "admin", "password": "wrong-" + DEMO_PASSWORD, "csrf_token": token})
    await client.post("/sms/inbound", headers={"X-Sauti-Secret": "sms-test-secret"},
                      data={"from": "+22376543210", "to": "1", "text": "BKO-C4-LAF bonjour", "id": "log-1"})
    await client.post("/sms/inbound", headers={"X-Sauti-Secret": "wrong-sms-secret"}, data={"text": "x"})
    await client.post("/open311/v2/requests.json", data={"api_key": key, "service_code": "waiting",
                                                          "address_id": "BKO-C4-LAF", "description": "Attente"})
    await client.post("/open311/v2/requests.json", data={"api_key": key + "x", "description": "Attente"})
    formatter = logging.Formatter()
    logged = "\n".join(formatter.format(r) for r in caplog.records if not r.name.startswith("httpx"))
    for secret in (DEMO_PASSWORD, "sms-test-secret", "wrong-sms-secret", SECRET, key):
        assert secret not in logged, secret
