"""Sign-in, sign-out, throttling, password change and reset links (issue 6 §1)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from feedback.app import create_app
from feedback.db import Database
from feedback.domain import auth
from feedback.models import LoginAttempt, User
from feedback.seed import DEMO_PASSWORD
from tests.conftest import SECRET, csrf_token, login, make_settings

ERROR = re.compile(r'<p class="error-summary" role="alert"[^>]*>([^<]+)</p>')


def _session_data(client: httpx.AsyncClient) -> dict[str, Any]:
    raw = client.cookies.get("session")
    assert raw
    data: dict[str, Any] = URLSafeTimedSerializer(SECRET, salt="staff-session").loads(raw)
    return data


async def _post_login(client: httpx.AsyncClient, login_name: str, password: str, **extra: str) -> httpx.Response:
    token = await csrf_token(client, "/login")
    return await client.post("/login", params={"lang": "en"},
                             data={"login": login_name, "password": password, "csrf_token": token, **extra})


async def _user(db: Database, login_name: str) -> User:
    async with db.read() as session:
        user = await session.scalar(select(User).where(User.login == login_name))
    assert user is not None
    return user


async def test_sign_in_starts_a_fresh_session_and_goes_to_the_inbox(client: httpx.AsyncClient) -> None:
    page = await client.get("/login", params={"lang": "en"})
    assert page.status_code == 200
    assert 'autocomplete="current-password"' in page.text
    response = await login(client, "agent.laf")
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/"
    cookie = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie if c.startswith("session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie and "Path=/" in session_cookie
    first = _session_data(client)["sid"]
    # Signing in again (even over a live session) never keeps the old session id.
    await login(client, "agent.laf")
    assert _session_data(client)["sid"] != first
    inbox = await client.get("/portal/")
    assert inbox.status_code == 200
    assert inbox.headers["cache-control"] == "no-store"


async def test_moderator_starts_in_moderation(client: httpx.AsyncClient) -> None:
    response = await login(client, "moderatrice")
    assert response.headers["location"] == "/moderation/"


@pytest.mark.parametrize(
    ("next_path", "expected"),
    [
        ("/portal/items/1", "/portal/items/1"),
        ("//evil.example/x", "/portal/"),
        ("https://evil.example/", "/portal/"),
        ("/\\evil.example", "/portal/"),
        ("javascript:alert(1)", "/portal/"),
    ],
)
async def test_next_is_a_local_path_only(client: httpx.AsyncClient, next_path: str, expected: str) -> None:
    response = await _post_login(client, "agent.laf", DEMO_PASSWORD, next=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == expected


async def test_staff_page_without_session_asks_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/portal/items/5?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fportal%2Fitems%2F5%3Fx%3D1"
    form = await client.get(response.headers["location"])
    assert 'name="next" value="/portal/items/5?x=1"' in form.text


async def test_wrong_password_and_unknown_login_read_the_same(client: httpx.AsyncClient) -> None:
    wrong = await _post_login(client, "agent.laf", "not-the-password")
    unknown = await _post_login(client, "nobody.here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 400
    assert ERROR.search(wrong.text).group(1) == ERROR.search(unknown.text).group(1)  # type: ignore[union-attr]
    assert "The login or the password is not right." in wrong.text
    assert "session=" not in wrong.headers.get("set-cookie", "")


LIMIT = 3


@pytest_asyncio.fixture
async def strict_app(database_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    """The app with a low sign-in limit (Argon2 is slow on purpose; fewer attempts, faster test)."""
    application = create_app(make_settings(database_url, tmp_path, FEEDBACK_RATE_LIMIT_LOGIN=str(LIMIT)))
    yield application
    await application.state.db.dispose()


def _client(app: Any, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 1)),
                             base_url="http://testserver")


async def test_sign_in_is_throttled_per_account(strict_app: Any) -> None:
    app, limit = strict_app, LIMIT
    async with _client(app, "203.0.113.7") as client:
        await _throttled_per_account(app, client, limit)


async def _throttled_per_account(app: Any, client: httpx.AsyncClient, limit: int) -> None:
    db = app.state.db
    for _ in range(limit):
        assert (await _post_login(client, "agent.laf", "wrong-password")).status_code == 400
    # Now even the right password is refused, from this address...
    blocked = await _post_login(client, "agent.laf", DEMO_PASSWORD)
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.text
    assert blocked.headers["retry-after"] == "900"
    # ...and from another one: the count is per account, not only per address.
    async with _client(app, "198.51.100.20") as other:
        assert (await _post_login(other, "agent.laf", DEMO_PASSWORD)).status_code == 429
        # Another account from that other address is not affected.
        assert (await _post_login(other, "chef.laf", DEMO_PASSWORD)).status_code == 303
    async with db.read() as session:
        count = await session.scalar(select(func.count()).select_from(LoginAttempt))
    assert count == limit


async def test_sign_in_is_throttled_per_address(strict_app: Any) -> None:
    async with _client(strict_app, "203.0.113.8") as client:
        await _throttled_per_address(client, LIMIT)


async def _throttled_per_address(client: httpx.AsyncClient, limit: int) -> None:
    for n in range(limit):
        await _post_login(client, f"guess{n}", "wrong-password")
    # Unknown and known logins get the same answer once the address is blocked.
    for name in ("agent.bag", "someone.else"):
        response = await _post_login(client, name, DEMO_PASSWORD if name == "agent.bag" else "x")
        assert response.status_code == 429
        assert "Too many failed sign-in attempts" in response.text


async def test_logout_needs_csrf_and_ends_the_session_everywhere(app: Any, client: httpx.AsyncClient) -> None:
    await login(client, "agent.laf")
    stolen = client.cookies.get("session")
    assert (await client.post("/logout")).status_code == 403
    assert (await client.get("/logout")).status_code == 405
    token = await csrf_token(client, "/portal/")
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?notice=signed_out"
    assert "session=" in response.headers["set-cookie"]
    # The old cookie, replayed from anywhere, no longer opens the portal.
    replay = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                               cookies={"session": stolen})
    async with replay:
        assert (await replay.get("/portal/")).status_code == 303


async def test_password_change(app: Any, client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "agent.laf")
    elsewhere = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("198.51.100.5", 1)),
                                  base_url="http://testserver")
    async with elsewhere:
        await login(elsewhere, "agent.laf")
        token = await csrf_token(client, "/password")
        wrong = await client.post("/password", params={"lang": "en"}, data={
            "csrf_token": token, "current_password": "nope", "new_password": "a-new-long-password",
            "confirm_password": "a-new-long-password"})
        assert wrong.status_code == 400
        assert "Your current password is not right." in wrong.text
        short = await client.post("/password", params={"lang": "en"}, data={
            "csrf_token": token, "current_password": DEMO_PASSWORD, "new_password": "short",
            "confirm_password": "short"})
        assert short.status_code == 400
        assert "at least 10 characters" in short.text
        done = await client.post("/password", data={
            "csrf_token": token, "current_password": DEMO_PASSWORD, "new_password": "a-new-long-password",
            "confirm_password": "a-new-long-password"})
        assert done.status_code == 303
        # This browser stays signed in; the other one is signed out.
        assert (await client.get("/portal/")).status_code == 200
        assert (await elsewhere.get("/portal/")).status_code == 303
    fresh = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with fresh:
        assert (await _post_login(fresh, "agent.laf", DEMO_PASSWORD)).status_code == 400
        assert (await _post_login(fresh, "agent.laf", "a-new-long-password")).status_code == 303


async def test_reset_link_is_signed_single_use_and_expiring(client: httpx.AsyncClient, db: Database) -> None:
    user = await _user(db, "agent.bag")
    token = auth.reset_token(SECRET, user)
    page = await client.get(f"/reset/{token}", params={"lang": "en"})
    assert page.status_code == 200
    assert "agent.bag" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    form_token = await csrf_token(client, f"/reset/{token}")
    assert (await client.post(f"/reset/{token}", data={"new_password": "x"})).status_code == 403
    mismatch = await client.post(f"/reset/{token}", params={"lang": "en"}, data={
        "csrf_token": form_token, "new_password": "brand-new-password", "confirm_password": "other-password"})
    assert mismatch.status_code == 400
    done = await client.post(f"/reset/{token}", data={
        "csrf_token": form_token, "new_password": "brand-new-password", "confirm_password": "brand-new-password"})
    assert done.status_code == 303
    assert (await _post_login(client, "agent.bag", "brand-new-password")).status_code == 303
    # Used once: never again.
    again = await client.get(f"/reset/{token}", params={"lang": "en"})
    assert again.status_code == 400
    assert "not valid any more" in again.text
    # Forged and expired links are refused the same way.
    assert (await client.get(f"/reset/{token[:-2]}xx")).status_code == 400

    class OldSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 49 * 3600

    user = await _user(db, "chef.laf")
    expired = URLSafeTimedSerializer(SECRET, salt="password-reset", signer=OldSigner).dumps({"u": user.id, "v": user.session_version})
    assert (await client.get(f"/reset/{expired}")).status_code == 400
