"""Every board figure equals a direct count on feedback_item: after random activity, and on a
small fixed dataset whose values are computed by hand."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from feedback.db import Database
from feedback.domain import intake, tracking, workflow
from feedback.domain.access import SUBMITTER, SYSTEM, Actor
from feedback.models import Event, FeedbackItem, Partner, Site, Topic, User, utcnow
from feedback.queries import board as q

SITES = ("BKO-C4-LAF", "BKO-C1-BAN", "BKO-C6-NIA")
TOPICS = ("welcome", "waiting", "cost", "medicines", "hygiene", "protection", "governance", "referral")


async def _actors(session: Any) -> dict[str, Actor]:
    users = {u.login: u for u in (await session.scalars(select(User))).all()}
    return {
        "staff": Actor.for_user(users["sauvegarde"]),
        "monitor": Actor.for_user(users["comite.laf"]),
        "admin": Actor.for_user(users["admin"]),
    }


async def _random_activity(db: Database, rng: random.Random, count: int, now: datetime) -> None:
    async with db.write() as session, session.begin():
        actors = await _actors(session)
        district = await session.scalar(select(Partner.id).where(Partner.slug == "district-c4"))
        for n in range(count):
            received = now - timedelta(days=rng.uniform(0, 420), hours=rng.uniform(0, 23))
            sub = intake.Submission(
                site_code=rng.choice(SITES), channel="kiosk",
                feedback_type=rng.choice(("complaint", "suggestion", "compliment", "question", "help_request")),
                topic_slug=rng.choice(TOPICS), text=f"message {n}", publish_consent=True,
                gender=rng.choice(("female", "male", "undisclosed", None)),
                age_band=rng.choice(("18_24", "35_49", "under_18", None)),
            )
            item = await intake.store(session, sub, now=received)
            moment = received
            for _step in range(rng.randint(0, 6)):
                moment = moment + timedelta(hours=rng.uniform(1, 24 * 12))
                if moment > now:
                    break
                action = rng.choice(("acknowledge", "start", "resolve", "resolve", "not_actionable", "refer",
                                     "confirm", "dispute", "auto_close", "reopen", "rate"))
                try:
                    if action == "rate":
                        if item.status in tracking.RATEABLE and item.satisfaction is None:
                            await tracking.rate(session, item, rng.randint(1, 3), now=moment)
                    elif action in ("confirm", "dispute"):
                        actor = SUBMITTER if rng.random() < 0.7 else actors["monitor"]
                        await workflow.apply(session, item, action, actor, now=moment)
                    elif action == "auto_close":
                        await workflow.apply(session, item, action, SYSTEM, now=moment)
                    else:
                        actor = actors["staff"] if action != "reopen" else actors["admin"]
                        await workflow.apply(session, item, action, actor, now=moment, public_text="Fait.",
                                             to_partner_id=district)
                except workflow.TransitionRefused:
                    continue


def _month_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    end = q.month_add(last, 1)
    return (datetime(first.year, first.month, 1, tzinfo=UTC), datetime(end.year, end.month, 1, tzinfo=UTC))


def _scope_filters(scope: q.Scope) -> list[Any]:
    item = FeedbackItem
    conditions: list[Any] = [item.partner_id.is_not(None)]
    if scope.site_id is not None:
        conditions.append(item.site_id == scope.site_id)
    if scope.partner_id is not None:
        conditions.append(item.partner_id == scope.partner_id)
    if not scope.national:
        conditions.append(item.sensitivity != "S3")
    return conditions


def _direct_counts(items: list[FeedbackItem]) -> q.Counts:
    """The counters computed the obvious way from the items themselves."""
    c = q.Counts()
    for i in items:
        c.received += 1
        c.acknowledged += i.acknowledged_at is not None
        c.acknowledged_on_time += bool(i.acknowledged_on_time)
        c.resolved += i.resolved_at is not None
        c.resolved_on_time += bool(i.resolved_on_time)
        c.verified += i.verification == "verified"
        c.disputed += i.verification == "disputed"
        c.closed_unconfirmed += i.verification == "unconfirmed"
        c.not_actionable += i.status == "not_actionable"
        if i.satisfaction is not None:
            c.rated += 1
            c.rating_sum += i.satisfaction
            c.rated_happy += i.satisfaction == 3
            c.rated_neutral += i.satisfaction == 2
            c.rated_sad += i.satisfaction == 1
    return c


def _direct_median(values: list[int]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    middle = len(values) // 2
    return float(values[middle]) if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


async def _direct_overdue(session: Any, scope: q.Scope, now: datetime) -> int:
    item = FeedbackItem
    query = select(func.count()).select_from(item).where(
        item.status.in_(("received", "acknowledged", "in_progress", "referred", "reopened")),
        item.due_at < now, *_scope_filters(scope),
    )
    return int(await session.scalar(query) or 0)


async def _check_scope(session: Any, scope: q.Scope, period: str, now: datetime) -> None:
    fig = await q.figures(session, scope, period, now, rankings=scope.national)
    start, end = _month_bounds(fig.first_month, fig.last_month)
    item = FeedbackItem
    items = list((await session.scalars(
        select(item).where(item.received_at >= start, item.received_at < end, *_scope_filters(scope))
    )).all())
    label = f"{scope} {period}"
    assert fig.totals == _direct_counts(items), label
    assert {k: v for k, v in fig.by_topic.items() if v.received} == _group(items, lambda i: i.topic_id), label
    assert {k: v for k, v in fig.by_type.items() if v.received} == _group(items, lambda i: i.feedback_type), label
    assert {k: v for k, v in fig.by_gender.items() if v.received} == _group(items, lambda i: i.gender or "unknown"), label
    assert {k: v for k, v in fig.by_age_band.items() if v.received} == _group(items, lambda i: i.age_band or "unknown"), label
    ack_days = [int((i.acknowledged_at - i.received_at).total_seconds() // 86400) for i in items if i.acknowledged_at]
    res_days = [int((i.resolved_at - i.received_at).total_seconds() // 86400) for i in items if i.resolved_at]
    assert fig.median_acknowledge_days == _direct_median(ack_days), label
    assert fig.median_resolve_days == _direct_median(res_days), label
    assert fig.acknowledge_durations == len(ack_days) and fig.resolve_durations == len(res_days)
    assert fig.overdue == await _direct_overdue(session, scope, now), label
    # The 12-month trend, month by month.
    for month, counts in fig.trend:
        m_start, m_end = _month_bounds(month, month)
        month_items = [i for i in (await session.scalars(
            select(item).where(item.received_at >= m_start, item.received_at < m_end, *_scope_filters(scope))
        )).all()]
        assert counts == _direct_counts(month_items), (label, month)
    if scope.national:
        per_site = _group([i for i in items if i.sensitivity != "S3"], lambda i: i.site_id)
        assert {k: v for k, v in fig.by_site.items() if v.received} == per_site, label
        per_partner = _group([i for i in items if i.sensitivity != "S3"], lambda i: i.partner_id)
        assert {k: v for k, v in fig.by_partner.items() if v.received} == per_partner, label
        rows = (await session.execute(
            select(item.site_id, func.count()).where(
                item.due_at.is_not(None), item.due_at < now, item.sensitivity != "S3").group_by(item.site_id)
        )).all()
        assert {k: v for k, v in fig.overdue_by_site.items() if v} == dict(rows), label


def _group(items: list[FeedbackItem], key: Any) -> dict[Any, q.Counts]:
    groups: dict[Any, list[FeedbackItem]] = {}
    for i in items:
        groups.setdefault(key(i), []).append(i)
    return {k: _direct_counts(v) for k, v in groups.items()}


async def test_every_figure_equals_a_direct_count_after_random_activity(db: Database) -> None:
    now = utcnow()
    await _random_activity(db, random.Random(7), 160, now)
    async with db.read() as session:
        sites = (await session.scalars(select(Site).where(Site.code.in_(SITES)))).all()
        partner_ids = (await session.scalars(select(FeedbackItem.partner_id).distinct())).all()
        scopes = [q.Scope()] + [q.Scope(site_id=s.id) for s in sites] + [q.Scope(partner_id=p) for p in partner_ids]
        for scope in scopes:
            for period in q.PERIODS:
                await _check_scope(session, scope, period, now)
        # "Overdue now" also holds at other moments, early and late in a month and in a day (the
        # shorter side of each is read: days before today or the month's total less the rest).
        month = datetime(now.year, now.month, 1, tzinfo=UTC)
        moments = [now - timedelta(days=3, hours=5), now + timedelta(days=4, hours=7), now + timedelta(days=40),
                   month + timedelta(days=2, hours=3), month + timedelta(days=2, hours=21),
                   month + timedelta(days=26, hours=2), month + timedelta(days=26, hours=23)]
        # Just before and after a deadline late in its day and one early in its day.
        deadlines = (await session.scalars(select(FeedbackItem.due_at).where(FeedbackItem.due_at.is_not(None)))).all()
        late = next(d for d in deadlines if 13 <= d.hour <= 22)
        early = next(d for d in deadlines if 1 <= d.hour <= 10)
        moments += [d + timedelta(minutes=m) for d in (late, early) for m in (-1, 1)]
        for moment in moments:
            for scope in scopes:
                assert await q.overdue(session, scope, moment) == await _direct_overdue(session, scope, moment)
            by_place = await q.overdue_by_place(session, moment)
            assert sum(by_place.values()) == await _direct_overdue(session, q.Scope(), moment), moment
            assert min(by_place.values(), default=1) > 0


async def _store(session: Any, site: str, topic: str, when: datetime, **fields: Any) -> FeedbackItem:
    sub = intake.Submission(site_code=site, channel="kiosk", feedback_type=fields.pop("feedback_type", "complaint"),
                            topic_slug=topic, text="fixed", publish_consent=True, **fields)
    return await intake.store(session, sub, now=when)


async def test_hand_computed_figures_on_a_fixed_dataset(db: Database) -> None:
    # Mid-month "now" keeps every item in the current month whatever day the suite runs.
    real = utcnow()
    now = datetime(real.year, real.month, 1, 12, tzinfo=UTC) + timedelta(days=14)
    start = now - timedelta(days=13)
    async with db.write() as session, session.begin():
        actors = await _actors(session)
        staff = actors["staff"]
        # A: acknowledged after 1 day (on time), resolved after 3 days (on time), confirmed, rated happy.
        a = await _store(session, "BKO-C4-LAF", "hygiene", start, gender="female", age_band="25_34")
        await workflow.apply(session, a, "acknowledge", staff, now=start + timedelta(days=1, hours=1))
        await workflow.apply(session, a, "resolve", staff, public_text="Réparé.", now=start + timedelta(days=3, hours=2))
        await tracking.confirm(session, a, now=start + timedelta(days=4))
        await tracking.rate(session, a, 3, now=start + timedelta(days=4))
        # B: acknowledged after 8 days (late: 2 working days), resolved after 9 days (on time), disputed.
        b = await _store(session, "BKO-C4-LAF", "hygiene", start, gender="female")
        await workflow.apply(session, b, "acknowledge", staff, now=start + timedelta(days=8, hours=1))
        await workflow.apply(session, b, "resolve", staff, public_text="Fait.", now=start + timedelta(days=9, hours=1))
        await tracking.dispute(session, b, "Toujours sale", now=start + timedelta(days=10))
        # C: never touched: overdue now (acknowledge-by passed long ago).
        await _store(session, "BKO-C4-LAF", "waiting", start, gender="male", feedback_type="suggestion")
        # D: not actionable after 0 days; E: an S3 report (protection) — national totals only.
        d = await _store(session, "BKO-C4-LAF", "cost", start)
        await workflow.apply(session, d, "not_actionable", staff, public_text="Hors sujet.", now=start + timedelta(hours=3))
        await _store(session, "BKO-C4-LAF", "protection", start, gender="female")
        # F: resolved after 2 days, closed without confirmation, at another site.
        f = await _store(session, "BKO-C1-BAN", "medicines", start)
        await workflow.apply(session, f, "resolve", staff, public_text="Livré.", now=start + timedelta(days=2, hours=1))
        await workflow.apply(session, f, "auto_close", SYSTEM, now=start + timedelta(days=12))
    async with db.read() as session:
        laf = await session.scalar(select(Site.id).where(Site.code == "BKO-C4-LAF"))
        hygiene = await session.scalar(select(Topic.id).where(Topic.slug == "hygiene"))
        site = await q.figures(session, q.Scope(site_id=laf), "month", now)
        national = await q.figures(session, q.Scope(), "month", now, rankings=True)
    t = site.totals
    assert (t.received, t.acknowledged, t.acknowledged_on_time) == (4, 3, 2)  # A, B, D (D on time)
    # B's dispute took back its resolution: it is no longer counted as resolved.
    assert (t.resolved, t.resolved_on_time, t.verified, t.disputed, t.not_actionable) == (1, 1, 1, 1, 1)
    assert (t.rated, t.rating_sum, t.rated_happy) == (1, 3, 1)
    # Acknowledge days: A 1, B 8, D 0 → median 1; resolve days: A 3 (B's was taken back) → 3.
    assert site.median_acknowledge_days == 1.0
    assert site.median_resolve_days == 3.0
    # Overdue: C (never acknowledged) and B (reopened, resolve-by 10 days after the dispute: not yet).
    assert site.overdue == 1
    assert site.by_topic[hygiene].received == 2
    assert site.by_gender["female"].received == 2 and site.by_gender["male"].received == 1
    assert site.by_type["suggestion"].received == 1
    # National: the S3 report counts in the totals, never per site.
    n = national.totals
    assert (n.received, n.resolved, n.closed_unconfirmed) == (6, 2, 1)
    assert national.by_site[laf].received == 4
    assert national.overdue == 2  # C and the S3 report (acknowledge within 24 h, long passed)
    assert national.overdue_by_site.get(laf) == 1
    assert national.trend[-1][1].received == 6
    # The events were written once each.
    async with db.read() as session:
        kinds = Counter((await session.scalars(select(Event.kind).where(Event.item_id.in_((a.id, b.id))))).all())
    assert kinds["confirmed"] == 1 and kinds["disputed"] == 1 and kinds["rated"] == 1


async def test_stat_due_matches_items(db: Database) -> None:
    """The due-day aggregate itself equals a grouped count of open items with a deadline."""
    from feedback.models import DueStat

    now = utcnow()
    await _random_activity(db, random.Random(11), 60, now)
    async with db.read() as session:
        rows = (await session.execute(
            select(DueStat.due_day, DueStat.site_id, DueStat.partner_id, DueStat.protected, DueStat.count)
            .where(DueStat.count != 0)
        )).all()
        aggregated = {(r[0], r[1], r[2], bool(r[3])): r[4] for r in rows}
        items = (await session.scalars(select(FeedbackItem).where(FeedbackItem.due_at.is_not(None)))).all()
    direct = Counter((i.due_at.date(), i.site_id, i.partner_id, i.sensitivity == "S3") for i in items)
    assert aggregated == dict(direct)
