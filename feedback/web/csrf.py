"""CSRF protection for every state-changing request, in one place.

A random secret lives in a cookie; forms carry HMAC(secret key, cookie secret) as
``csrf_token`` (htmx sends it as the ``X-CSRF-Token`` header from ``<body hx-headers>``).
A cookie planted by someone else is useless without the server's key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from starlette.datastructures import FormData, MutableHeaders, UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feedback.i18n import N_, gettext
from feedback.web import forms
from feedback.web.errors import plain_error_response
from feedback.web.locale import cookie_value

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
FIELD = "csrf_token"
HEADER = b"x-csrf-token"

# Routes that change state without a browser session, each protected by something else.
EXEMPT_PATHS: dict[str, str] = {
    "/sms/inbound": "shared secret or signature of the SMS gateway",
    "/open311/v2/requests.json": "Open311 api_key",
    "/open311/v2/requests.xml": "Open311 api_key",
    "/open311/v2/requests": "Open311 api_key",
}
EXEMPT_PREFIXES: dict[str, str] = {
    "/kiosk-api/": "kiosk device token in the Authorization header (offline queue)",
}

# Where the middleware leaves the multipart form it parsed for the token (see ``form``).
FORM_KEY = "csrf_parsed_form"
# The limits of the middleware's own parse: the loosest any form of the platform declares.
MAX_PART_BYTES = 8 * 1024 * 1024

FAILURE = N_("This form has expired or did not come from this site. Please reload the page and try again.")


def is_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(tuple(EXEMPT_PREFIXES))


class CSRFMiddleware:
    def __init__(self, app: ASGIApp, *, secret_key: str, secure: bool) -> None:
        self.app = app
        self.key = hashlib.sha256(("csrf:" + secret_key).encode()).digest()
        self.cookie_name = "__Host-csrf" if secure else "csrf"
        self.secure = secure

    def token_for(self, cookie_secret: str) -> str:
        return hmac.new(self.key, cookie_secret.encode(), hashlib.sha256).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secret = cookie_value(scope, self.cookie_name)
        fresh = not secret or len(secret) < 20
        if fresh:
            secret = secrets.token_urlsafe(32)
        assert secret is not None
        expected = self.token_for(secret)
        scope.setdefault("state", {})["csrf_token"] = expected

        form: FormData | None = None
        try:
            if scope["method"] not in SAFE_METHODS and not is_exempt(scope["path"]):
                body, token, form = await self._read_token(scope, receive)
                if fresh or not token or not hmac.compare_digest(token, expected):
                    response = plain_error_response(scope, 403, gettext(FAILURE))
                    await response(scope, receive, self._with_cookie(send, secret, fresh))
                    return
                if form is not None:
                    scope["state"][FORM_KEY] = form
                receive = _replay(body, receive)

            await self.app(scope, receive, self._with_cookie(send, secret, fresh))
        finally:
            if form is not None:
                await form.close()

    def _with_cookie(self, send: Send, secret: str, fresh: bool) -> Send:
        if not fresh:
            return send

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{self.cookie_name}={secret}; Path=/; HttpOnly; SameSite=Lax"
                if self.secure:
                    cookie += "; Secure"
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        return send_with_cookie

    async def _read_token(self, scope: Scope, receive: Receive) -> tuple[bytes, str | None, FormData | None]:
        """The body, the token it or the header carries, and the multipart form parsed to find
        it (left open: the endpoint may use it instead of parsing the body again, see ``form``;
        the middleware closes it when the request is done)."""
        for name, value in scope["headers"]:
            if name == HEADER:
                body = await _read_body(receive)
                return body, value.decode("latin-1"), None
        body = await _read_body(receive)
        raw_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                raw_type = value.decode("latin-1")
        content_type = raw_type.lower()
        if content_type.startswith("application/x-www-form-urlencoded"):
            values = parse_qs(body.decode("utf-8", "replace")).get(FIELD)
            return body, values[0] if values else None, None
        if content_type.startswith("multipart/form-data"):
            try:
                form = await forms.parse(body, raw_type, max_part_size=MAX_PART_BYTES)
            except Exception:  # noqa: BLE001 (a malformed body simply has no token)
                return body, None, None
            value = form.get(FIELD)
            if "charset=" in content_type:
                # Only a form decoded as UTF-8 (what browsers send) is offered to the endpoint.
                await form.close()
                return body, value if isinstance(value, str) else None, None
            return body, value if isinstance(value, str) else None, form
        return body, None, None


@contextlib.asynccontextmanager
async def form(
    request: Request, *, max_files: int, max_fields: int, max_part_size: int
) -> AsyncIterator[FormData]:
    """``request.form(...)`` with these limits, without parsing a multipart body twice.

    The middleware parsed the form already (with looser limits) to find the token. When that
    form is within these limits, parsing the body again would give the very same fields and
    files, so that form is used; otherwise the body is parsed again, exactly as
    ``request.form`` would (and fails the same way). Closed on leaving, like ``request.form``.
    """
    parsed = request.scope.get("state", {}).pop(FORM_KEY, None)
    if parsed is not None and _within(parsed, max_files, max_fields, max_part_size):
        try:
            yield parsed
        finally:
            await parsed.close()
        return
    async with request.form(max_files=max_files, max_fields=max_fields, max_part_size=max_part_size) as fresh:
        yield fresh


def _within(parsed: FormData, max_files: int, max_fields: int, max_part_size: int) -> bool:
    """Whether parsing with these limits would have succeeded. A field's size was counted in
    bytes as sent: a UTF-8 character is at most 4 of them."""
    files = fields = 0
    for _name, value in parsed.multi_items():
        if isinstance(value, UploadFile):
            files += 1
        else:
            fields += 1
            if len(value) * 4 > max_part_size:
                return False
    return files <= max_files and fields <= max_fields


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    """Give the app the body we already read, then the client's own messages (disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
