"""Public pages that belong to no other family: home and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from feedback import i18n
from feedback.queries import places
from feedback.web.locale import LANG_COOKIE


async def home(request: Request) -> Response:
    """Choose a site's kiosk, the boards, or tracking."""
    async with request.app.state.db.read() as session:
        sites = await places.active_sites(session)
    return request.app.state.templates.TemplateResponse(request, "public/home.html", {"sites": sites})


def safe_next(target: str | None) -> str:
    """Only local paths: the language switch must not become an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    # Browsers read "/\evil.example" as "//evil.example" and drop tabs and newlines.
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target) or len(target) > 500:
        return "/"
    return target


async def language(request: Request) -> Response:
    """Remember the chosen language in a cookie and go back where the person was."""
    locale = i18n.pick_locale(request.query_params.get("lang"), default=request.app.state.settings.default_locale)
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    response.set_cookie(
        LANG_COOKIE, locale, max_age=365 * 86400, httponly=True, samesite="lax",
        secure=request.app.state.settings.secure_cookies,
    )
    return response


routes = [
    Route("/", home, name="home"),
    Route("/language", language, name="language"),
]
