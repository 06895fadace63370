"""The bulk item generator: realistic items whose board aggregates equal a direct count."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from feedback import bulk, codes
from feedback.db import Database
from feedback.domain import stats
from feedback.models import (
    DueMonthStat,
    DueStat,
    DurationStat,
    EquityStat,
    Event,
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
from feedback.models.items import STATUSES
from feedback.models.stats import COUNTERS
from feedback.seed import generate_items

COUNT = 3000


async def _generate(db: Database, count: int = COUNT, **kwargs: Any) -> int:
    return await bulk.generate_items(db.write, count, batch_size=1000, seed=7, **kwargs)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _stat_rows(session: AsyncSession) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every aggregate row as (table, key..., counter) → value, zero rows left out."""
    result: dict[str, Counter[tuple[Any, ...]]] = {}
    for model, keys, values in (
        (TopicStat, ("month", "site_id", "partner_id", "topic_id", "feedback_type", "protected"), COUNTERS),
        (EquityStat, ("month", "site_id", "partner_id", "gender", "age_band", "protected"), COUNTERS),
        (DurationStat, ("month", "site_id", "partner_id", "metric", "days", "protected"), ("count",)),
        (DueStat, ("due_day", "site_id", "partner_id", "protected"), ("count",)),
        (PlaceStat, ("month", "site_id", "partner_id", "protected"), COUNTERS),
        (NationalTopicStat, ("month", "topic_id", "feedback_type"), COUNTERS),
        (NationalEquityStat, ("month", "gender", "age_band"), COUNTERS),
        (NationalDurationStat, ("month", "metric", "days"), ("count",)),
        (DueMonthStat, ("due_month", "site_id", "partner_id", "protected"), ("count",)),
        (SiteTopicStat, ("month", "site_id", "topic_id", "feedback_type", "protected"), COUNTERS),
        (SiteEquityStat, ("month", "site_id", "gender", "age_band", "protected"), COUNTERS),
        (SiteDurationStat, ("month", "site_id", "metric", "days", "protected"), ("count",)),
    ):
        table: Counter[tuple[Any, ...]] = Counter()
        columns = [getattr(model, k) for k in keys] + [getattr(model, v) for v in values]
        for row in (await session.execute(select(*columns))).all():
            key = (_as_date(row[0]), *row[1 : len(keys)])
            if keys[-1] == "protected":
                key = (*key[:-1], bool(key[-1]))
            for name, value in zip(values, row[len(keys) :], strict=True):
                if value:
                    table[(*key, name)] += value
        result[model.__tablename__] = table
    return result


def _expected(delta: stats.StatDelta) -> dict[str, Counter[tuple[Any, ...]]]:
    def flat(source: dict[Any, Counter[str]]) -> Counter[tuple[Any, ...]]:
        out: Counter[tuple[Any, ...]] = Counter()
        for key, counter in source.items():
            for name, value in counter.items():
                if value:
                    out[(*key, name)] += value
        return out

    def projected(source: Counter[tuple[Any, ...]], *positions: int) -> Counter[tuple[Any, ...]]:
        # A roll-up keeps some key parts (and the counter name, last) and sums the rest away.
        out: Counter[tuple[Any, ...]] = Counter()
        for key, value in source.items():
            out[(*(key[i] for i in positions), key[-1])] += value
        return +out

    topic = flat(delta.topic)
    equity = flat(delta.equity)
    duration = Counter({(*k, "count"): n for k, n in delta.duration.items() if n})
    due = Counter({(*k, "count"): n for k, n in delta.due.items() if n})
    due_month: Counter[tuple[Any, ...]] = Counter()
    for (day, *rest), n in due.items():
        due_month[(day.replace(day=1), *rest)] += n
    return {
        "stat_topic": topic,
        "stat_equity": equity,
        "stat_duration": duration,
        "stat_due": due,
        "stat_due_month": due_month,
        # month, site, partner, protected / month, topic, type / month, gender, age / month, metric, days
        "stat_place": projected(topic, 0, 1, 2, 5),
        "stat_national_topic": projected(topic, 0, 3, 4),
        "stat_national_equity": projected(equity, 0, 3, 4),
        "stat_national_duration": projected(duration, 0, 3, 4),
        # month, site, topic, type, protected / month, site, gender, age, protected / month, site, metric, days, protected
        "stat_site_topic": projected(topic, 0, 1, 3, 4, 5),
        "stat_site_equity": projected(equity, 0, 1, 3, 4, 5),
        "stat_site_duration": projected(duration, 0, 1, 3, 4, 5),
    }


async def test_aggregates_equal_what_the_live_code_would_count(db: Database) -> None:
    assert await _generate(db) == COUNT
    async with db.read() as session:
        items = (await session.scalars(select(FeedbackItem))).all()
        delta = stats.StatDelta()
        for item in items:
            delta.add(stats.EMPTY, stats.snapshot(item))
        assert await _stat_rows(session) == _expected(delta)


