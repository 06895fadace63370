"""The read side of open data: published items, streamed exports, aggregates, DHIS2, feeds.

Only items that passed moderation are ever read individually here: published, sensitivity S0
and a submitter who agreed to a public summary (DESIGN §10). Their dates are given by week.
Totals (aggregates, DHIS2) count every item, S3 never per site, small counts hidden.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.models import Area, Dhis2Mapping, FeedbackItem, Partner, Site, Topic, TopicStat
from feedback.models.base import UTCDateTime
from feedback.models.items import OPEN_STATUSES

BATCH = 1000
SMALL_COUNT = 5
SMALL_LABEL = "<5"


def public_condition() -> ColumnElement[bool]:
    """The items that may be shown one by one (published, S0, consent to a public summary)."""
    item = FeedbackItem
    # ``published`` bare, so the partial indexes "WHERE published" apply on SQLite too.
    return and_(
        literal_column("feedback_item.published"),
        item.sensitivity == "S0",
        item.publish_consent.is_(True),
    )


def week_start(moment: datetime | None) -> datetime | None:
    """Monday 00:00 UTC of the moment's ISO week: public dates of single items (DESIGN §10)."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    day = moment.date() - timedelta(days=moment.weekday())
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def w3c(moment: datetime | None) -> str | None:
    """A W3C datetime with its zone, truncated to the week (``2026-03-09T00:00:00+00:00``)."""
    start = week_start(moment)
    return start.isoformat() if start else None


def week_date(moment: datetime | None) -> str | None:
    start = week_start(moment)
    return start.date().isoformat() if start else None


