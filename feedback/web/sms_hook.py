"""POST /sms/inbound: the SMS gateway's webhook (DESIGN §8; see docs/sms.md).

Authenticated by the shared secret ``FEEDBACK_SMS_SECRET``, either as is in the
``X-Sauti-Secret`` header or as an HMAC-SHA256 of the raw body in ``X-Sauti-Signature``
(``sha256=<hex>`` or bare hex), compared in constant time. The body is a form or JSON with
``from``, ``to``, ``text`` and ``id`` (common gateway spellings accepted). The answer is JSON
for the gateway; the reply to the person goes through the outbox.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse

from feedback.domain import sms

log = logging.getLogger("feedback.sms")

SECRET_HEADER = "x-sauti-secret"  # noqa: S105 (a header name)
SIGNATURE_HEADER = "x-sauti-signature"
# Field names used by common gateways (RapidPro, Kannel get-url, Africa's Talking, Twilio-like).
ALIASES = {
    "from": ("from", "sender", "msisdn", "phone", "urn", "From"),
    "to": ("to", "shortcode", "recipient", "receiver", "To"),
    "text": ("text", "message", "body", "content", "Body"),
    "id": ("id", "message_id", "messageId", "msg_id", "MessageSid", "uuid"),
}
MAX_ID = 120


def _answer(result: str, status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"result": result, **extra}, status_code=status, headers={"Cache-Control": "no-store"})


def authenticated(secret: str, headers: Any, body: bytes) -> bool:
    """Whether the request carries the shared secret or a valid signature of its body."""
    if not secret:
        return False
    key = secret.encode()
    given = headers.get(SECRET_HEADER)
    if given is not None and hmac.compare_digest(given.encode(), key):
        return True
    signature = headers.get(SIGNATURE_HEADER)
    if signature:
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        offered = signature.strip().removeprefix("sha256=").lower()
        return hmac.compare_digest(offered.encode(), expected.encode())
    return False


def _fields(request: Request, body: bytes) -> dict[str, str] | None:
    """The body as flat string fields, or None when it is neither a form nor a JSON object."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            data = json.loads(body.decode("utf-8"))
            if not isinstance(data, dict):
                return None
            return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int)}
        if content_type in ("application/x-www-form-urlencoded", ""):
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None
    return None


def _pick(fields: dict[str, str], name: str) -> str:
    for alias in ALIASES[name]:
        if alias in fields:
            return fields[alias]
    return ""


async def inbound(request: Request) -> JSONResponse:
    """Receive one SMS from the gateway."""
    settings = request.app.state.settings
    body = await request.body()
    if not authenticated(settings.sms_secret, request.headers, body):
        log.warning("SMS webhook: refused a request without a valid secret or signature")
        return _answer("forbidden", 403)
    fields = _fields(request, body)
    if fields is None:
        return _answer("malformed", 400, detail="send a form or a JSON object")
    sender = sms.clean_sender(_pick(fields, "from"))
    gateway_id = _pick(fields, "id").strip()
    if sender is None:
        return _answer("malformed", 400, detail="'from' must be a phone number")
    if not gateway_id or len(gateway_id) > MAX_ID:
        return _answer("malformed", 400, detail="'id' (the gateway's message id) is required")
    message = sms.Inbound(gateway_id=gateway_id, sender=sender, to=_pick(fields, "to").strip(),
                          text=_pick(fields, "text"))
    db = request.app.state.db
    for _attempt in range(3):
        try:
            async with db.write() as session, session.begin():
                outcome = await sms.receive(
                    session, message, default_locale=settings.default_locale,
                    default_sites=settings.sms_default_sites, base_url=settings.base_url,
                    weekend=settings.weekend_days,
                )
            break
        except IntegrityError:
            # The same message delivered twice at once (or, rarely, a tracking code drawn twice).
            async with db.read() as session:
                if await sms.already_received(session, gateway_id):
                    return _answer("duplicate")
    else:
        raise RuntimeError("could not store the inbound SMS after 3 attempts")
    extra = {"tracking_code": outcome.item.tracking_code} if outcome.result == "created" and outcome.item else {}
    return _answer(outcome.result, **extra)


routes: list[Any] = []