async def test_topic_aggregates_equal_a_direct_group_by(db: Database) -> None:
    await _generate(db)
    protected = FeedbackItem.sensitivity == "S3"
    group = (FeedbackItem.site_id, FeedbackItem.partner_id, FeedbackItem.topic_id, FeedbackItem.feedback_type)
    stat_group = (TopicStat.site_id, TopicStat.partner_id, TopicStat.topic_id, TopicStat.feedback_type)
    async with db.read() as session:
        direct = (await session.execute(
            select(*group, protected, func.count(),
                   func.count(FeedbackItem.acknowledged_at), func.count(FeedbackItem.resolved_at),
                   func.sum(case((FeedbackItem.verification == "verified", 1), else_=0)),
                   func.sum(case((FeedbackItem.status == "not_actionable", 1), else_=0)),
                   func.coalesce(func.sum(FeedbackItem.satisfaction), 0))
            .group_by(*group, protected)
        )).all()
        aggregated = (await session.execute(
            select(*stat_group, TopicStat.protected, func.sum(TopicStat.received),
                   func.sum(TopicStat.acknowledged), func.sum(TopicStat.resolved), func.sum(TopicStat.verified),
                   func.sum(TopicStat.not_actionable), func.sum(TopicStat.rating_sum))
            .group_by(*stat_group, TopicStat.protected)
        )).all()
    as_dict = lambda rows: {(*r[:4], bool(r[4])): tuple(int(v) for v in r[5:]) for r in rows}  # noqa: E731
    assert as_dict(direct) == as_dict(aggregated)
    assert sum(r[5] for r in direct) == COUNT


async def test_items_are_realistic_and_valid(db: Database) -> None:
    await _generate(db)
    async with db.read() as session:
        statuses = dict((await session.execute(
            select(FeedbackItem.status, func.count()).group_by(FeedbackItem.status))).all())
        assert set(statuses) == set(STATUSES)
        for column in (FeedbackItem.site_id, FeedbackItem.topic_id, FeedbackItem.language,
                       FeedbackItem.feedback_type, FeedbackItem.channel, FeedbackItem.sensitivity):
            assert await session.scalar(select(func.count(func.distinct(column)))) >= 3
        item_codes = (await session.scalars(select(FeedbackItem.tracking_code))).all()
        assert len(set(item_codes)) == COUNT
        assert all(codes.is_valid(c) for c in item_codes)
        # Every item has its submitted and routed events; each acknowledgement has its event.
        kinds = dict((await session.execute(select(Event.kind, func.count()).group_by(Event.kind))).all())
        assert kinds["submitted"] == kinds["routed"] == COUNT
        assert kinds["acknowledged"] == await session.scalar(
            select(func.count()).where(FeedbackItem.acknowledged_at.is_not(None),
                                       FeedbackItem.status != "not_actionable"))
        # Open items carry the deadline that matters now; settled ones none.
        assert not await session.scalar(select(func.count()).where(
            FeedbackItem.status.in_(("received", "acknowledged", "in_progress", "referred", "reopened")),
            FeedbackItem.due_at.is_(None)))
        assert not await session.scalar(select(func.count()).where(
            FeedbackItem.status.in_(("resolved", "closed", "not_actionable")), FeedbackItem.due_at.is_not(None)))
        # Nothing personal: generated items carry no contact details.
        assert not await session.scalar(select(func.count()).where(FeedbackItem.contact_phone.is_not(None)))
        if db.is_sqlite:
            # The bulk path pauses CHECK constraints; integrity_check proves the rows obey them.
            assert (await session.execute(text("PRAGMA integrity_check"))).all() == [("ok",)]
            assert (await session.execute(text("PRAGMA ignore_check_constraints"))).scalar() == 0


async def test_a_second_run_adds_more_items_with_fresh_codes(db: Database) -> None:
    seen: list[tuple[int, int]] = []
    await generate_items(db.write, 500, progress=lambda done, total: seen.append((done, total)))
    await generate_items(db.write, 700)
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(FeedbackItem)) == 1200
        assert await session.scalar(select(func.count(func.distinct(FeedbackItem.tracking_code)))) == 1200
        assert await session.scalar(select(func.sum(TopicStat.received))) == 1200
    assert seen[-1] == (500, 500)


async def test_generated_items_load_as_models(db: Database) -> None:
    await _generate(db, 200)
    async with db.read() as session:
        item = await session.scalar(select(FeedbackItem).where(FeedbackItem.status == "closed").limit(1))
        assert item is not None
        assert item.received_at.tzinfo is not None and item.closed_at is not None
        assert item.received_at <= item.acknowledged_at <= item.closed_at
        assert item.acknowledge_by > item.received_at
