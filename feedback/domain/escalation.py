"""When time runs out (DESIGN §4): escalate overdue items, close unconfirmed resolutions.

Escalation happens once per missed deadline. ``escalated_for`` remembers which deadline was
last escalated; a worker claims an item with a compare-and-set on it
(``UPDATE ... WHERE escalated_for IS DISTINCT FROM :deadline``, checking the row count), so two
workers running at once never escalate the same miss twice. Each escalation tells the next
partner up the chain (``Partner.escalation_partner_id``; the top stays the top) and the admins,
and writes a public ``escalated`` event: "overdue now" is public, and the event carries no
personal data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback.domain import notify, workflow
from feedback.domain.access import SYSTEM
from feedback.models import Event, FeedbackItem, Partner, utcnow

log = logging.getLogger("feedback.escalation")

WAITING_FOR_ACKNOWLEDGEMENT = ("received", "referred")
WAITING_FOR_ANSWER = ("acknowledged", "in_progress", "reopened")
OPEN = WAITING_FOR_ACKNOWLEDGEMENT + WAITING_FOR_ANSWER
PAGE = 200
MAX_CHAIN = 20


@dataclass(frozen=True)
class Miss:
    """A deadline an open item has passed: which one, and when it was."""

    deadline: str  # "acknowledge" or "resolve"
    at: datetime

    @property
    def key(self) -> str:
        """The value stored in ``escalated_for`` (fits its 40 characters)."""
        return f"{self.deadline[0]}:{self.at.astimezone(UTC).isoformat(timespec='seconds')}"


def current_miss(item: FeedbackItem, now: datetime) -> Miss | None:
    """The latest deadline this item has missed, or None when it is on time or settled.

    An item still waiting for acknowledgement misses first its acknowledge-by and later its
    resolve-by: two misses, two escalations.
    """
    if item.status in WAITING_FOR_ACKNOWLEDGEMENT:
        candidates = [("acknowledge", item.acknowledge_by), ("resolve", item.resolve_by)]
    elif item.status in WAITING_FOR_ANSWER:
        candidates = [("resolve", item.resolve_by)]
    else:
        return None
    missed = [Miss(name, at) for name, at in candidates if at is not None and at < now]
    return max(missed, key=lambda m: m.at, default=None)


async def partner_chain(session: AsyncSession, partner_id: int | None) -> list[Partner]:
    """The partners above ``partner_id``, nearest first (a loop in the data is cut)."""
    chain: list[Partner] = []
    seen = {partner_id}
    current = await session.get(Partner, partner_id) if partner_id else None
    while current is not None and current.escalation_partner_id and len(chain) < MAX_CHAIN:
        if current.escalation_partner_id in seen:
            break
        seen.add(current.escalation_partner_id)
        current = await session.get(Partner, current.escalation_partner_id)
        if current is not None:
            chain.append(current)
    return chain


def escalation_target(item: FeedbackItem, chain: list[Partner], level: int) -> Partner | None:
    """The partner told at this escalation level: one step up per level, stopping at the top.

    A protection (S3) item skips any partner that runs the facility concerned.
    """
    if item.sensitivity == "S3":
        chain = [p for p in chain if p.site_id is None or p.site_id != item.site_id]
    if not chain:
        return None
    return chain[min(level, len(chain)) - 1]


async def escalate_item(
    session: AsyncSession, item_id: int, *, now: datetime, base_url: str = ""
) -> Event | None:
    """Escalate one item if it has a miss not yet escalated; None when there is nothing to do."""
    query = select(FeedbackItem).where(FeedbackItem.id == item_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    item = await session.scalar(query)
    if item is None:
        return None
    miss = current_miss(item, now)
    if miss is None or item.escalated_for == miss.key:
        return None
    # The claim: of several workers, only one sees a row count of 1.
    result = await session.execute(
        update(FeedbackItem)
        .where(
            FeedbackItem.id == item_id,
            FeedbackItem.escalated_for.is_distinct_from(miss.key),
            FeedbackItem.status.in_(OPEN),
        )
        .values(escalated_for=miss.key, escalation_level=FeedbackItem.escalation_level + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    await session.refresh(item)
    level = item.escalation_level
    target = escalation_target(item, await partner_chain(session, item.partner_id), level)
    if target is not None:
        item.escalated_to_partner_id = target.id
    event = Event(
        item_id=item.id,
        kind="escalated",
        created_at=now,
        actor_label="system",
        public=True,
        partner_id=target.id if target else None,
        data={"level": level, "deadline": miss.deadline, "missed_at": miss.at.isoformat(timespec="minutes")},
    )
    session.add(event)
    await notify.notify_escalation(session, item, target.id if target else None, base_url)
    return event


async def overdue_ids(session: AsyncSession, *, now: datetime, after_id: int = 0, limit: int = PAGE) -> list[int]:
    """Ids of open items past a deadline, by id from ``after_id`` (a page)."""
    rows = await session.scalars(
        select(FeedbackItem.id)
        .where(
            FeedbackItem.id > after_id,
            FeedbackItem.status.in_(OPEN),
            FeedbackItem.due_at.is_not(None),
            FeedbackItem.due_at < now,
        )
        .order_by(FeedbackItem.id)
        .limit(limit)
    )
    return list(rows.all())


async def escalate_overdue(
    write: async_sessionmaker[AsyncSession], *, now: datetime | None = None, base_url: str = ""
) -> int:
    """One pass over overdue items, each in its own short transaction; returns escalations."""
    now = now or utcnow()
    escalated = 0
    after_id = 0
    while True:
        async with write() as session:
            ids = await overdue_ids(session, now=now, after_id=after_id)
        if not ids:
            return escalated
        for item_id in ids:
            async with write() as session, session.begin():
                event = await escalate_item(session, item_id, now=now, base_url=base_url)
            if event is not None:
                escalated += 1
                log.info("escalated item %s (level %s)", item_id, (event.data or {}).get("level"))
        after_id = ids[-1]


async def auto_close_due(
    write: async_sessionmaker[AsyncSession],
    *,
    auto_close_days: int,
    now: datetime | None = None,
    base_url: str = "",
    weekend: tuple[int, ...] = (5, 6),
) -> int:
    """Close resolutions nobody confirmed within ``auto_close_days`` (verification "unconfirmed")."""
    now = now or utcnow()
    cutoff = now - timedelta(days=auto_close_days)
    closed = 0
    async with write() as session:
        ids = list(
            (
                await session.scalars(
                    select(FeedbackItem.id)
                    .where(FeedbackItem.status == "resolved", FeedbackItem.resolved_at <= cutoff)
                    .order_by(FeedbackItem.resolved_at)
                    .limit(1000)
                )
            ).all()
        )
    for item_id in ids:
        async with write() as session, session.begin():
            query = select(FeedbackItem).where(FeedbackItem.id == item_id).execution_options(populate_existing=True)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update()
            item = await session.scalar(query)
            # Confirmed, disputed or closed by another worker since the list was read.
            if item is None or item.status != "resolved" or item.resolved_at is None or item.resolved_at > cutoff:
                continue
            await workflow.apply(session, item, "auto_close", SYSTEM, base_url=base_url, weekend=weekend, now=now)
        closed += 1
    return closed
