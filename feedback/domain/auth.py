"""Signing in, changing a password and single-use reset links (DESIGN §5, issue 6).

Failed sign-ins are counted in the database (``LoginAttempt``), per login and per client
address, so every app process sees the same count. Whatever goes wrong, the person reads the
same sentence: a wrong password and an unknown login are indistinguishable.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.i18n import N_
from feedback.models import LoginAttempt, UsedToken, User, utcnow
from feedback.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password

THROTTLE_WINDOW = timedelta(minutes=15)
RESET_MAX_AGE = timedelta(hours=48)

WRONG_CREDENTIALS = N_("The login or the password is not right.")
THROTTLED = N_("Too many failed sign-in attempts. Please wait 15 minutes, then try again.")
RESET_INVALID = N_("This reset link is not valid any more: it has expired or was already used. Ask an administrator for a new one.")


class PasswordRefused(Exception):
    """A new password cannot be accepted; ``message`` is a gettext msgid."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class SignIn:
    """The outcome of one sign-in attempt: the user, or a msgid to show (and its status)."""

    user: User | None
    message: str | None = None
    status: int = 200


async def recent_failures(session: AsyncSession, login: str, address: str, now: datetime) -> tuple[int, int]:
    """Failed attempts in the throttle window: (for this login, from this address)."""
    since = now - THROTTLE_WINDOW
    by_login = await session.scalar(
        select(func.count()).where(LoginAttempt.login == login, LoginAttempt.attempted_at >= since)
    )
    by_address = await session.scalar(
        select(func.count()).where(LoginAttempt.address == address, LoginAttempt.attempted_at >= since)
    )
    return int(by_login or 0), int(by_address or 0)


def normalise_login(login: str) -> str:
    return (login or "").strip().lower()[:80]


async def sign_in(
    session: AsyncSession, login: str, password: str, address: str, *, limit: int, now: datetime | None = None
) -> SignIn:
    """Check a login and password, counting failures; the caller commits either way."""
    now = now or utcnow()
    login = normalise_login(login)
    address = (address or "unknown")[:64]
    if limit > 0:
        by_login, by_address = await recent_failures(session, login, address, now)
        if by_login >= limit or by_address >= limit:
            # Refused before the password is even looked at, so guessing gains nothing.
            return SignIn(None, THROTTLED, 429)
    user = await session.scalar(select(User).where(User.login == login)) if login else None
    # verify_password does the same work for an unknown login (no timing difference); Argon2
    # is deliberately slow, so it runs in a thread and other requests are not held up.
    valid = await asyncio.to_thread(verify_password, user.password_hash if user else None, password or "")
    if user is None or not valid or not user.active:
        session.add(LoginAttempt(login=login, address=address, attempted_at=now))
        return SignIn(None, WRONG_CREDENTIALS, 400)
    if needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    user.last_login_at = now
    # A successful sign-in forgives this account's earlier typing mistakes.
    await session.execute(delete(LoginAttempt).where(LoginAttempt.login == login))
    return SignIn(user)


def check_new_password(new: str, confirm: str, *, login: str = "") -> None:
    """Raise ``PasswordRefused`` when a new password is too weak or mistyped."""
    if new != confirm:
        raise PasswordRefused(N_("The two new passwords are not the same."))
    if len(new) < MIN_LENGTH:
        raise PasswordRefused(N_("The new password must have at least %(n)s characters."), n=MIN_LENGTH)
    if login and new.strip().lower() == login.strip().lower():
        raise PasswordRefused(N_("The new password must not be your login."))


async def set_password(user: User, new: str) -> None:
    """Store a new password and end every other session and reset link of this account."""
    user.password_hash = await asyncio.to_thread(hash_password, new)
    user.session_version = (user.session_version or 1) + 1


async def change_password(session: AsyncSession, user: User, current: str, new: str, confirm: str) -> None:
    """Change a signed-in user's own password (the current one is asked again)."""
    if not await asyncio.to_thread(verify_password, user.password_hash, current or ""):
        raise PasswordRefused(N_("Your current password is not right."))
    if new == current:
        raise PasswordRefused(N_("The new password must be different from the current one."))
    check_new_password(new, confirm, login=user.login)
    await set_password(user, new)


# Reset links --------------------------------------------------------------------------------


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="password-reset")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reset_token(secret_key: str, user: User) -> str:
    """A signed reset token for ``user`` (valid 48 hours, once, until the password changes).

    The admin pages turn it into a link with ``url_for("reset", token=...)``.
    """
    return str(_serializer(secret_key).dumps({"u": user.id, "v": user.session_version}))


async def user_for_reset(
    session: AsyncSession, secret_key: str, token: str, *, now: datetime | None = None
) -> User | None:
    """The user a reset token is for, or None when it is forged, expired, used or outdated."""
    try:
        data = _serializer(secret_key).loads(token, max_age=int(RESET_MAX_AGE.total_seconds()))
        user_id, version = int(data["u"]), int(data["v"])
    except (BadSignature, SignatureExpired, KeyError, TypeError, ValueError):
        return None
    if await session.get(UsedToken, token_hash(token)) is not None:
        return None
    user = await session.get(User, user_id)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


async def reset_password(
    session: AsyncSession, secret_key: str, token: str, new: str, confirm: str, *, now: datetime | None = None
) -> User:
    """Spend a reset token on a new password; raises ``PasswordRefused``."""
    now = now or utcnow()
    user = await user_for_reset(session, secret_key, token, now=now)
    if user is None:
        raise PasswordRefused(RESET_INVALID)
    check_new_password(new, confirm, login=user.login)
    await set_password(user, new)
    session.add(UsedToken(token_hash=token_hash(token), used_at=now))
    # The person proved they own the account: earlier failures no longer hold it back.
    await session.execute(delete(LoginAttempt).where(or_(LoginAttempt.login == user.login)))
    return user


async def sign_out_everywhere(session: AsyncSession, user_id: int) -> None:
    """End every session of this account (the cookie in another browser stops working)."""
    user = await session.get(User, user_id)
    if user is not None:
        user.session_version = (user.session_version or 1) + 1
