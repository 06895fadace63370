"""Staff sessions: a signed, HttpOnly, SameSite cookie with idle and absolute expiry.

The cookie holds the user id, the user's session version (bumped on password change, so
older sessions die), the time of sign-in and a random session id; it is re-signed on every
staff request, which is what makes the idle expiry slide.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from feedback.settings import Settings


@dataclass(frozen=True)
class SessionData:
    user_id: int
    version: int
    issued_at: float
    sid: str


def cookie_name(settings: Settings) -> str:
    return "__Host-session" if settings.secure_cookies else "session"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="staff-session")


def read_session(request: Request) -> SessionData | None:
    """The valid session in the request's cookie, or None (expired, forged or absent)."""
    settings: Settings = request.app.state.settings
    raw = request.cookies.get(cookie_name(settings))
    if not raw:
        return None
    try:
        data: dict[str, Any] = _serializer(settings).loads(raw, max_age=settings.session_idle_minutes * 60)
        session = SessionData(int(data["u"]), int(data["v"]), float(data["iat"]), str(data["sid"]))
    except (BadSignature, SignatureExpired, KeyError, TypeError, ValueError):
        return None
    if time.time() - session.issued_at > settings.session_absolute_hours * 3600:
        return None
    return session


def write_session(response: Response, settings: Settings, session: SessionData) -> None:
    """Set (or refresh) the session cookie."""
    value = _serializer(settings).dumps(
        {"u": session.user_id, "v": session.version, "iat": session.issued_at, "sid": session.sid}
    )
    response.set_cookie(
        cookie_name(settings), value, max_age=settings.session_absolute_hours * 3600,
        httponly=True, samesite="lax", secure=settings.secure_cookies, path="/",
    )


def new_session(user_id: int, version: int) -> SessionData:
    """A fresh session (with a new id, so a planted cookie is never reused after sign-in)."""
    return SessionData(user_id, version, time.time(), secrets.token_urlsafe(16))


def clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(cookie_name(settings), path="/", secure=settings.secure_cookies,
                           httponly=True, samesite="lax")
