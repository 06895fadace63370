"""Keep the board aggregates equal to the items, by applying each change's difference.

Every write path takes a ``snapshot`` of an item before changing it and calls ``record``
afterwards, in the same transaction: the counters move by exactly what changed.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from feedback import prepared
from feedback.models import (
    DueMonthStat,
    DueStat,
    DurationStat,
    EquityStat,
    FeedbackItem,
    NationalDurationStat,
    NationalEquityStat,
    NationalTopicStat,
    PlaceStat,
    SiteDurationStat,
    SiteEquityStat,
    SiteTopicStat,
    TopicStat,
)
from feedback.models.items import AnyItem
from feedback.models.stats import COUNTERS

StatKey = tuple[Any, ...]


@dataclass(frozen=True)
class Snapshot:
    """What one item contributes to the aggregates."""

    topic: tuple[StatKey, Counter[str]] | None
    equity: tuple[StatKey, Counter[str]] | None
    durations: tuple[tuple[StatKey, int], ...]
    # (due day, site, partner, protected) of an open item with a deadline: "overdue now".
    due: StatKey | None = None


EMPTY = Snapshot(None, None, ())


def month_of(moment: date) -> date:
    return date(moment.year, moment.month, 1)


def whole_days(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() // 86400))


def counters(item: AnyItem) -> Counter[str]:
    """The counters of one item (each 0 or 1, except the rating sum)."""
    c: Counter[str] = Counter()
    c["received"] = 1
    c["acknowledged"] = int(item.acknowledged_at is not None)
    c["acknowledged_on_time"] = int(bool(item.acknowledged_on_time))
    c["resolved"] = int(item.resolved_at is not None)
    c["resolved_on_time"] = int(bool(item.resolved_on_time))
    c["verified"] = int(item.verification == "verified")
    c["disputed"] = int(item.verification == "disputed")
    c["closed_unconfirmed"] = int(item.verification == "unconfirmed")
    c["not_actionable"] = int(item.status == "not_actionable")
    if item.satisfaction is not None:
        c["rated"] = 1
        c["rating_sum"] = item.satisfaction
        c[{3: "rated_happy", 2: "rated_neutral", 1: "rated_sad"}[item.satisfaction]] = 1
    return c


def snapshot(item: AnyItem) -> Snapshot:
    """The item's contribution now (call before and after a change)."""
    if item.partner_id is None or item.id is None:
        return EMPTY
    month = month_of(item.received_at)
    protected = item.sensitivity == "S3"
    c = counters(item)
    topic_key = (month, item.site_id, item.partner_id, item.topic_id, item.feedback_type, protected)
    equity_key = (
        month,
        item.site_id,
        item.partner_id,
        item.gender or "unknown",
        item.age_band or "unknown",
        protected,
    )
    durations = []
    if item.acknowledged_at is not None:
        days = whole_days(item.received_at, item.acknowledged_at)
        durations.append(((month, item.site_id, item.partner_id, "acknowledge", days, protected), 1))
    if item.resolved_at is not None:
        days = whole_days(item.received_at, item.resolved_at)
        durations.append(((month, item.site_id, item.partner_id, "resolve", days, protected), 1))
    due = None
    if item.due_at is not None:
        due = (item.due_at.date(), item.site_id, item.partner_id, protected)
    return Snapshot((topic_key, c), (equity_key, c), tuple(durations), due)


