"""Open311 API keys for partners and integrators: shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.models import ApiKey, Partner, utcnow

PREFIX_LENGTH = 8
# Keys are long random strings, so a plain SHA-256 is enough (no password stretching needed).
KEY_BYTES = 32
MAX_KEY_LENGTH = 200


class ApiKeyError(Exception):
    """A key cannot be created as asked (the message says why, in English, for the CLI/admin)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


async def create_api_key(session: AsyncSession, *, name: str, partner_slug: str | None = None) -> str:
    """Issue a new key and return it in clear; only its hash and a short prefix are stored."""
    name = (name or "").strip()
    if not name:
        raise ApiKeyError("a key needs a name (who it is for)")
    if len(name) > 120:
        raise ApiKeyError("the name is too long (at most 120 characters)")
    partner_id = None
    if partner_slug:
        partner_id = await session.scalar(select(Partner.id).where(Partner.slug == partner_slug))
        if partner_id is None:
            raise ApiKeyError(f"unknown partner: {partner_slug}")
    key = "sk_" + secrets.token_urlsafe(KEY_BYTES)
    session.add(ApiKey(name=name, key_hash=hash_key(key), prefix=key[:PREFIX_LENGTH], partner_id=partner_id))
    await session.flush()
    return key


async def check_api_key(session: AsyncSession, key: str | None) -> ApiKey | None:
    """The active key matching ``key``, or None (unknown, revoked, empty or absurd)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    digest = hash_key(key)
    found = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if found is None or found.revoked_at is not None:
        return None
    # The lookup is by hash already; compare again in constant time for good measure.
    if not hmac.compare_digest(found.key_hash, digest):
        return None
    return found


async def touch(session: AsyncSession, key: ApiKey) -> None:
    """Remember when a key was last used (shown to admins)."""
    key.last_used_at = utcnow()


async def revoke(session: AsyncSession, key_id: int) -> bool:
    """Revoke a key; False when there is no such active key."""
    key = await session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    return True
