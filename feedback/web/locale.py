"""Choose each request's language: ?lang=, then the `lang` cookie, then the default."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from feedback import i18n

LANG_COOKIE = "lang"


def cookie_value(scope: Scope, name: str) -> str | None:
    """One cookie of the request, read as ``Request.cookies`` reads them (as browsers do)."""
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            return cookie_parser(value.decode("latin-1")).get(name)
    return None


class LocaleMiddleware:
    """Sets ``i18n.current_locale`` for the request so gettext answers in its language."""

    def __init__(self, app: ASGIApp, *, default: str) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        locale = i18n.pick_locale(
            (query.get("lang") or [None])[0], cookie_value(scope, LANG_COOKIE), default=self.default
        )
        token = i18n.current_locale.set(locale)
        scope.setdefault("state", {})["locale"] = locale
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.current_locale.reset(token)
