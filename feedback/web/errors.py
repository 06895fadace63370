"""Translated error pages (403, 404, 405, 413, 429, 500); a 500 never shows a traceback."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from feedback.i18n import N_, gettext

log = logging.getLogger("feedback.errors")

TITLES = {
    400: N_("This request could not be understood"),
    403: N_("You may not do this"),
    404: N_("This page does not exist"),
    405: N_("This action is not possible here"),
    413: N_("What you sent is too large"),
    429: N_("Too many requests: please wait a moment and try again"),
    500: N_("Something went wrong on our side"),
}
EXPLANATIONS = {
    400: N_("Please go back and check what you entered."),
    403: N_("The form may have expired. Go back, reload the page and try again."),
    404: N_("Check the address, or start again from the home page."),
    405: N_("Go back and use the buttons on the page."),
    413: N_("Files can be at most 2 MB. Please send a shorter voice note or a smaller photo."),
    429: N_("We received many requests from this device. Wait a minute, then try again."),
    500: N_("Your information is safe. Please try again in a few minutes."),
}


def _wants_json(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return path.startswith(("/api/", "/export/feedback.json", "/kiosk-api/")) or path.endswith(".json")


def error_response(request: Request, status: int, detail: str | None = None) -> Response:
    """Render the error page for ``status`` in the request's language."""
    status = status if status in TITLES else 400 if 400 <= status < 500 else 500
    title = gettext(TITLES[status])
    if _wants_json(request.scope):
        return JSONResponse({"error": title, "detail": detail or ""}, status_code=status)
    templates = request.app.state.templates
    headers = {"Cache-Control": "no-store"}
    if status == 429:
        headers["Retry-After"] = "60"
    return templates.TemplateResponse(
        request,
        "errors/error.html",
        {"status": status, "title": title, "explanation": gettext(EXPLANATIONS[status]), "detail": detail},
        status_code=status,
        headers=headers,
    )


def plain_error_response(scope: Scope, status: int, detail: str | None = None) -> Response:
    """The same page, for middleware that runs outside the router."""
    return error_response(Request(scope), status, detail)


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail and exc.detail != _default_phrase(exc.status_code) else None
    response = error_response(request, exc.status_code, detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    response = error_response(request, 500)
    # Starlette runs this handler outside every user middleware: add the security headers here.
    from feedback.web.security import add_security_headers

    add_security_headers(response.headers, hsts=request.app.state.settings.production)
    return response


def _default_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


EXCEPTION_HANDLERS = {HTTPException: http_exception, 500: server_error}
