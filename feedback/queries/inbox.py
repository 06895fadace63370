"""The staff inbox: the items an actor may read, most overdue first, then newest (issue 6 §3).

Every query here starts from ``access.visibility(actor)``; filters only narrow it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from feedback import codes
from feedback.domain.access import Actor, visibility
from feedback.models import FeedbackItem
from feedback.models.items import STATUSES
from feedback.models.taxonomy import FEEDBACK_TYPES, SENSITIVITIES
from feedback.text import fold

PER_PAGE = 25
MAX_QUERY = 100
SENSITIVITY_CHOICES = ("", "sensitive", *SENSITIVITIES)


@dataclass(frozen=True)
class InboxFilters:
    """What the filter form asks for; unknown or malformed values are simply not applied."""

    status: str = ""
    site: int | None = None
    topic: int | None = None
    feedback_type: str = ""
    overdue: bool = False
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    sensitivity: str = ""
    page: int = 1

    def query_params(self, **overrides: object) -> dict[str, str]:
        """These filters as query parameters (for links to other pages of the list)."""
        f = replace(self, **overrides)  # type: ignore[arg-type]
        params = {
            "status": f.status,
            "site": str(f.site) if f.site else "",
            "topic": str(f.topic) if f.topic else "",
            "type": f.feedback_type,
            "overdue": "1" if f.overdue else "",
            "from": f.date_from.isoformat() if f.date_from else "",
            "to": f.date_to.isoformat() if f.date_to else "",
            "q": f.q,
            "sensitivity": f.sensitivity,
            "page": str(f.page) if f.page > 1 else "",
        }
        return {k: v for k, v in params.items() if v}


def parse_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**31 else None


def parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def parse_filters(params: Mapping[str, str], *, default_sensitivity: str = "") -> InboxFilters:
    """Filters from a query string."""
    status = params.get("status", "")
    feedback_type = params.get("type", "")
    # Present but empty means "all"; absent means the role's default view.
    sensitivity = params.get("sensitivity", default_sensitivity)
    return InboxFilters(
        status=status if status in STATUSES or status == "open" else "",
        site=parse_int(params.get("site")),
        topic=parse_int(params.get("topic")),
        feedback_type=feedback_type if feedback_type in FEEDBACK_TYPES else "",
        overdue=params.get("overdue") in ("1", "on", "true"),
        date_from=parse_date(params.get("from")),
        date_to=parse_date(params.get("to")),
        q=(params.get("q") or "").strip()[:MAX_QUERY],
        sensitivity=sensitivity if sensitivity in SENSITIVITY_CHOICES else "",
        page=min(parse_int(params.get("page")) or 1, 10_000),
    )


def _conditions(actor: Actor, f: InboxFilters, now: datetime, *, with_status: bool = True) -> list[ColumnElement[bool]]:
    item = FeedbackItem
    where: list[ColumnElement[bool]] = [visibility(actor)]
    if with_status and f.status == "open":
        where.append(item.status.in_(("received", "acknowledged", "in_progress", "referred", "reopened")))
    elif with_status and f.status:
        where.append(item.status == f.status)
    if f.site:
        where.append(item.site_id == f.site)
    if f.topic:
        where.append(item.topic_id == f.topic)
    if f.feedback_type:
        where.append(item.feedback_type == f.feedback_type)
    if f.overdue:
        where.append(and_(item.due_at.is_not(None), item.due_at < now))
    if f.date_from:
        where.append(item.received_at >= datetime.combine(f.date_from, time.min, UTC))
    if f.date_to:
        where.append(item.received_at < datetime.combine(f.date_to + timedelta(days=1), time.min, UTC))
    if f.sensitivity == "sensitive":
        where.append(item.sensitivity.in_(("S2", "S3")))
    elif f.sensitivity:
        where.append(item.sensitivity == f.sensitivity)
    if f.q:
        folded = fold(f.q)
        matches = [item.search_text.contains(folded, autoescape=True)]
        code = codes.normalise(f.q)
        if codes.is_valid(code):
            matches.append(item.tracking_code == code)
        where.append(or_(*matches))
    return where


@dataclass(frozen=True)
class InboxPage:
    items: Sequence[FeedbackItem]
    total: int
    page: int
    pages: int
    counts: dict[str, int]
    overdue: int


def overdue_first(now: datetime) -> tuple[ColumnElement[object], ...]:
    """Overdue items first, the longest overdue at the top; then the newest."""
    item = FeedbackItem
    is_overdue = and_(item.due_at.is_not(None), item.due_at < now)
    return (
        case((is_overdue, 0), else_=1),
        case((is_overdue, item.due_at), else_=None).asc(),
        item.received_at.desc(),
        item.id.desc(),
    )


async def inbox_page(
    session: AsyncSession, actor: Actor, f: InboxFilters, now: datetime, *, per_page: int = PER_PAGE
) -> InboxPage:
    """One page of the inbox, with counts per status for the same filters."""
    where = _conditions(actor, f, now)
    total = int(await session.scalar(select(func.count()).select_from(FeedbackItem).where(*where)) or 0)
    pages = max(1, -(-total // per_page))
    page = min(f.page, pages)
    rows = (
        await session.scalars(
            select(FeedbackItem)
            .where(*where)
            .options(selectinload(FeedbackItem.site), selectinload(FeedbackItem.topic),
                     selectinload(FeedbackItem.partner))
            .order_by(*overdue_first(now))
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    ).all()
    count_rows = await session.execute(
        select(FeedbackItem.status, func.count())
        .where(*_conditions(actor, f, now, with_status=False))
        .group_by(FeedbackItem.status)
    )
    counts = {status: 0 for status in STATUSES}
    counts.update({status: int(n) for status, n in count_rows.all()})
    overdue = int(
        await session.scalar(
            select(func.count()).select_from(FeedbackItem).where(
                *_conditions(actor, replace(f, overdue=True), now, with_status=False)
            )
        )
        or 0
    )
    return InboxPage(rows, total, page, pages, counts, overdue)


async def moderation_queue(
    session: AsyncSession, actor: Actor, *, view: str, page: int, per_page: int = PER_PAGE
) -> tuple[Sequence[FeedbackItem], int, int, int]:
    """Items waiting for review (oldest first), or published ones (newest first)."""
    item = FeedbackItem
    where: list[ColumnElement[bool]] = [visibility(actor)]
    if view == "published":
        where.append(item.published.is_(True))
        order = (item.published_at.desc(), item.id.desc())
    else:
        where.append(item.moderated_at.is_(None))
        order = (item.received_at.asc(), item.id.asc())
    total = int(await session.scalar(select(func.count()).select_from(item).where(*where)) or 0)
    pages = max(1, -(-total // per_page))
    page = max(1, min(page, pages))
    rows = (
        await session.scalars(
            select(item).where(*where)
            .options(selectinload(item.site), selectinload(item.topic))
            .order_by(*order).limit(per_page).offset((page - 1) * per_page)
        )
    ).all()
    return rows, total, page, pages
