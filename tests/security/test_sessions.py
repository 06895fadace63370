"""Staff sessions: fixation, sign-out, password change, tampering, idle and absolute expiry."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from unittest import mock

import httpx
import pytest_asyncio
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from starlette.applications import Starlette

from feedback.app import create_app
from feedback.db import Database
from feedback.models import User
from feedback.seed import DEMO_PASSWORD
from tests.conftest import SECRET, csrf_token, login, make_settings

PORTAL = "/portal/"


def serializer(key: str = SECRET) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="staff-session")


def session_cookie(client: httpx.AsyncClient) -> str:
    values = [c.value for c in client.cookies.jar if c.name == "session" and c.value]
    assert len(values) == 1, f"expected one session cookie, got {len(values)}"
    return values[0]


def forge(payload: dict[str, object], *, signed_at: float | None = None, key: str = SECRET) -> str:
    """A session cookie as the server would have signed it at ``signed_at``."""
    if signed_at is None:
        return serializer(key).dumps(payload)
    with mock.patch("itsdangerous.timed.time.time", return_value=signed_at):
        return serializer(key).dumps(payload)


async def account(db: Database, login_name: str) -> User:
    async with db.read() as session:
        user = await session.scalar(select(User).where(User.login == login_name))
    assert user is not None
    return user


def fresh_client(app: Starlette, cookie: str | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4713))  # type: ignore[arg-type]
    http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    if cookie is not None:
        http.cookies.set("session", cookie, domain="testserver.local")
    return http


async def signed_in(app: Starlette, cookie: str) -> bool:
    async with fresh_client(app, cookie) as http:
        response = await http.get(PORTAL)
    if response.status_code == 200:
        return True
    assert response.status_code == 303 and response.headers["location"].startswith("/login"), response.status_code
    return False


async def test_sign_in_replaces_a_planted_session_cookie(app: Starlette, client: httpx.AsyncClient) -> None:
    # An attacker's own valid session, planted in the victim's browser before sign-in...
    async with fresh_client(app) as attacker:
        await login(attacker, "agent.laf")
        planted = session_cookie(attacker)
    client.cookies.set("session", planted, domain="testserver.local")
    old_csrf = (await client.get("/login"), client.cookies.get("csrf"))[1]
    response = await login(client, "admin")
    # ...is replaced at sign-in by a new cookie with a new session id.
    new = session_cookie(client)
    assert new != planted
    assert serializer().loads(new)["sid"] != serializer().loads(planted)["sid"]
    assert any(h.startswith("csrf=") for h in response.headers.get_list("set-cookie")), "CSRF secret rotated"
    assert client.cookies.get("csrf") != old_csrf
    # And the planted one is still only the attacker's (no privilege gained through it).
    async with fresh_client(app, planted) as http:
        assert (await http.get("/admin/")).status_code == 404


async def test_each_sign_in_is_a_new_session(app: Starlette, client: httpx.AsyncClient) -> None:
    await login(client, "agent.laf")
    first = serializer().loads(session_cookie(client))
    await login(client, "agent.laf")
    second = serializer().loads(session_cookie(client))
    assert first["sid"] != second["sid"]


async def test_sign_out_invalidates_the_cookie_everywhere(app: Starlette, client: httpx.AsyncClient) -> None:
    await login(client, "agent.laf")
    kept = session_cookie(client)
    async with fresh_client(app) as other_browser:
        await login(other_browser, "agent.laf")
        other = session_cookie(other_browser)
    assert await signed_in(app, kept)
    token = await csrf_token(client, PORTAL)
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert not [c for c in client.cookies.jar if c.name == "session" and c.value]
    # A copy of the cookie taken before sign-out (and the other browser's) no longer works.
    assert not await signed_in(app, kept)
    assert not await signed_in(app, other)


async def test_password_change_ends_other_sessions(app: Starlette, client: httpx.AsyncClient) -> None:
    await login(client, "agent.laf")
    async with fresh_client(app) as other_browser:
        await login(other_browser, "agent.laf")
        old = session_cookie(other_browser)
    token = await csrf_token(client, "/password")
    new_password = "Une phrase de passe bien longue 2026"
    response = await client.post("/password", data={
        "csrf_token": token, "current_password": DEMO_PASSWORD, "new_password": new_password,
        "confirm_password": new_password,
    })
    assert response.status_code == 303, response.text[:300]
    assert not await signed_in(app, old)
    # The browser that changed it stays signed in, under a new session id.
    assert await signed_in(app, session_cookie(client))
    assert serializer().loads(session_cookie(client))["sid"] != serializer().loads(old)["sid"]


async def test_tampered_cookies_are_refused(app: Starlette, client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "agent.laf")
    good = session_cookie(client)
    admin = await account(db, "admin")
    payload = serializer().loads(good)
    body, _, signature = good.rpartition(".")
    # Change the first character: the last one of base64 may only carry padding bits.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    as_admin = dict(payload, u=admin.id, v=admin.session_version)
    # Re-use the agent's signature on an admin payload, sign with another key, flip a bit, etc.
    unsigned_admin = serializer().dumps(as_admin).rsplit(".", 2)[0] + "." + good.rsplit(".", 2)[1] + "." + signature
    for forged in (
        body + "." + flipped,
        unsigned_admin,
        forge(as_admin, key="another-secret-key-0123456789abcdef"),
        forge(as_admin, key=""),
        "",
        "x" * 4000,
        good + "x",
        "eyJ1IjoxfQ",  # {"u":1} without a signature
    ):
        assert not await signed_in(app, forged), forged[:60]
    # The real one still works and the right key forges (the test's own control).
    assert await signed_in(app, good)
    assert await signed_in(app, forge(as_admin))


async def test_an_old_session_version_is_refused(app: Starlette, db: Database) -> None:
    agent = await account(db, "agent.laf")
    stale = forge({"u": agent.id, "v": agent.session_version - 1, "iat": time.time(), "sid": "s"})
    assert not await signed_in(app, stale)
    current = forge({"u": agent.id, "v": agent.session_version, "iat": time.time(), "sid": "s"})
    assert await signed_in(app, current)


@pytest_asyncio.fixture
async def short_app(database_url: str, tmp_path: Path) -> AsyncIterator[Starlette]:
    settings = make_settings(database_url, tmp_path, FEEDBACK_SESSION_IDLE_MINUTES="5",
                             FEEDBACK_SESSION_ABSOLUTE_HOURS="1")
    application = create_app(settings)
    yield application
    await application.state.db.dispose()


async def test_idle_expiry(short_app: Starlette) -> None:
    agent = await account(short_app.state.db, "agent.laf")
    now = time.time()
    payload = {"u": agent.id, "v": agent.session_version, "iat": now - 600, "sid": "idle"}
    assert await signed_in(short_app, forge(payload, signed_at=now - 4 * 60))
    assert not await signed_in(short_app, forge(payload, signed_at=now - 6 * 60))


async def test_activity_slides_the_idle_expiry(short_app: Starlette) -> None:
    agent = await account(short_app.state.db, "agent.laf")
    now = time.time()
    payload = {"u": agent.id, "v": agent.session_version, "iat": now - 600, "sid": "slide"}
    async with fresh_client(short_app, forge(payload, signed_at=now - 4 * 60)) as http:
        assert (await http.get(PORTAL)).status_code == 200
        refreshed = session_cookie(http)
    assert serializer().loads(refreshed, max_age=60)["sid"] == "slide"  # re-signed just now


async def test_absolute_expiry(short_app: Starlette) -> None:
    agent = await account(short_app.state.db, "agent.laf")
    now = time.time()
    recent = {"u": agent.id, "v": agent.session_version, "iat": now - 50 * 60, "sid": "abs"}
    assert await signed_in(short_app, forge(recent))
    # Kept alive by activity, but signed in more than an hour ago: over.
    too_old = dict(recent, iat=now - 61 * 60)
    assert not await signed_in(short_app, forge(too_old))


# --- where sign-in and the language switch lead ---------------------------------------------------

EXTERNAL = (
    "//evil.example", "https://evil.example", "http://evil.example/portal", "/\\evil.example",
    "\\\\evil.example", "/\\/evil.example", "/\t/evil.example", "/\n/evil.example", "//evil.example/%2f..",
    "https:evil.example", "javascript:alert(1)", "evil.example", " //evil.example", "/%2f%2fevil.example",
    "%2f%2fevil.example", "/.//evil.example", "data:text/html,<script>alert(1)</script>",
)


def is_local(location: str) -> bool:
    """A path on this host (e.g. "/%2f%2fevil.example" is a path here, not another host)."""
    from urllib.parse import urlsplit

    parts = urlsplit(location)
    return (not parts.scheme and not parts.netloc and location.startswith("/")
            and not location.startswith("//") and "\\" not in location
            and not any(ord(c) < 33 for c in location))


async def test_language_switch_never_leads_elsewhere(client: httpx.AsyncClient) -> None:
    for target in EXTERNAL:
        response = await client.get("/language", params={"lang": "en", "next": target})
        assert response.status_code == 303
        location = response.headers["location"]
        assert is_local(location), (target, location)
    kept = await client.get("/language", params={"lang": "bm", "next": "/board/?period=12m"})
    assert kept.headers["location"] == "/board/?period=12m"


async def test_sign_in_next_never_leads_elsewhere(app: Starlette) -> None:
    from feedback.web.auth import safe_next

    for target in EXTERNAL:
        assert safe_next(target) is None or is_local(safe_next(target) or ""), target
    # Through the real form (argon2 makes each sign-in slow: a few representative ones).
    for target in ("//evil.example", "/\\evil.example", "https://evil.example"):
        async with fresh_client(app) as http:
            page = await http.get("/login", params={"next": target})
            assert page.status_code == 200
            token = await csrf_token(http, "/login")
            response = await http.post("/login", params={"next": target}, data={
                "login": "agent.laf", "password": DEMO_PASSWORD, "csrf_token": token, "next": target})
            assert response.status_code == 303
            location = response.headers["location"]
            assert is_local(location), (target, location)
    async with fresh_client(app) as http:
        token = await csrf_token(http, "/login")
        response = await http.post("/login", data={"login": "agent.laf", "password": DEMO_PASSWORD,
                                                    "csrf_token": token, "next": "/portal/?status=received"})
        assert response.headers["location"] == "/portal/?status=received"