def week_window(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """A [from, until) window widened to whole weeks, so a filter never reveals a day."""
    lower = week_start(datetime(start.year, start.month, start.day, tzinfo=UTC)) if start else None
    upper = None
    if end is not None:
        monday = week_start(datetime(end.year, end.month, end.day, tzinfo=UTC))
        assert monday is not None
        upper = monday + timedelta(days=7)
    return lower, upper


# -- small tables, loaded once per request ------------------------------------------------


@dataclass(frozen=True)
class SiteInfo:
    id: int
    code: str
    name: str
    adm1: str
    adm2: str
    latitude: float | None
    longitude: float | None
    dhis2_org_unit: str | None
    active: bool


@dataclass(frozen=True)
class TopicInfo:
    id: int
    slug: str
    labels: dict[str, str]
    active: bool
    position: int

    def label(self, locale: str) -> str:
        return self.labels.get(locale) or self.labels["fr"]


@dataclass
class Lookups:
    sites: dict[int, SiteInfo] = field(default_factory=dict)
    topics: dict[int, TopicInfo] = field(default_factory=dict)
    partners: dict[int, tuple[str, str]] = field(default_factory=dict)  # id → (slug, name)

    def site_by_code(self, code: str) -> SiteInfo | None:
        code = code.strip().upper()
        return next((s for s in self.sites.values() if s.code == code), None)

    def topic_by_slug(self, slug: str) -> TopicInfo | None:
        return next((t for t in self.topics.values() if t.slug == slug), None)

    def partner_id(self, slug: str) -> int | None:
        return next((pid for pid, (s, _n) in self.partners.items() if s == slug), None)


def _admin_levels(area_id: int | None, areas: dict[int, Area]) -> tuple[str, str]:
    """(#adm1, #adm2): the region and the commune above a site's area."""
    region = commune = ""
    seen = 0
    current = areas.get(area_id) if area_id is not None else None
    while current is not None and seen < 10:
        if current.level == "region" and not region:
            region = current.name
        elif current.level == "commune" and not commune:
            commune = current.name
        current = areas.get(current.parent_id) if current.parent_id is not None else None
        seen += 1
    return region, commune


async def load_lookups(session: AsyncSession) -> Lookups:
    """Sites (with their areas), topics and partners by id."""
    areas = {a.id: a for a in (await session.scalars(select(Area))).all()}
    lookups = Lookups()
    for site in (await session.scalars(select(Site).order_by(Site.code))).all():
        adm1, adm2 = _admin_levels(site.area_id, areas)
        lookups.sites[site.id] = SiteInfo(site.id, site.code, site.name, adm1, adm2, site.latitude,
                                          site.longitude, site.dhis2_org_unit, site.active)
    for topic in (await session.scalars(select(Topic).order_by(Topic.position, Topic.id))).all():
        labels = {"fr": topic.label_fr, "bm": topic.label_bm or topic.label_fr, "en": topic.label_en or topic.label_fr}
        lookups.topics[topic.id] = TopicInfo(topic.id, topic.slug, labels, topic.active, topic.position)
    for pid, slug, name in (await session.execute(select(Partner.id, Partner.slug, Partner.name))).all():
        lookups.partners[pid] = (slug, name)
    return lookups


# -- published items ------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicItem:
    """Everything about one item that may be public; nothing else is ever read."""

    id: int
    tracking_code: str
    feedback_type: str
    status: str
    site: SiteInfo
    topic: TopicInfo
    partner_name: str
    summary: str
    response: str
    received_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolve_by: datetime | None
    published_at: datetime | None
    me_too_count: int

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


PUBLIC_COLUMNS = (
    FeedbackItem.id,
    FeedbackItem.tracking_code,
    FeedbackItem.feedback_type,
    FeedbackItem.status,
    FeedbackItem.site_id,
    FeedbackItem.topic_id,
    FeedbackItem.partner_id,
    FeedbackItem.public_summary,
    FeedbackItem.public_response,
    FeedbackItem.received_at,
    FeedbackItem.updated_at,
    FeedbackItem.resolved_at,
    FeedbackItem.resolve_by,
    FeedbackItem.published_at,
    FeedbackItem.me_too_count,
)


def to_public(row: Any, lookups: Lookups) -> PublicItem:
    partner = lookups.partners.get(row.partner_id) if row.partner_id is not None else None
    return PublicItem(
        id=row.id,
        tracking_code=row.tracking_code,
        feedback_type=row.feedback_type,
        status=row.status,
        site=lookups.sites[row.site_id],
        topic=lookups.topics[row.topic_id],
        partner_name=partner[1] if partner else "",
        summary=row.public_summary or "",
        response=row.public_response or "",
        received_at=row.received_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
        resolve_by=row.resolve_by,
        published_at=row.published_at,
        me_too_count=row.me_too_count or 0,
    )


def public_items_query() -> Any:
    return select(*PUBLIC_COLUMNS).where(public_condition())


@dataclass(frozen=True)
class ExportFilter:
    """What an export is limited to; dates are widened to whole weeks (see ``week_window``)."""

    start: date | None = None
    end: date | None = None
    site_code: str | None = None
    partner_slug: str | None = None
    topic_slug: str | None = None


class UnknownFilterValue(Exception):
    """A site, partner or topic in a filter does not exist (the view answers 400)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _filter_conditions(flt: ExportFilter, lookups: Lookups) -> list[ColumnElement[bool]]:
    item = FeedbackItem
    conditions: list[ColumnElement[bool]] = [public_condition()]
    lower, upper = week_window(flt.start, flt.end)
    if lower is not None:
        conditions.append(item.received_at >= lower)
    if upper is not None:
        conditions.append(item.received_at < upper)
    if flt.site_code:
        site = lookups.site_by_code(flt.site_code)
        if site is None:
            raise UnknownFilterValue("site")
        conditions.append(item.site_id == site.id)
    if flt.partner_slug:
        partner_id = lookups.partner_id(flt.partner_slug)
        if partner_id is None:
            raise UnknownFilterValue("partner")
        conditions.append(item.partner_id == partner_id)
    if flt.topic_slug:
        topic = lookups.topic_by_slug(flt.topic_slug)
        if topic is None:
            raise UnknownFilterValue("topic")
        conditions.append(item.topic_id == topic.id)
    return conditions


async def check_filter(session: AsyncSession, flt: ExportFilter) -> Lookups:
    """Load the lookups and check the filter's names (raises ``UnknownFilterValue``)."""
    lookups = await load_lookups(session)
    _filter_conditions(flt, lookups)
    return lookups


async def iter_public_items(
    session: AsyncSession, flt: ExportFilter, lookups: Lookups | None = None, batch: int = BATCH
) -> AsyncIterator[list[PublicItem]]:
    """Published items in the order received, ``batch`` at a time.

    Keyset pagination on (received_at, id), which the partial index
    ``ix_feedback_item_public_received`` serves: each batch costs the same, memory stays flat.
    """
    lookups = lookups or await load_lookups(session)
    conditions = _filter_conditions(flt, lookups)
    key = tuple_(FeedbackItem.received_at, FeedbackItem.id)
    last: tuple[datetime, int] | None = None
    while True:
        statement = (
            select(*PUBLIC_COLUMNS)
            .where(*conditions, *([key > tuple_(literal(last[0], UTCDateTime), literal(last[1]))] if last else []))
            .order_by(FeedbackItem.received_at, FeedbackItem.id)
            .limit(batch)
        )
        rows = (await session.execute(statement)).all()
        if not rows:
            return
        yield [to_public(row, lookups) for row in rows]
        if len(rows) < batch:
            return
        last = (rows[-1].received_at, rows[-1].id)


# -- CSV and JSON exports -----------------------------------------------------------------

# (column, HXL hashtag): the header row, then the hashtag row (https://hxlstandard.org).
EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tracking_code", "#meta+id"),
    ("date_reported", "#date+reported"),
    ("date_published", "#date+published"),
    ("date_resolved", "#date+resolved"),
    ("date_due", "#date+due"),
    ("region", "#adm1+name"),
    ("commune", "#adm2+name"),
    ("site_code", "#loc+code"),
    ("site_name", "#loc+name"),
    ("latitude", "#geo+lat"),
    ("longitude", "#geo+lon"),
    ("partner", "#org+name"),
    ("feedback_type", "#indicator+type"),
    ("topic", "#indicator+category"),
    ("status", "#status"),
    ("open", "#status+open"),
    ("summary", "#description"),
    ("response", "#description+response"),
    ("me_too", "#indicator+num+support"),
)
_TEXT_COLUMNS = ("summary", "response", "site_name", "partner", "region", "commune")


def export_record(item: PublicItem) -> dict[str, Any]:
    """One exported row: public fields only, dates by week."""
    return {
        "tracking_code": item.tracking_code,
        "date_reported": week_date(item.received_at),
        "date_published": week_date(item.published_at),
        "date_resolved": week_date(item.resolved_at),
        "date_due": week_date(item.resolve_by),
        "region": item.site.adm1,
        "commune": item.site.adm2,
        "site_code": item.site.code,
        "site_name": item.site.name,
        "latitude": item.site.latitude,
        "longitude": item.site.longitude,
        "partner": item.partner_name,
        "feedback_type": item.feedback_type,
        "topic": item.topic.slug,
        "status": item.status,
        "open": item.is_open,
        "summary": item.summary,
        "response": item.response,
        "me_too": item.me_too_count,
    }


def _csv_cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # A spreadsheet would run a cell starting with these as a formula (CSV injection).
    if name in _TEXT_COLUMNS and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv_lines(rows: Iterable[Iterable[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


async def csv_chunks(session: AsyncSession, flt: ExportFilter, lookups: Lookups | None = None) -> AsyncIterator[str]:
    """The CSV export: a header row, the HXL hashtag row, then one row per published item."""
    lookups = lookups or await load_lookups(session)
    names = [name for name, _tag in EXPORT_COLUMNS]
    yield _csv_lines([names, [tag for _name, tag in EXPORT_COLUMNS]])
    async for items in iter_public_items(session, flt, lookups):
        records = (export_record(i) for i in items)
        yield _csv_lines([_csv_cell(n, r[n]) for n in names] for r in records)


async def json_chunks(session: AsyncSession, flt: ExportFilter, lookups: Lookups | None = None) -> AsyncIterator[str]:
    """The JSON export: one array of objects, written piece by piece."""
    lookups = lookups or await load_lookups(session)
    yield "["
    first = True
    async for items in iter_public_items(session, flt, lookups):
        parts = [json.dumps(export_record(i), ensure_ascii=False) for i in items]
        yield ("" if first else ",") + "\n" + ",\n".join(parts)
        first = False
    yield "\n]\n"


# -- aggregates -----------------------------------------------------------------------------

AGGREGATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("month", "#date+month"),
    ("level", "#meta+level"),
    ("region", "#adm1+name"),
    ("commune", "#adm2+name"),
    ("site_code", "#loc+code"),
    ("site_name", "#loc+name"),
    ("topic", "#indicator+category"),
    ("status", "#status"),
    ("count", "#indicator+value+num"),
)


def small(count: int) -> str:
    """A count as published: under 5 becomes "<5" (DESIGN §10)."""
    return SMALL_LABEL if 0 < count < SMALL_COUNT else str(count)


def month_floor(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


async def aggregate_rows(session: AsyncSession, start: date | None, end: date | None) -> list[dict[str, str]]:
    """Counts per site × month × topic × status (S0–S2), and national rows with every item.

    Months are [start, end] inclusive (first days of months). Counts under 5 show as "<5".
    """
    lookups = await load_lookups(session)
    item = FeedbackItem
    conditions: list[ColumnElement[bool]] = []
    if start is not None:
        conditions.append(item.received_at >= datetime(start.year, start.month, 1, tzinfo=UTC))
    if end is not None:
        after = date(end.year + (end.month == 12), end.month % 12 + 1, 1)
        conditions.append(item.received_at < datetime(after.year, after.month, after.day, tzinfo=UTC))
    month = _month_expression(session)
    statement = (
        select(month.label("month"), item.site_id, item.topic_id, item.status, item.sensitivity,
               func.count().label("n"))
        .where(*conditions)
        .group_by(month, item.site_id, item.topic_id, item.status, item.sensitivity)
    )
    per_site: dict[tuple[str, int, int, str], int] = {}
    national: dict[tuple[str, int, str], int] = {}
    for row in (await session.execute(statement)).all():
        key_month = str(row.month)[:7]
        national[(key_month, row.topic_id, row.status)] = national.get((key_month, row.topic_id, row.status), 0) + row.n
        if row.sensitivity != "S3":
            key = (key_month, row.site_id, row.topic_id, row.status)
            per_site[key] = per_site.get(key, 0) + row.n
    rows: list[dict[str, str]] = []
    for (m, topic_id, status), n in sorted(national.items(), key=lambda kv: (kv[0][0], lookups.topics[kv[0][1]].slug, kv[0][2])):
        rows.append({"month": m, "level": "national", "region": "", "commune": "", "site_code": "",
                     "site_name": "", "topic": lookups.topics[topic_id].slug, "status": status, "count": small(n)})
    ordered = sorted(per_site.items(), key=lambda kv: (kv[0][0], lookups.sites[kv[0][1]].code,
                                                       lookups.topics[kv[0][2]].slug, kv[0][3]))
    for (m, site_id, topic_id, status), n in ordered:
        site = lookups.sites[site_id]
        rows.append({"month": m, "level": "site", "region": site.adm1, "commune": site.adm2,
                     "site_code": site.code, "site_name": site.name, "topic": lookups.topics[topic_id].slug,
                     "status": status, "count": small(n)})
    return rows


def _month_expression(session: AsyncSession) -> Any:
    """The first 7 characters (YYYY-MM) of received_at, on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", FeedbackItem.received_at), "YYYY-MM")
    return func.substr(FeedbackItem.received_at, 1, 7)


def aggregate_csv(rows: list[dict[str, str]]) -> str:
    names = [name for name, _tag in AGGREGATE_COLUMNS]
    lines: list[list[str]] = [names, [tag for _n, tag in AGGREGATE_COLUMNS]]
    lines.extend([_csv_cell(n, r[n]) for n in names] for r in rows)
    return _csv_lines(lines)


# -- DHIS2 ------------------------------------------------------------------------------------

# Indicators offered to DHIS2: board counters, plus items received per feedback type.
DHIS2_COUNTERS = (
    "received",
    "acknowledged",
    "acknowledged_on_time",
    "resolved",
    "resolved_on_time",
    "verified",
    "disputed",
    "closed_unconfirmed",
    "not_actionable",
)
DHIS2_TYPE_INDICATORS = tuple(
    f"received_{t}" for t in ("complaint", "suggestion", "compliment", "question", "help_request")
)
DHIS2_INDICATORS = DHIS2_COUNTERS + DHIS2_TYPE_INDICATORS


def default_data_element(indicator: str) -> str:
    """The data element code used when an admin has not mapped an indicator."""
    return f"SAUTI_{indicator.upper()}"


async def dhis2_data_values(
    session: AsyncSession, start: date, end: date, *, exact: bool = False
) -> list[dict[str, str]]:
    """Monthly values per site (org unit) and indicator, from the board aggregates.

    S3 items never count per site. Without ``exact``, values under 5 are left out (DESIGN §10);
    DHIS2 reads a missing value as "no data".
    """
    lookups = await load_lookups(session)
    mappings = {m.indicator: m for m in (await session.scalars(select(Dhis2Mapping))).all()}
    stat = TopicStat
    columns = [func.sum(getattr(stat, name)).label(name) for name in DHIS2_COUNTERS]
    statement = (
        select(stat.month, stat.site_id, stat.feedback_type, *columns)
        .where(stat.protected.is_(False), stat.month >= start, stat.month <= end)
        .group_by(stat.month, stat.site_id, stat.feedback_type)
    )
    totals: dict[tuple[date, int, str], int] = {}
    for row in (await session.execute(statement)).all():
        for name in DHIS2_COUNTERS:
            key = (row.month, row.site_id, name)
            totals[key] = totals.get(key, 0) + int(getattr(row, name) or 0)
        key = (row.month, row.site_id, f"received_{row.feedback_type}")
        totals[key] = totals.get(key, 0) + int(row.received or 0)
    values: list[dict[str, str]] = []
    for (month, site_id, indicator), n in sorted(totals.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        site = lookups.sites.get(site_id)
        if site is None or not site.dhis2_org_unit or n <= 0:
            continue
        if not exact and n < SMALL_COUNT:
            continue
        mapping = mappings.get(indicator)
        value = {
            "dataElement": mapping.data_element if mapping else default_data_element(indicator),
            "period": f"{month.year:04d}{month.month:02d}",
            "orgUnit": site.dhis2_org_unit,
            "value": str(n),
        }
        if mapping is not None and mapping.category_option_combo:
            value["categoryOptionCombo"] = mapping.category_option_combo
        values.append(value)
    return values


# -- feeds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    kind: str  # "published" or "resolved"
    item: PublicItem
    week: datetime


async def feed_entries(
    session: AsyncSession, lookups: Lookups, *, site_id: int | None = None, partner_id: int | None = None,
    limit: int = 50,
) -> list[FeedEntry]:
    """Newly published items and resolutions of published items, newest week first."""
    base = [public_condition()]
    if site_id is not None:
        base.append(FeedbackItem.site_id == site_id)
    if partner_id is not None:
        base.append(FeedbackItem.partner_id == partner_id)
    published = (
        select(*PUBLIC_COLUMNS).where(*base, FeedbackItem.published_at.is_not(None))
        .order_by(FeedbackItem.published_at.desc(), FeedbackItem.id.desc()).limit(limit)
    )
    resolved = (
        select(*PUBLIC_COLUMNS).where(*base, FeedbackItem.resolved_at.is_not(None))
        .order_by(FeedbackItem.resolved_at.desc(), FeedbackItem.id.desc()).limit(limit)
    )
    entries: list[FeedEntry] = []
    for row in (await session.execute(published)).all():
        item = to_public(row, lookups)
        entries.append(FeedEntry("published", item, week_start(item.published_at)))  # type: ignore[arg-type]
    for row in (await session.execute(resolved)).all():
        item = to_public(row, lookups)
        entries.append(FeedEntry("resolved", item, week_start(item.resolved_at)))  # type: ignore[arg-type]
    entries.sort(key=lambda e: (e.week, e.item.id, e.kind), reverse=True)
    return entries[:limit]
