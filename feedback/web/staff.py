"""Who may use each staff route, declared on the route and enforced here, in one place.

``@staff_only(*roles)`` loads the signed-in user; without a valid session the person is sent to
sign in; with a role the route does not allow, the answer is 404, like a page that is not there.
The roles are kept on the handler (``allowed_roles``) so tests can enumerate every staff route.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.domain.access import Actor, monitor_sites
from feedback.models import User
from feedback.web.session import read_session, write_session

Handler = Callable[[Request], Awaitable[Response]]

ALL_STAFF = (
    "partner_agent",
    "partner_manager",
    "moderator",
    "community_monitor",
    "safeguarding_officer",
    "admin",
)


async def current_user(request: Request) -> User | None:
    """The signed-in, active user whose session is still valid, or None."""
    if "user" in request.scope.get("state", {}):
        return request.state.user  # type: ignore[no-any-return]
    session = read_session(request)
    user = None
    if session is not None:
        async with request.app.state.db.read() as db_session:
            user = await db_session.get(User, session.user_id)
        if user is None or not user.active or user.session_version != session.version:
            user = None
    request.state.user = user
    request.state.session = session if user else None
    return user


def staff_only(*roles: str) -> Callable[[Handler], Handler]:
    """Restrict a handler to signed-in staff with one of ``roles``."""
    allowed = roles or ALL_STAFF

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request) -> Response:
            user = await current_user(request)
            if user is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method != "GET":
                    target = request.url.path
                login_url = request.url_for("login").path + "?" + urlencode({"next": target})
                return RedirectResponse(login_url, status_code=303)
            if user.role not in allowed:
                raise HTTPException(404)
            sites = frozenset()
            if user.role == "community_monitor":
                async with request.app.state.db.read() as db_session:
                    sites = await monitor_sites(db_session, user.id)
            request.state.actor = Actor.for_user(user, sites)
            response = await handler(request)
            # Slide the idle expiry; staff pages are never cached by the browser or proxies.
            if request.state.session is not None:
                write_session(response, request.app.state.settings, request.state.session)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        wrapper.allowed_roles = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorate
