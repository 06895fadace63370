"""The read side of the public boards: figures summed from the aggregate tables.

Nothing here scans ``feedback_item`` except two indexed reads: "overdue now" (on the partial
index of open items with a deadline) and the "You said, we did" list (on the index of published
items). Everything else sums aggregate tables filtered by a month range: a partner's board
``stat_topic``, ``stat_equity`` and ``stat_duration`` (per site × partner) for its partner; a
site's board their roll-ups without the partner (``stat_site_*``); the national board their
roll-ups without site and partner (``stat_national_*``; ``stat_place`` for its rankings and
every board's trend), so it reads hundreds of rows rather than tens of thousands. S3 items
(``protected``) count only on the national board.

The functions return raw numbers; ``feedback.web.board`` applies the public display rules
(fewer than 5, minimum items for rates) so tests can compare every figure with a direct count.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from typing import Any

from sqlalchemy import Select, Table, and_, bindparam, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.i18n import N_
from feedback.models import (
    DueMonthStat,
    DueStat,
    DurationStat,
    EquityStat,
    FeedbackItem,
    Kiosk,
    NationalDurationStat,
    NationalEquityStat,
    NationalTopicStat,
    PlaceStat,
    Site,
    SiteDurationStat,
    SiteEquityStat,
    SiteTopicStat,
    Topic,
    TopicStat,
)
from feedback.models.stats import COUNTERS

PERIODS: dict[str, int] = {"month": 1, "3m": 3, "12m": 12}
PERIOD_LABELS = {"month": N_("This month"), "3m": N_("Last 3 months"), "12m": N_("Last 12 months")}
DEFAULT_PERIOD = "3m"
TREND_MONTHS = 12
# Only published, public items are ever listed one by one.
PUBLIC_SENSITIVITY = "S0"
PUBLIC_STATUSES = ("received", "acknowledged", "in_progress", "resolved", "closed", "not_actionable", "reopened")


def month_add(month: date, delta: int) -> date:
    """The first day of the month ``delta`` months after ``month``."""
    index = month.year * 12 + month.month - 1 + delta
    return date(index // 12, index % 12 + 1, 1)


def period_months(period: str, today: date) -> tuple[date, date]:
    """(first month, last month) of a period ending with the current month."""
    last = date(today.year, today.month, 1)
    return month_add(last, -(PERIODS[period] - 1)), last


@dataclass(frozen=True)
class Scope:
    """Whose figures: the whole country, one site or one partner."""

    site_id: int | None = None
    partner_id: int | None = None

    @property
    def national(self) -> bool:
        return self.site_id is None and self.partner_id is None


@functools.cache
def _grouped_statement(
    table: Table, group: tuple[str, ...], counters: bool, site: bool, partner: bool, public: bool
) -> Select[Any]:
    """Sums of an aggregate table over a month range, grouped by ``group``: built once per
    shape (building and hashing fourteen labelled sums cost more than running them); the months
    and the site or partner are bound when it runs."""
    columns = [table.c[name] for name in group]
    if counters:
        sums = [func.coalesce(func.sum(table.c[name]), 0).label(name) for name in COUNTERS]
    else:
        sums = [func.coalesce(func.sum(table.c["count"]), 0).label("n")]
    conditions = [table.c.month >= bindparam("first"), table.c.month <= bindparam("last")]
    if site:
        conditions.append(table.c.site_id == bindparam("site_id"))
    if partner:
        conditions.append(table.c.partner_id == bindparam("partner_id"))
    if public:
        # S3 counts only in national totals (DESIGN §10).
        conditions.append(table.c.protected == false())
    return select(*columns, *sums).where(*conditions).group_by(*columns)


async def _grouped_sums(
    session: AsyncSession, model: Any, group: tuple[str, ...], scope: Scope, first: date, last: date,
    *, counters: bool = True, public: bool | None = None,
) -> Sequence[Any]:
    """Rows of ``group`` values followed by the sums (the counters, or ``n``)."""
    public = not scope.national if public is None else public
    statement = _grouped_statement(model.__table__, group, counters, scope.site_id is not None,
                                   scope.partner_id is not None, public)
    params: dict[str, Any] = {"first": first, "last": last}
    if scope.site_id is not None:
        params["site_id"] = scope.site_id
    if scope.partner_id is not None:
        params["partner_id"] = scope.partner_id
    return (await session.execute(statement, params)).all()


@dataclass
class Counts:
    """The counters of a group of items, with the rates the board shows."""

    received: int = 0
    acknowledged: int = 0
    acknowledged_on_time: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    verified: int = 0
    disputed: int = 0
    closed_unconfirmed: int = 0
    not_actionable: int = 0
    rated: int = 0
    rating_sum: int = 0
    rated_happy: int = 0
    rated_neutral: int = 0
    rated_sad: int = 0

    def add(self, row: Any) -> None:
        """Add another ``Counts``, or a row whose last columns are the counters (``_grouped_sums``)."""
        values = [getattr(row, name) for name in COUNTERS] if isinstance(row, Counts) else row[-len(COUNTERS):]
        mine = self.__dict__
        for name, value in zip(COUNTERS, values, strict=True):
            if value:
                mine[name] += int(value)

    @property
    def acknowledged_on_time_rate(self) -> float | None:
        return self.acknowledged_on_time / self.acknowledged if self.acknowledged else None

    @property
    def resolved_rate(self) -> float | None:
        return self.resolved / self.received if self.received else None

    @property
    def verified_rate(self) -> float | None:
        """Share of partner-claimed resolutions the community confirmed."""
        return self.verified / self.resolved if self.resolved else None

    @property
    def satisfaction(self) -> float | None:
        """Mean rating on the three-face scale (1 sad … 3 happy)."""
        return self.rating_sum / self.rated if self.rated else None

    @property
    def happy_rate(self) -> float | None:
        return self.rated_happy / self.rated if self.rated else None


def median(histogram: dict[int, int]) -> float | None:
    """Median of values given as {value: how many}; the mean of the two middle ones if even."""
    total = sum(histogram.values())
    if total == 0:
        return None
    ordered = sorted((v, n) for v, n in histogram.items() if n > 0)

    def nth(position: int) -> int:
        seen = 0
        for value, n in ordered:
            seen += n
            if position < seen:
                return value
        return ordered[-1][0]

    if total % 2:
        return float(nth(total // 2))
    return (nth(total // 2 - 1) + nth(total // 2)) / 2


@dataclass
class Figures:
    """Everything one board shows for one scope and period (raw numbers)."""

    period: str
    first_month: date
    last_month: date
    totals: Counts
    overdue: int
    median_acknowledge_days: float | None
    median_resolve_days: float | None
    acknowledge_durations: int
    resolve_durations: int
    by_topic: dict[int, Counts]
    by_type: dict[str, Counts]
    by_gender: dict[str, Counts]
    by_age_band: dict[str, Counts]
    trend: list[tuple[date, Counts]]
    by_site: dict[int, Counts] = field(default_factory=dict)
    by_partner: dict[int, Counts] = field(default_factory=dict)
    overdue_by_site: dict[int, int] = field(default_factory=dict)
    overdue_by_partner: dict[int, int] = field(default_factory=dict)


async def figures(
    session: AsyncSession, scope: Scope, period: str, now: datetime, *, rankings: bool = False
) -> Figures:
    """All figures of one board (``rankings`` adds the per-site and per-partner tables)."""
    first, last = period_months(period, now.date())
    trend_first = month_add(last, -(TREND_MONTHS - 1))
    topic_stat, equity_stat, duration_stat = _tables(scope)

    # Grouped in SQL (a few rows each), so a board adds up tens of rows, not thousands.
    # The trend needs no topic: months from the roll-up without it (tens of rows, not thousands).
    by_month: dict[date, Counts] = {}
    month_stat = NationalTopicStat if scope.national else PlaceStat
    for row in await _grouped_sums(session, month_stat, ("month",), scope, min(first, trend_first), last):
        by_month.setdefault(row.month, Counts()).add(row)
    by_topic: dict[int, Counts] = {}
    by_type: dict[str, Counts] = {}
    for row in await _grouped_sums(session, topic_stat, ("topic_id", "feedback_type"), scope, first, last):
        by_topic.setdefault(row.topic_id, Counts()).add(row)
        by_type.setdefault(row.feedback_type, Counts()).add(row)
    totals = Counts()
    for month, counts in by_month.items():
        if month >= first:
            totals.add(counts)
    trend = [(month_add(trend_first, i), by_month.get(month_add(trend_first, i), Counts()))
             for i in range(TREND_MONTHS)]

    by_gender: dict[str, Counts] = {}
    by_age_band: dict[str, Counts] = {}
    for row in await _grouped_sums(session, equity_stat, ("gender", "age_band"), scope, first, last):
        by_gender.setdefault(row.gender, Counts()).add(row)
        by_age_band.setdefault(row.age_band, Counts()).add(row)

    duration_rows = await _grouped_sums(session, duration_stat, ("metric", "days"), scope, first, last,
                                        counters=False)
    histograms: dict[str, dict[int, int]] = {"acknowledge": {}, "resolve": {}}
    for row in duration_rows:
        histograms.setdefault(row.metric, {})[row.days] = int(row.n or 0)

    if scope.national:
        overdue_places = await overdue_by_place(session, now)
        overdue_now = sum(overdue_places.values())
    else:
        overdue_now = await overdue(session, scope, now)
    result = Figures(
        period=period,
        first_month=first,
        last_month=last,
        totals=totals,
        overdue=overdue_now,
        median_acknowledge_days=median(histograms["acknowledge"]),
        median_resolve_days=median(histograms["resolve"]),
        acknowledge_durations=sum(histograms["acknowledge"].values()),
        resolve_durations=sum(histograms["resolve"].values()),
        by_topic=by_topic,
        by_type=by_type,
        by_gender=by_gender,
        by_age_band=by_age_band,
        trend=trend,
    )
    if rankings and scope.national:
        result.by_site, result.by_partner = await _by_site_and_partner(session, first, last)
        # S3 never counts per site or partner (DESIGN §10).
        for (site_id, partner_id, protected), n in overdue_places.items():
            if not protected:
                result.overdue_by_site[site_id] = result.overdue_by_site.get(site_id, 0) + n
                result.overdue_by_partner[partner_id] = result.overdue_by_partner.get(partner_id, 0) + n
    return result


def _tables(scope: Scope) -> tuple[Any, Any, Any]:
    """The aggregate tables a scope reads: the national roll-ups, the per-site roll-ups (a site's
    board, whatever the partner), or the per site × partner tables (a partner's board)."""
    if scope.national:
        return NationalTopicStat, NationalEquityStat, NationalDurationStat
    if scope.partner_id is None:
        return SiteTopicStat, SiteEquityStat, SiteDurationStat
    return TopicStat, EquityStat, DurationStat


async def _by_site_and_partner(
    session: AsyncSession, first: date, last: date
) -> tuple[dict[int, Counts], dict[int, Counts]]:
    """Counters per site and per partner for the rankings (never with S3)."""
    rows = await _grouped_sums(session, PlaceStat, ("site_id", "partner_id"), Scope(), first, last, public=True)
    by_site: dict[int, Counts] = {}
    by_partner: dict[int, Counts] = {}
    for row in rows:
        by_site.setdefault(row.site_id, Counts()).add(row)
        by_partner.setdefault(row.partner_id, Counts()).add(row)
    return by_site, by_partner


def _midnight(now: datetime) -> datetime:
    return datetime.combine(now.date(), time_of_day.min, tzinfo=now.tzinfo)


@functools.cache
def _overdue_reads(site: bool, partner: bool, public: bool) -> dict[str, Select[Any]]:
    """The reads "overdue now" is made of, grouped by (site, partner, S3 or not), built once per
    scope shape; the days and the place are bound when they run."""
    due_month, due, item = DueMonthStat.__table__.c, DueStat.__table__.c, FeedbackItem.__table__.c

    def scoped(c: Any, *conditions: Any, on_items: bool = False) -> list[Any]:
        conditions_ = list(conditions)
        # "+ 0" on the items: read the few items due today on the due index, not a site's all.
        if site:
            conditions_.append((c.site_id + 0 if on_items else c.site_id) == bindparam("site_id"))
        if partner:
            conditions_.append((c.partner_id + 0 if on_items else c.partner_id) == bindparam("partner_id"))
        if public:
            conditions_.append(c.sensitivity != "S3" if on_items else c.protected == false())
        return conditions_

    def summed(c: Any, *conditions: Any) -> Select[Any]:
        keys = (c.site_id, c.partner_id, c.protected)
        return select(*keys, func.sum(c["count"])).where(*scoped(c, *conditions)).group_by(*keys)

    s3 = item.sensitivity == "S3"
    return {
        "months_before": summed(due_month, due_month.due_month < bindparam("month")),
        "month": summed(due_month, due_month.due_month == bindparam("month")),
        "days": summed(due, due.due_day >= bindparam("first_day"), due.due_day < bindparam("end_day")),
        "items": select(item.site_id, item.partner_id, s3, func.count())
        .where(*scoped(item, item.due_at.is_not(None), item.due_at >= bindparam("start"),
                       item.due_at < bindparam("end"), on_items=True))
        .group_by(item.site_id, item.partner_id, s3),
    }


async def overdue_by_place(
    session: AsyncSession, now: datetime, scope: Scope | None = None
) -> dict[tuple[int, int, bool], int]:
    """Open items whose current deadline has passed ("overdue now"), per (site, partner, S3).

    Deadlines in months before this one come from ``stat_due_month``; this month's days before
    today from ``stat_due``; today's before now from the items (on the open-items index alone).
    For this month and for today, whichever side is shorter is read: the days before today, or
    the month's total less the days from today on; the deadlines already passed today, or the
    day's total less those still to come. So no read grows with the day of the month or the
    hour of the day.
    """
    scope = scope or Scope()
    reads = _overdue_reads(scope.site_id is not None, scope.partner_id is not None, not scope.national)
    place: dict[str, Any] = {}
    if scope.site_id is not None:
        place["site_id"] = scope.site_id
    if scope.partner_id is not None:
        place["partner_id"] = scope.partner_id
    today = now.date()
    month = today.replace(day=1)
    next_month = month_add(month, 1)
    tomorrow = today + timedelta(days=1)
    midnight = _midnight(now)
    plan: list[tuple[str, dict[str, Any], int]] = [("months_before", {"month": month}, 1)]
    if (today - month).days <= (next_month - today).days:
        plan.append(("days", {"first_day": month, "end_day": today}, 1))
    else:
        plan += [("month", {"month": month}, 1), ("days", {"first_day": today, "end_day": next_month}, -1)]
    if now - midnight <= timedelta(hours=12):
        plan.append(("items", {"start": midnight, "end": now}, 1))
    else:
        plan += [("days", {"first_day": today, "end_day": tomorrow}, 1),
                 ("items", {"start": now, "end": midnight + timedelta(days=1)}, -1)]
    result: dict[tuple[int, int, bool], int] = {}
    for name, params, sign in plan:
        for site_id, partner_id, protected, n in (await session.execute(reads[name], place | params)).all():
            if partner_id is not None and n:
                key = (site_id, partner_id, bool(protected))
                result[key] = result.get(key, 0) + sign * int(n)
    return {key: n for key, n in result.items() if n}


async def overdue(session: AsyncSession, scope: Scope, now: datetime) -> int:
    """How many open items of a scope are past their current deadline ("overdue now")."""
    return sum((await overdue_by_place(session, now, scope)).values())


# --- "You said, we did" -------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedItem:
    """What the public may see of one item: never its original text or contact."""

    id: int
    public_summary: str
    public_response: str | None
    status: str
    feedback_type: str
    topic_id: int
    site_id: int
    published_at: datetime
    me_too_count: int


@dataclass(frozen=True)
class PublishedPage:
    items: list[PublishedItem]
    next_before: int | None


def _published_query() -> Select[Any]:
    item = FeedbackItem
    return select(
        item.id, item.public_summary, item.public_response, item.status, item.feedback_type,
        item.topic_id, item.site_id, item.published_at, item.me_too_count,
    ).where(
        # "= true" matches the partial index's predicate (SQLite needs the same form).
        item.published == true(),
        item.published_at.is_not(None),
        item.sensitivity == PUBLIC_SENSITIVITY,
        item.public_summary.is_not(None),
    )


async def published(
    session: AsyncSession,
    *,
    site_id: int | None = None,
    topic_id: int | None = None,
    status: str | None = None,
    resolved_only: bool = False,
    before: int | None = None,
    limit: int = 20,
) -> PublishedPage:
    """Published items, newest first, ``limit`` per page (``before``: an item id to page on)."""
    item = FeedbackItem
    query = _published_query()
    # "+ 0" keeps SQLite on the published index (newest first) instead of the site or topic
    # index, which would sort every item of the site; PostgreSQL plans it the same way.
    if site_id is not None:
        query = query.where(item.site_id + 0 == site_id)
    if topic_id is not None:
        query = query.where(item.topic_id + 0 == topic_id)
    if status is not None:
        query = query.where(item.status == status)
    if resolved_only:
        query = query.where(item.status.in_(("resolved", "closed")))
    if before is not None:
        anchor = await session.execute(
            select(item.published_at, item.id).where(item.id == before, item.published == true())
        )
        row = anchor.first()
        if row is not None:
            query = query.where(
                item.published_at <= row.published_at,
                (item.published_at < row.published_at)
                | and_(item.published_at == row.published_at, item.id < row.id)
            )
    rows = (
        await session.execute(query.order_by(item.published_at.desc(), item.id.desc()).limit(limit + 1))
    ).all()
    items = [PublishedItem(**row._mapping) for row in rows[:limit]]
    return PublishedPage(items, items[-1].id if len(rows) > limit else None)


async def published_item(session: AsyncSession, item_id: int) -> PublishedItem | None:
    row = (await session.execute(_published_query().where(FeedbackItem.id == item_id))).first()
    return PublishedItem(**row._mapping) if row is not None else None


# --- Places and kiosks ---------------------------------------------------------------------


@dataclass(frozen=True)
class KioskHealth:
    label: str
    last_contact_at: datetime | None
    silent: bool


async def kiosk_health(session: AsyncSession, site_id: int, now: datetime, silent_days: int) -> list[KioskHealth]:
    """The site's kiosks and whether each has been silent too long (silence is not success)."""
    rows = (
        await session.execute(
            select(Kiosk.label, Kiosk.last_contact_at).where(Kiosk.site_id == site_id).order_by(Kiosk.label)
        )
    ).all()
    limit = now - timedelta(days=silent_days)
    return [KioskHealth(label, last, last is None or last < limit) for label, last in rows]


async def silent_site_ids(session: AsyncSession, now: datetime, silent_days: int) -> set[int]:
    """Sites with at least one kiosk silent for more than ``silent_days``."""
    limit = now - timedelta(days=silent_days)
    rows = await session.scalars(
        select(Kiosk.site_id).where((Kiosk.last_contact_at.is_(None)) | (Kiosk.last_contact_at < limit))
    )
    return set(rows.all())


async def topics(session: AsyncSession) -> Sequence[Topic]:
    return (await session.scalars(select(Topic).order_by(Topic.position, Topic.id))).all()


async def sites(session: AsyncSession) -> Sequence[Site]:
    return (await session.scalars(select(Site).where(Site.active).order_by(Site.name))).all()


class TTLCache:
    """A tiny in-process cache of board figures (at most ``ttl`` seconds old)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self._entries) > 1024:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), value)

    def clear(self) -> None:
        self._entries.clear()
