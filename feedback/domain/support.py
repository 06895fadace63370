""""Me too": people add their voice to a published item, once per device.

A device is known by a long-lived random cookie; only its keyed hash is stored, so the table
cannot be linked back to a browser without the server's secret key.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.models import Event, FeedbackItem, Support, utcnow


class NotSupportable(Exception):
    """The item is not published (or does not exist): "me too" is only for published items."""


def device_hash(secret_key: str, device_token: str) -> str:
    """The stored identity of a device: HMAC-SHA256 of its cookie with the secret key."""
    key = hashlib.sha256(("me-too:" + secret_key).encode()).digest()
    return hmac.new(key, device_token.encode(), hashlib.sha256).hexdigest()


async def add_support(
    session: AsyncSession, item_id: int, device: str, *, now: datetime | None = None
) -> tuple[int, bool]:
    """Add one "me too" from ``device`` (a hash); returns (new count, whether it was added).

    A second "me too" from the same device changes nothing (also when two race).
    """
    now = now or utcnow()
    item = await session.scalar(
        select(FeedbackItem).where(
            FeedbackItem.id == item_id, FeedbackItem.published.is_(True), FeedbackItem.sensitivity == "S0"
        )
    )
    if item is None:
        raise NotSupportable(item_id)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = await session.execute(
        insert(Support)
        .values(item_id=item_id, device_hash=device, created_at=now)
        .on_conflict_do_nothing(index_elements=["item_id", "device_hash"])
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return item.me_too_count, False
    # An atomic increment: concurrent "me too"s from different devices all count.
    count = await session.scalar(
        update(FeedbackItem)
        .where(FeedbackItem.id == item_id)
        .values(me_too_count=FeedbackItem.me_too_count + 1)
        .returning(FeedbackItem.me_too_count)
    )
    session.add(Event(item_id=item_id, kind="supported", created_at=now, actor_label="public", public=False))
    return int(count or 0), True