class StatDelta:
    """Differences accumulated over many items, written with one upsert per row."""

    def __init__(self) -> None:
        self.topic: dict[StatKey, Counter[str]] = {}
        self.equity: dict[StatKey, Counter[str]] = {}
        self.duration: Counter[StatKey] = Counter()
        self.due: Counter[StatKey] = Counter()

    def add(self, before: Snapshot, after: Snapshot) -> None:
        for table, old, new in (
            (self.topic, before.topic, after.topic),
            (self.equity, before.equity, after.equity),
        ):
            if old is not None:
                table.setdefault(old[0], Counter()).subtract(old[1])
            if new is not None:
                table.setdefault(new[0], Counter()).update(new[1])
        for key, n in before.durations:
            self.duration[key] -= n
        for key, n in after.durations:
            self.duration[key] += n
        if before.due is not None:
            self.due[before.due] -= 1
        if after.due is not None:
            self.due[after.due] += 1

    def national(self) -> StatDelta:
        """The same differences without site and partner: the national roll-ups."""
        rollup = StatDelta()
        # (month, site, partner, topic, type, protected) -> (month, topic, type)
        rollup.topic = _rolled_up(self.topic, lambda key: (key[0], key[3], key[4]))
        # (month, site, partner, gender, age band, protected) -> (month, gender, age band)
        rollup.equity = _rolled_up(self.equity, lambda key: (key[0], key[3], key[4]))
        # (month, site, partner, metric, days, protected) -> (month, metric, days)
        for key, n in self.duration.items():
            rollup.duration[(key[0], key[3], key[4])] += n
        return rollup

    def sites(self) -> StatDelta:
        """The same differences without the partner: the per-site roll-ups (site boards)."""
        rollup = StatDelta()
        # (month, site, partner, topic, type, protected) -> (month, site, topic, type, protected)
        rollup.topic = _rolled_up(self.topic, lambda key: (key[0], key[1], key[3], key[4], key[5]))
        # (month, site, partner, gender, age band, protected) -> (month, site, gender, age band, protected)
        rollup.equity = _rolled_up(self.equity, lambda key: (key[0], key[1], key[3], key[4], key[5]))
        # (month, site, partner, metric, days, protected) -> (month, site, metric, days, protected)
        for key, n in self.duration.items():
            rollup.duration[(key[0], key[1], key[3], key[4], key[5])] += n
        return rollup

    def places(self) -> dict[StatKey, Counter[str]]:
        """(month, site, partner, protected) counters, whatever the topic: rankings and trends."""
        return _rolled_up(self.topic, lambda key: (key[0], key[1], key[2], key[5]))

    def due_months(self) -> Counter[StatKey]:
        """(month of the deadline, site, partner, protected) counts of open items."""
        result: Counter[StatKey] = Counter()
        for (day, site, partner, protected), n in self.due.items():
            result[(month_of(day), site, partner, protected)] += n
        return result

    async def write(self, session: AsyncSession) -> None:
        """Apply the differences in the session's transaction."""
        await session.run_sync(self.write_sync)

    def write_sync(self, session: Session) -> None:
        """``write`` for code already running in the session's greenlet (``run_sync``): one
        prepared upsert per aggregate table (``feedback.prepared``), whatever the rows."""
        # Pending changes first, as a session.execute would: every write path locks the item
        # before its aggregates, so concurrent PostgreSQL writers take locks in the same order.
        session.flush()
        connection = session.connection()
        topic_cols = ("month", "site_id", "partner_id", "topic_id", "feedback_type", "protected")
        equity_cols = ("month", "site_id", "partner_id", "gender", "age_band", "protected")
        duration_cols = ("month", "site_id", "partner_id", "metric", "days", "protected")
        _upsert_counters(connection, TopicStat.__table__, topic_cols, self.topic)
        _upsert_counters(connection, EquityStat.__table__, equity_cols, self.equity)
        _upsert_counts(connection, DurationStat.__table__, duration_cols, self.duration)
        _upsert_counts(connection, DueStat.__table__, ("due_day", "site_id", "partner_id", "protected"), self.due)
        _upsert_counts(connection, DueMonthStat.__table__, ("due_month", "site_id", "partner_id", "protected"),
                       self.due_months())
        place_cols = ("month", "site_id", "partner_id", "protected")
        _upsert_counters(connection, PlaceStat.__table__, place_cols, self.places())
        sites = self.sites()
        _upsert_counters(connection, SiteTopicStat.__table__,
                         ("month", "site_id", "topic_id", "feedback_type", "protected"), sites.topic)
        _upsert_counters(connection, SiteEquityStat.__table__,
                         ("month", "site_id", "gender", "age_band", "protected"), sites.equity)
        _upsert_counts(connection, SiteDurationStat.__table__,
                       ("month", "site_id", "metric", "days", "protected"), sites.duration)
        national = self.national()
        _upsert_counters(connection, NationalTopicStat.__table__, ("month", "topic_id", "feedback_type"),
                         national.topic)
        _upsert_counters(connection, NationalEquityStat.__table__, ("month", "gender", "age_band"),
                         national.equity)
        _upsert_counts(connection, NationalDurationStat.__table__, ("month", "metric", "days"), national.duration)


def _rolled_up(
    source: dict[StatKey, Counter[str]], key_of: Callable[[StatKey], StatKey]
) -> dict[StatKey, Counter[str]]:
    result: dict[StatKey, Counter[str]] = {}
    for key, delta in source.items():
        result.setdefault(key_of(key), Counter()).update(delta)
    return result


def _sort_key(entry: tuple[StatKey, Any]) -> tuple[str, ...]:
    # A fixed order of upserts keeps concurrent PostgreSQL writers from deadlocking.
    return tuple(str(part) for part in entry[0])


def _upsert_counters(
    connection: Connection, table: Any, key_cols: Iterable[str], deltas: dict[StatKey, Counter[str]]
) -> None:
    cols = tuple(key_cols)
    rows = []
    for key, delta in sorted(deltas.items(), key=_sort_key):
        values = {name: delta.get(name, 0) for name in COUNTERS}
        if any(values.values()):
            rows.append(dict(zip(cols, key, strict=True)) | values)
    if rows:
        _upsert(connection, table, cols, rows, COUNTERS)


def _upsert_counts(
    connection: Connection, table: Any, key_cols: tuple[str, ...], deltas: Counter[StatKey]
) -> None:
    rows = [
        dict(zip(key_cols, key, strict=True)) | {"count": n}
        for key, n in sorted(deltas.items(), key=_sort_key)
        if n
    ]
    if rows:
        _upsert(connection, table, key_cols, rows, ("count",))


def _upsert(
    connection: Connection, table: Table, key_cols: Iterable[str], rows: list[dict[str, Any]], add: Iterable[str]
) -> None:
    """Add ``rows`` to the counters, creating missing rows (one executemany statement)."""
    prepared.execute_many(connection, _upsert_statement(connection.dialect.name, table, tuple(key_cols), tuple(add)), rows)


@functools.cache
def _upsert_statement(dialect: str, table: Table, key_cols: tuple[str, ...], add: tuple[str, ...]) -> Any:
    # Built once per table: building ``excluded`` and the SET clause cost more than the upsert.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(key_cols),
        set_={name: table.c[name] + statement.excluded[name] for name in add},
    )


async def record(session: AsyncSession, before: Snapshot, item: FeedbackItem) -> None:
    """Apply one item's change to the aggregates."""
    delta = StatDelta()
    delta.add(before, snapshot(item))
    await delta.write(session)
