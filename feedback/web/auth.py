"""Staff sign-in and sign-out, password change, and reset links (issue 6 §1).

Sign-in rotates the session (a new random id, and a new CSRF secret on the next page), so a
cookie planted before sign-in is worth nothing after it. Sign-out ends the account's sessions
everywhere. The ``next`` parameter only ever leads to a local path.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from feedback.domain import auth as domain
from feedback.i18n import gettext
from feedback.models import User
from feedback.web.locale import LANG_COOKIE
from feedback.web.ratelimit import client_address
from feedback.web.session import clear_session, new_session, write_session
from feedback.web.staff import current_user, staff_only

MAX_FIELD = 200


def safe_next(target: str | None) -> str | None:
    """A local path to go to after sign-in, or None (never another site: no open redirect)."""
    if not target or len(target) > 500:
        return None
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    return target


def home_for(request: Request, role: str) -> str:
    """Where each role starts its day."""
    if role == "moderator":
        return str(request.url_for("moderation:queue").path)
    return str(request.url_for("portal:inbox").path)


def _render(request: Request, template: str, context: dict[str, object], status: int = 200) -> Response:
    response = request.app.state.templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def login_page(request: Request) -> Response:
    """GET: the sign-in form; POST: check it, start a fresh session and go on."""
    next_path = safe_next(request.query_params.get("next"))
    if request.method == "GET":
        # Shown even to a signed-in person: signing in again switches account (new session).
        await current_user(request)
        return _render(request, "auth/login.html", {"next": next_path or "", "login": "", "error": None,
                                                     "notice": request.query_params.get("notice")})

    form = await request.form()
    login = str(form.get("login", ""))[:MAX_FIELD]
    password = str(form.get("password", ""))[:MAX_FIELD]
    next_path = safe_next(str(form.get("next", ""))) or next_path
    settings = request.app.state.settings
    async with request.app.state.db.write() as session, session.begin():
        result = await domain.sign_in(
            session, login, password, client_address(request), limit=settings.rate_limit_login_per_15min
        )
    if result.user is None:
        assert result.message is not None
        response = _render(
            request, "auth/login.html",
            {"next": next_path or "", "login": login, "error": gettext(result.message), "notice": None},
            status=result.status,
        )
        if result.status == 429:
            response.headers["Retry-After"] = str(int(domain.THROTTLE_WINDOW.total_seconds()))
        return response

    user = result.user
    response = RedirectResponse(next_path or home_for(request, user.role), status_code=303)
    write_session(response, settings, new_session(user.id, user.session_version))
    # A new CSRF secret too: the next page sets one that nobody could have planted.
    response.delete_cookie("__Host-csrf" if settings.secure_cookies else "csrf", path="/",
                           secure=settings.secure_cookies, httponly=True, samesite="lax")
    if LANG_COOKIE not in request.cookies and user.locale:
        response.set_cookie(LANG_COOKIE, user.locale, max_age=365 * 86400, httponly=True, samesite="lax",
                            secure=settings.secure_cookies)
    return response


async def logout(request: Request) -> Response:
    """End the session here and everywhere else this account is signed in."""
    settings = request.app.state.settings
    user = await current_user(request)
    if user is not None:
        async with request.app.state.db.write() as session, session.begin():
            await domain.sign_out_everywhere(session, user.id)
    response = RedirectResponse(str(request.url_for("login").path) + "?notice=signed_out", status_code=303)
    clear_session(response, settings)
    response.headers["Cache-Control"] = "no-store"
    return response


@staff_only()
async def password_page(request: Request) -> Response:
    """Change one's own password; the current session continues, all others end."""
    user = request.state.user
    if request.method == "GET":
        return _render(request, "auth/password.html", {"error": None, "done": bool(request.query_params.get("done"))})
    form = await request.form()
    current = str(form.get("current_password", ""))[:MAX_FIELD]
    new = str(form.get("new_password", ""))[:MAX_FIELD]
    confirm = str(form.get("confirm_password", ""))[:MAX_FIELD]
    try:
        async with request.app.state.db.write() as session, session.begin():
            fresh = await session.get(User, user.id)
            assert fresh is not None
            await domain.change_password(session, fresh, current, new, confirm)
            version = fresh.session_version
    except domain.PasswordRefused as exc:
        return _render(request, "auth/password.html",
                       {"error": gettext(exc.message) % exc.params if exc.params else gettext(exc.message),
                        "done": False}, status=400)
    response = RedirectResponse(str(request.url_for("password").path) + "?done=1", status_code=303)
    # Keep this browser signed in under the new session version (with a new session id);
    # staff_only writes the cookie from request.state.session on the way out.
    request.state.session = new_session(user.id, version)
    return response


async def reset_page(request: Request) -> Response:
    """Set a new password from an admin-issued link (signed, single-use, expiring)."""
    token = request.path_params["token"]
    settings = request.app.state.settings
    if request.method == "GET":
        async with request.app.state.db.read() as session:
            user = await domain.user_for_reset(session, settings.secret_key, token)
        if user is None:
            response = _render(request, "auth/reset.html",
                               {"valid": False, "error": gettext(domain.RESET_INVALID), "token": token}, status=400)
        else:
            response = _render(request, "auth/reset.html",
                               {"valid": True, "error": None, "token": token, "login": user.login})
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    form = await request.form()
    new = str(form.get("new_password", ""))[:MAX_FIELD]
    confirm = str(form.get("confirm_password", ""))[:MAX_FIELD]
    try:
        async with request.app.state.db.write() as session, session.begin():
            await domain.reset_password(session, settings.secret_key, token, new, confirm)
    except domain.PasswordRefused as exc:
        message = gettext(exc.message) % exc.params if exc.params else gettext(exc.message)
        async with request.app.state.db.read() as session:
            user = await domain.user_for_reset(session, settings.secret_key, token)
        response = _render(request, "auth/reset.html",
                           {"valid": user is not None, "error": message, "token": token,
                            "login": user.login if user else ""}, status=400)
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    response = RedirectResponse(str(request.url_for("login").path) + "?notice=password_set", status_code=303)
    clear_session(response, settings)
    return response


routes = [
    Route("/login", login_page, name="login", methods=["GET", "POST"]),
    Route("/logout", logout, name="logout", methods=["POST"]),
    Route("/password", password_page, name="password", methods=["GET", "POST"]),
    Route("/reset/{token}", reset_page, name="reset", methods=["GET", "POST"]),
]
