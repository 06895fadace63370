"""Keeping personal data only as long as needed (DESIGN §10).

- Contact details of an item (phone, e-mail, name) are erased ``contact_retention_days`` after
  it closes (closed, or found not actionable); a ``contact_erased`` event records it, without
  the details.
- Delivered or failed outbox messages lose their recipient after the same time: an address
  on a delivery record is contact data too.
- Failed sign-in attempts are only needed for throttling; old ones are deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback.models import Event, FeedbackItem, LoginAttempt, OutboxMessage, utcnow

ERASED = "(erased)"
BATCH = 200
LOGIN_ATTEMPT_KEEP = timedelta(days=1)


def _erasable(cutoff: datetime):  # type: ignore[no-untyped-def]
    return (
        FeedbackItem.contact_erased_at.is_(None),
        or_(
            FeedbackItem.contact_phone.is_not(None),
            FeedbackItem.contact_email.is_not(None),
            FeedbackItem.contact_name.is_not(None),
        ),
        or_(
            and_(FeedbackItem.status == "closed", FeedbackItem.closed_at <= cutoff),
            and_(FeedbackItem.status == "not_actionable", FeedbackItem.updated_at <= cutoff),
        ),
    )


async def erase_contacts_batch(session: AsyncSession, *, cutoff: datetime, now: datetime) -> int:
    """Erase the contact details of up to BATCH items closed before ``cutoff``."""
    query = (
        select(FeedbackItem)
        .where(*_erasable(cutoff))
        .order_by(FeedbackItem.id)
        .limit(BATCH)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    items = (await session.scalars(query)).all()
    for item in items:
        item.contact_phone = None
        item.contact_email = None
        item.contact_name = None
        item.contact_consent = False
        item.contact_erased_at = now
        session.add(Event(item_id=item.id, kind="contact_erased", created_at=now, actor_label="system", public=False))
    return len(items)


async def redact_outbox(session: AsyncSession, *, cutoff: datetime) -> int:
    """Blank the recipient of messages settled (sent or failed) before ``cutoff``."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status.in_(("sent", "failed")),
            OutboxMessage.created_at <= cutoff,
            OutboxMessage.recipient != ERASED,
        )
        .values(recipient=ERASED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def purge_login_attempts(session: AsyncSession, *, before: datetime) -> int:
    """Delete failed sign-in records older than ``before``."""
    result = await session.execute(
        delete(LoginAttempt).where(LoginAttempt.attempted_at < before).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def erase_expired_contacts(
    write: async_sessionmaker[AsyncSession], *, retention_days: int, now: datetime | None = None
) -> int:
    """The worker job: erase contacts (batch by batch) and redact old deliveries."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    erased = 0
    while True:
        async with write() as session, session.begin():
            count = await erase_contacts_batch(session, cutoff=cutoff, now=now)
        erased += count
        if count < BATCH:
            break
    async with write() as session, session.begin():
        await redact_outbox(session, cutoff=cutoff)
    return erased


async def purge_old_login_attempts(write: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> int:
    """The worker job: forget failed sign-ins older than a day (throttling looks at 15 min)."""
    now = now or utcnow()
    async with write() as session, session.begin():
        return await purge_login_attempts(session, before=now - LOGIN_ATTEMPT_KEEP)
