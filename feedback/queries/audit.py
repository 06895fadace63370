"""The audit log: every staff action on items (events with a user), newest first (issue 6 §9)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from feedback.models import Event, User

PER_PAGE = 50


@dataclass(frozen=True)
class AuditPage:
    events: Sequence[Event]
    total: int
    page: int
    pages: int


async def staff_events(
    session: AsyncSession,
    *,
    user_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> AuditPage:
    """Events caused by staff accounts, filtered by user and day range."""
    where: list[ColumnElement[bool]] = [Event.actor_user_id.is_not(None)]
    if user_id:
        where.append(Event.actor_user_id == user_id)
    if date_from:
        where.append(Event.created_at >= datetime.combine(date_from, time.min, UTC))
    if date_to:
        where.append(Event.created_at < datetime.combine(date_to + timedelta(days=1), time.min, UTC))
    total = int(await session.scalar(select(func.count()).select_from(Event).where(*where)) or 0)
    pages = max(1, -(-total // per_page))
    page = max(1, min(page, pages))
    events = (
        await session.scalars(
            select(Event)
            .where(*where)
            .options(selectinload(Event.actor))
            .order_by(Event.created_at.desc(), Event.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    ).all()
    return AuditPage(events, total, page, pages)


async def staff_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.login))).all()
