"""Offline kiosks (issue 4): registration, device tokens, reserved tracking codes, heartbeats.

A kiosk holds a random device token; only its SHA-256 is stored. While online it reserves a
batch of tracking codes so that it can hand out real receipts when the network is down. A
reserved code belongs to one kiosk for ever: intake accepts it only from that kiosk, once,
and only for a submission made before the code expired.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback import codes
from feedback.models import FeedbackItem, Kiosk, ReservedCode, Site

# How many unused codes a kiosk holds: a busy waiting room gets a few dozen a day.
CODE_BATCH = 50
CODE_LIFETIME = timedelta(days=30)
# Expired, never-used codes are kept a while longer: a submission made before the code expired
# may still arrive (intake believes a device clock up to 30 days off).
CODE_KEEP_AFTER_EXPIRY = timedelta(days=60)
MAX_COUNT = 1_000_000


def hash_token(token: str) -> str:
    """The stored form of a device token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Registration:
    kiosk: Kiosk
    token: str  # shown to the device once, never stored


async def register(session: AsyncSession, site: Site, label: str, now: datetime, app_version: str) -> Registration:
    """A new kiosk at ``site`` with a fresh device token."""
    token = secrets.token_urlsafe(32)
    kiosk = Kiosk(site_id=site.id, label="", token_hash=hash_token(token), created_at=now,
                  last_contact_at=now, queued_count=0, rejected_count=0, app_version=app_version[:40])
    session.add(kiosk)
    await session.flush()
    kiosk.label = label.strip()[:80] or f"{site.code} #{kiosk.id}"
    return Registration(kiosk, token)


async def authenticate(session: AsyncSession, token: str) -> Kiosk | None:
    """The kiosk holding ``token``, or None."""
    if not token or len(token) > 200:
        return None
    return await session.scalar(select(Kiosk).where(Kiosk.token_hash == hash_token(token)))


@dataclass(frozen=True)
class Reserved:
    code: str
    expires_at: datetime


async def usable_codes(session: AsyncSession, kiosk_id: int, now: datetime) -> list[Reserved]:
    """The kiosk's reserved codes that are neither used nor expired, oldest first."""
    rows = await session.execute(
        select(ReservedCode.code, ReservedCode.expires_at)
        .where(ReservedCode.kiosk_id == kiosk_id, ReservedCode.used_at.is_(None), ReservedCode.expires_at > now)
        .order_by(ReservedCode.expires_at, ReservedCode.code)
    )
    return [Reserved(code, expires_at) for code, expires_at in rows]


async def _taken(session: AsyncSession, candidates: list[str]) -> set[str]:
    reserved = await session.scalars(select(ReservedCode.code).where(ReservedCode.code.in_(candidates)))
    items = await session.scalars(select(FeedbackItem.tracking_code).where(FeedbackItem.tracking_code.in_(candidates)))
    return set(reserved) | set(items)


async def reserve_codes(
    session: AsyncSession, kiosk: Kiosk, now: datetime, batch: int = CODE_BATCH
) -> list[Reserved]:
    """Top the kiosk up to ``batch`` usable codes; returns all its usable codes.

    A code is drawn at random, never one already reserved or given to an item, and belongs to
    this kiosk only.
    """
    await session.execute(
        delete(ReservedCode).where(
            ReservedCode.kiosk_id == kiosk.id,
            ReservedCode.used_at.is_(None),
            ReservedCode.expires_at < now - CODE_KEEP_AFTER_EXPIRY,
        )
    )
    have = await usable_codes(session, kiosk.id, now)
    missing = batch - len(have)
    while missing > 0:
        candidates = list({codes.new_tracking_code() for _ in range(missing)})
        taken = await _taken(session, candidates)
        fresh = [c for c in candidates if c not in taken]
        session.add_all(
            ReservedCode(code=c, kiosk_id=kiosk.id, reserved_at=now, expires_at=now + CODE_LIFETIME) for c in fresh
        )
        missing -= len(fresh)
    await session.flush()
    kiosk.last_contact_at = now
    return await usable_codes(session, kiosk.id, now)


def _count(value: object) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
    return max(0, min(number, MAX_COUNT))


async def heartbeat(
    session: AsyncSession, kiosk: Kiosk, now: datetime, *, queued: object, rejected: object, app_version: str
) -> int:
    """Record what the kiosk reports about itself; returns how many usable codes it holds."""
    kiosk.last_contact_at = now
    kiosk.queued_count = _count(queued)
    kiosk.rejected_count = _count(rejected)
    kiosk.app_version = app_version[:40] or None
    left = await session.scalar(
        select(func.count()).select_from(ReservedCode).where(
            ReservedCode.kiosk_id == kiosk.id, ReservedCode.used_at.is_(None), ReservedCode.expires_at > now
        )
    )
    return int(left or 0)


async def touch(session: AsyncSession, kiosk_id: int, now: datetime) -> None:
    """The kiosk was heard from (e.g. it sent a queued submission)."""
    kiosk = await session.get(Kiosk, kiosk_id)
    if kiosk is not None:
        kiosk.last_contact_at = now
