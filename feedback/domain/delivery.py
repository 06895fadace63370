"""Outbox delivery: claim due messages, hand each to its channel's sender, record the outcome.

At-least-once, never lost: a message is marked sent only after its sender returned. A worker
*claims* a batch (``claimed_by``, ``claimed_until``) in a short transaction, sends outside any
transaction, then records each outcome in another one. If the worker dies in between, the claim
expires and another worker sends the message again with the same ``message_key``, which the
gateway (or the mail's Message-ID) uses to drop the duplicate.

Claiming works on both databases: on PostgreSQL the candidate rows are locked with
``FOR UPDATE SKIP LOCKED`` so concurrent workers take different rows; on SQLite the writer's
``BEGIN IMMEDIATE`` serialises claims.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback.channels.base import DeliveryError, PermanentFailure, Sender, short
from feedback.models import OutboxMessage, utcnow

log = logging.getLogger("feedback.delivery")

BATCH = 20
# Long enough for a whole batch of slow sends; a crashed worker's messages wait this long.
LEASE = timedelta(minutes=5)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
MAX_ATTEMPTS = 8


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` tries: 1 min, 2, 4, ... capped at 6 h."""
    return min(BACKOFF_BASE * (2 ** max(0, attempts - 1)), BACKOFF_CAP)


def _claimable(now: datetime):  # type: ignore[no-untyped-def]
    return (
        OutboxMessage.status == "pending",
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )


async def claim(
    session: AsyncSession, worker_id: str, *, now: datetime, limit: int = BATCH, lease: timedelta = LEASE
) -> list[OutboxMessage]:
    """Claim up to ``limit`` due messages for this worker; counts the attempt.

    Call in its own short transaction and commit before sending.
    """
    token = f"{worker_id}:{uuid.uuid4().hex[:12]}"[:80]
    due = (
        select(OutboxMessage.id)
        .where(*_claimable(now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        due = due.with_for_update(skip_locked=True)
    # A materialised CTE, not an IN (subquery): PostgreSQL may rescan a LIMIT subquery inside a
    # join and then claim more rows than asked for.
    chosen = due.cte("due")
    if postgres:
        chosen = chosen.prefix_with("MATERIALIZED")
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(select(chosen.c.id)), *_claimable(now))
        .values(claimed_by=token, claimed_until=now + lease, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    rows = await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.claimed_by == token)
        .order_by(OutboxMessage.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def mark_sent(session: AsyncSession, message_id: int, *, now: datetime) -> None:
    """Record a delivery (even if our claim lapsed meanwhile: the message did go out)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
        .values(status="sent", sent_at=now, claimed_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )


async def mark_failed_attempt(
    session: AsyncSession,
    message: OutboxMessage,
    error: str,
    *,
    permanent: bool,
    now: datetime,
    max_attempts: int = MAX_ATTEMPTS,
) -> str:
    """Record a failed try: retry later with back-off, or give up. Returns the new status.

    Only the worker still holding the claim may record it, so a slow worker whose claim
    lapsed cannot undo the success of the worker that took over.
    """
    give_up = permanent or message.attempts >= max_attempts
    status = "failed" if give_up else "pending"
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.claimed_by == message.claimed_by,
            OutboxMessage.status == "pending",
        )
        .values(
            status=status,
            last_error=short(error, 500),
            claimed_until=None,
            next_attempt_at=now + backoff(message.attempts) if not give_up else message.next_attempt_at,
        )
        .execution_options(synchronize_session=False)
    )
    return status


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.failed


async def deliver_due(
    write: async_sessionmaker[AsyncSession],
    senders: Mapping[str, Sender],
    worker_id: str,
    *,
    now: datetime | None = None,
    batch: int = BATCH,
    lease: timedelta = LEASE,
    max_attempts: int = MAX_ATTEMPTS,
    max_messages: int = 1000,
    stop: asyncio.Event | None = None,
) -> DeliveryReport:
    """Deliver every due message (up to ``max_messages``), batch by batch.

    ``now`` fixes the clock (tests); by default each batch reads the time afresh.
    """
    report = DeliveryReport()
    while report.total < max_messages and not (stop and stop.is_set()):
        moment = now or utcnow()
        async with write() as session, session.begin():
            messages = await claim(session, worker_id, now=moment, limit=batch, lease=lease)
        if not messages:
            break
        for message in messages:
            sender = senders.get(message.channel)
            error: str | None = None
            permanent = False
            try:
                if sender is None:
                    raise DeliveryError(f"no sender configured for channel {message.channel!r}")
                await sender.send(message)
            except PermanentFailure as exc:
                error, permanent = str(exc) or type(exc).__name__, True
            except DeliveryError as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # a sender's bug must not stop the other messages
                log.exception("sender for %s raised", message.channel)
                error = f"{type(exc).__name__}: {exc}"
            done_at = now or utcnow()
            async with write() as session, session.begin():
                if error is None:
                    await mark_sent(session, message.id, now=done_at)
                    report.sent += 1
                    continue
                status = await mark_failed_attempt(
                    session, message, error, permanent=permanent, now=done_at, max_attempts=max_attempts
                )
            if status == "failed":
                report.failed += 1
                log.warning("outbox message %s failed for good after %s attempts: %s",
                            message.id, message.attempts, error)
            else:
                report.retrying += 1
                log.info("outbox message %s will be retried (attempt %s): %s", message.id, message.attempts, error)
    return report
