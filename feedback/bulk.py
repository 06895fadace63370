"""Bulk item generator: N realistic items with their events and board aggregates, fast.

``feedback seed-demo --items N`` builds benchmark databases with it (a million items in well
under three minutes on SQLite). Items never become ORM objects: each is a plain tuple built
with the same field rules as intake and the workflow (routing, deadlines, the lifecycle), and
is written through the driver's own bulk path — ``executemany`` on SQLite, ``COPY`` on
PostgreSQL — with statements compiled by SQLAlchemy. The board aggregates of a batch are
summed in memory and written by ``stats.StatDelta`` in the same transaction as its items, so
the boards always equal a direct count, even if the run is interrupted.

Generation runs in a worker thread one batch ahead of the database, so building batch n+1
overlaps with writing batch n (the SQLite driver releases the GIL while it works).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback import codes
from feedback.domain import deadlines, stats
from feedback.domain.routing import pick_rule
from feedback.domain.workflow import LIGHT_TYPES
from feedback.models import (
    Event,
    FeedbackItem,
    Partner,
    ReservedCode,
    RoutingRule,
    Site,
    Topic,
    utcnow,
)
from feedback.models.stats import COUNTERS
from feedback.text import fold

ProgressFn = Callable[[int, int], None]

# The columns bulk rows carry, in order (checked against the tables when statements are
# compiled). Columns left out are NULL for every generated item: no contact details, no
# idempotency key, kiosk, code, transcript or escalation. Leaving them out matters for speed:
# the SQLite driver binds None and bool far more slowly than int and str, so rows carry
# booleans as 0/1 on SQLite and each event shape names only the columns it fills.
ITEM_COLUMNS = (
    "id", "tracking_code", "channel", "site_id", "feedback_type", "topic_id", "text",
    "search_text", "language", "contact_consent", "publish_consent", "gender", "age_band",
    "status", "sensitivity", "criticality", "partner_id", "shared_partner_id", "submitted_at",
    "received_at", "acknowledged_at", "resolved_at", "closed_at", "updated_at", "acknowledge_by",
    "resolve_by", "due_at", "acknowledged_on_time", "resolved_on_time", "escalation_level",
    "verification", "verified_at", "public_summary", "public_response", "moderated_at",
    "published", "published_at", "me_too_count", "satisfaction",
)
# Event rows by shape; each lists the columns it fills, in table order.
EVENT_SHAPES = {
    "submitted": ("item_id", "kind", "created_at", "actor_label", "public", "to_status"),
    "routed": ("item_id", "kind", "created_at", "actor_label", "partner_id", "public"),
    "transition": ("item_id", "kind", "created_at", "actor_label", "public", "from_status", "to_status"),
    "referred": ("item_id", "kind", "created_at", "actor_label", "partner_id", "public", "from_status",
                 "to_status"),
    "response": ("item_id", "kind", "created_at", "actor_label", "partner_id", "public", "body"),
    "plain": ("item_id", "kind", "created_at", "actor_label", "public"),
}

# How often things happen (weights). Topics not listed weigh 1.
TOPIC_WEIGHTS = {
    "waiting": 9, "cost": 7, "medicines": 7, "welcome": 6, "mch_care": 6, "hygiene": 5,
    "chw": 3, "referral": 3, "information": 3, "governance": 2, "kiosk": 1, "other": 2,
    "protection": 0.3,
}
TYPES = (("complaint", 6), ("suggestion", 2), ("compliment", 2), ("question", 2), ("help_request", 1))
LANGUAGES = (("bm", 5), ("fr", 4), ("en", 1))
CHANNELS = (("kiosk", 6), ("web", 2), ("sms", 2))
GENDERS = (("female", 5), ("male", 2), ("undisclosed", 1), (None, 2))
AGE_BANDS = (("18_24", 2), ("25_34", 3), ("35_49", 2), ("50_plus", 1), (None, 2))
NOT_ACTIONABLE_TEXT = (
    "Cette demande ne relève pas du centre de santé ; nous l'avons expliqué au comité."
)
AUTO_CLOSE_DAYS = 14
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _expand(weighted: tuple[tuple[Any, float], ...] | list[tuple[Any, float]]) -> list[Any]:
    """A list in which each value appears in proportion to its weight (pick with one random())."""
    out: list[Any] = []
    for value, weight in weighted:
        out.extend([value] * max(1, round(weight * 10)) if weight else [])
    return out


class _CodeMaker:
    """Unique random tracking codes, ~10× faster than ``codes.new_tracking_code``.

    The eight body characters are two halves looked up in precomputed tables of all 23^4
    four-character strings with their weighted sums, so the check character costs one lookup.
    Bulk codes come from a non-cryptographic generator; they are for benchmark data only.
    """

    def __init__(self, taken: set[str]) -> None:
        alphabet = codes.ALPHABET
        n = len(alphabet)
        quads = [a + b + c + d for a in alphabet for b in alphabet for c in alphabet for d in alphabet]
        digits = [(i, j, k, m) for i in range(n) for j in range(n) for k in range(n) for m in range(n)]
        self.quads = quads
        self.first = [i + 2 * j + 3 * k + 4 * m for i, j, k, m in digits]
        self.second = [5 * i + 6 * j + 7 * k + 8 * m for i, j, k, m in digits]
        self.size = len(quads)
        self.inverse = pow(codes.BODY_LENGTH + 1, -1, n)
        self.alphabet = alphabet
        self.n = n
        self.taken = taken
        self.random = random.Random().random  # seeded from the OS: a rerun makes new codes

    def new(self) -> str:
        r, size, taken = self.random, self.size, self.taken
        while True:
            hi = int(r() * size)
            lo = int(r() * size)
            check = self.alphabet[(-(self.first[hi] + self.second[lo]) * self.inverse) % self.n]
            code = self.quads[hi] + self.quads[lo] + check
            if code not in taken:
                taken.add(code)
                return code


@dataclass
class _Context:
    """What generation needs from the database, loaded once."""

    sites: list[int]
    topics: list[tuple[int, str]]  # (id, sensitivity), weighted
    partner_for: dict[tuple[int, int], int]
    safeguarding: int
    referral_target: dict[int, int]
    policies: dict[tuple[int, str], deadlines.DeadlinePolicy]
    holidays: frozenset[date]
    weekend: tuple[int, ...]
    taken_codes: set[str]
    start_id: int


@dataclass
class Batch:
    """One batch ready to insert: item rows (ITEM_COLUMNS), event rows per shape, aggregates."""

    first_id: int
    items: list[tuple[Any, ...]]
    events: dict[str, list[tuple[Any, ...]]]
    delta: stats.StatDelta = field(default_factory=stats.StatDelta)

    @property
    def event_count(self) -> int:
        return sum(len(rows) for rows in self.events.values())


async def _load_context(session: AsyncSession, weekend: tuple[int, ...]) -> _Context:
    sites = list((await session.scalars(select(Site.id).where(Site.active).order_by(Site.id))).all())
    topic_rows = (await session.execute(select(Topic.id, Topic.slug, Topic.sensitivity).where(Topic.active))).all()
    rules = (await session.scalars(select(RoutingRule))).all()
    partners = (await session.execute(select(Partner.id, Partner.kind, Partner.escalation_partner_id,
                                             Partner.is_default, Partner.is_safeguarding))).all()
    calendar = await deadlines.load_calendar(session, weekend)
    start_id = (await session.scalar(select(func.max(FeedbackItem.id)))) or 0
    taken = set((await session.scalars(select(FeedbackItem.tracking_code))).all())
    taken.update((await session.scalars(select(ReservedCode.code))).all())
    default = next((p.id for p in partners if p.is_default), None)
    safeguarding = next((p.id for p in partners if p.is_safeguarding), None)
    if not sites or not topic_rows or default is None or safeguarding is None:
        raise RuntimeError("seed the demo data first (sites, topics, a default and a safeguarding partner)")

    partner_for = {}
    for site_id in sites:
        for topic_id, _slug, _sensitivity in topic_rows:
            rule = pick_rule(rules, site_id, topic_id)
            partner_for[(site_id, topic_id)] = rule.partner_id if rule else default
    # Referrals go up the chain to the district team (the way staff refer in the demo).
    by_id = {p.id: p for p in partners}
    referral_target = {}
    for p in partners:
        seen, current = set(), by_id.get(p.escalation_partner_id)
        while current is not None and current.kind != "district" and current.id not in seen:
            seen.add(current.id)
            current = by_id.get(current.escalation_partner_id)
        if current is not None and current.id != p.id:
            referral_target[p.id] = current.id
    policies = {
        (topic_id, ftype): deadlines.pick_rule(calendar.rules, topic_id, ftype)
        for topic_id, _slug, _sensitivity in topic_rows
        for ftype, _weight in TYPES
    }
    topics = _expand([((t.id, t.sensitivity), TOPIC_WEIGHTS.get(t.slug, 1)) for t in topic_rows])
    return _Context(sites, topics, partner_for, safeguarding, referral_target, policies,
                    calendar.holidays, calendar.weekend, taken, start_id)


class _Generator:
    """Builds batches of items; the lifecycle follows the workflow's rules field by field."""

    def __init__(self, ctx: _Context, rng: random.Random, now: datetime, *, sqlite: bool,
                 start: datetime, count: int) -> None:
        from feedback.seed import RESPONSES, SAMPLE_TEXTS, SUMMARIES

        self.ctx = ctx
        self.rng = rng
        self.now = now
        self.sqlite = sqlite
        self.start = start
        self.span = (now - start).total_seconds()
        self.count = count
        self.done = 0
        self.next_id = ctx.start_id + 1
        self.codes = _CodeMaker(ctx.taken_codes)
        self.types = _expand(TYPES)
        self.channels = _expand(CHANNELS)
        self.genders = _expand(GENDERS)
        self.age_bands = _expand(AGE_BANDS)
        self.texts = _expand([
            ((text, language), weight / len(SAMPLE_TEXTS[language]))
            for language, weight in LANGUAGES for text in SAMPLE_TEXTS[language]
        ])
        self.responses = list(RESPONSES)
        self.summaries = list(SUMMARIES)
        self._fold: dict[tuple[str, ...], str] = {}
        self._working: dict[tuple[date, int], tuple[timedelta | None, datetime | None]] = {}
        self._months: dict[tuple[int, int], date] = {}

    def timestamp(self, moment: datetime) -> Any:
        """The value the driver stores: SQLAlchemy's SQLite text form, or an aware datetime."""
        if self.sqlite:
            return moment.isoformat(" ", "microseconds")
        return moment.replace(tzinfo=UTC)

    def folded(self, *parts: str | None) -> str:
        key = tuple(p for p in parts if p)
        value = self._fold.get(key)
        if value is None:
            value = self._fold[key] = fold(" ".join(key))
        return value

    def acknowledge_by(self, start: datetime, days: int) -> datetime:
        """``deadlines.add_working_days``, cached per start date.

        From a working day the deadline is a whole number of days later at the same time; from
        a weekend or holiday it is a fixed moment (counted from the next working day).
        """
        key = (start.date(), days)
        entry = self._working.get(key)
        if entry is None:
            end = deadlines.add_working_days(start, days, weekend=self.ctx.weekend, holidays=self.ctx.holidays)
            working = start.weekday() not in self.ctx.weekend and start.date() not in self.ctx.holidays
            entry = self._working[key] = (end - start, None) if working else (None, end)
        offset, fixed = entry
        return start + offset if offset is not None else fixed  # type: ignore[return-value]

    def month(self, moment: datetime) -> date:
        key = (moment.year, moment.month)
        value = self._months.get(key)
        if value is None:
            value = self._months[key] = date(moment.year, moment.month, 1)
        return value

    def batch(self, size: int) -> Batch:
        """The next ``size`` items, received in the next slice of the period (ids follow time)."""
        ctx, now, ts = self.ctx, self.now, self.timestamp
        r = self.rng.random
        yes, no = (1, 0) if self.sqlite else (True, False)
        window_start = self.start + timedelta(seconds=self.span * self.done / self.count)
        window = self.span * size / self.count
        offsets = sorted(r() * window for _ in range(size))
        sites, topics, types, texts = ctx.sites, ctx.topics, self.types, self.texts
        channels, genders, age_bands = self.channels, self.genders, self.age_bands
        responses, summaries = self.responses, self.summaries
        n_sites, n_topics, n_types, n_texts = len(sites), len(topics), len(types), len(texts)
        n_channels, n_genders, n_ages = len(channels), len(genders), len(age_bands)
        partner_for, policies, referral_target = ctx.partner_for, ctx.policies, ctx.referral_target
        safeguarding = ctx.safeguarding
        new_code, month_of, acknowledge_by_from = self.codes.new, self.month, self.acknowledge_by
        items: list[tuple[Any, ...]] = []
        submitted: list[tuple[Any, ...]] = []
        routed: list[tuple[Any, ...]] = []
        transitions: list[tuple[Any, ...]] = []
        referred: list[tuple[Any, ...]] = []
        responded: list[tuple[Any, ...]] = []
        published_events: list[tuple[Any, ...]] = []
        topic_counts: dict[Any, int] = {}
        equity_counts: dict[Any, int] = {}
        durations: Counter[tuple[Any, ...]] = Counter()
        dues: Counter[tuple[Any, ...]] = Counter()
        first_id = self.next_id
        item_id = first_id - 1

        for offset in offsets:
            item_id += 1
            received = window_start + timedelta(seconds=offset)
            received_ts = ts(received)
            site_id = sites[int(r() * n_sites)]
            topic_id, topic_sensitivity = topics[int(r() * n_topics)]
            ftype = types[int(r() * n_types)]
            text, language = texts[int(r() * n_texts)]
            channel = channels[int(r() * n_channels)]
            gender = genders[int(r() * n_genders)]
            age_band = age_bands[int(r() * n_ages)]
            publish_consent = r() < 0.75
            # Intake: S1 until moderated; S2 for confidential codes (unofficial payments...).
            if topic_sensitivity == "S3":
                sensitivity = "S3"
            elif topic_sensitivity == "S2" or r() < 0.05:
                sensitivity = "S2"
            else:
                sensitivity = "S1"
            rule_partner = partner_for[(site_id, topic_id)]
            if sensitivity == "S1":
                partner_id, shared_partner_id = rule_partner, None
            else:
                partner_id = safeguarding
                shared_partner_id = rule_partner if sensitivity == "S2" else None
            policy = policies[(topic_id, ftype)]
            ack_days, resolve_days = policy.acknowledge_working_days, policy.resolve_days
            if sensitivity == "S1":
                acknowledge_by = acknowledge_by_from(received, ack_days)
            else:
                acknowledge_by = received + 24 * HOUR
            resolve_by = received + resolve_days * DAY

            status = "received"
            acknowledged_at = resolved_at = closed_at = None
            acknowledged_on_time = resolved_on_time = None
            verification = public_response = public_summary = None
            satisfaction = None
            published = False
            updated_at = received
            ack_ts = resolved_ts = closed_ts = verified_ts = published_ts = None
            submitted.append((item_id, "submitted", received_ts, "submitter", yes, "received"))
            routed.append((item_id, "routed", received_ts, "system", partner_id, no))

            roll = r()
            ack = received + timedelta(seconds=3600 + r() * 95 * 3600)
            if roll >= 0.12 and ack <= now:
                acknowledged_at, ack_ts, updated_at = ack, ts(ack), ack
                acknowledged_on_time = ack <= acknowledge_by
                if roll < 0.16:
                    # Not actionable, with a public reason.
                    status, public_response = "not_actionable", NOT_ACTIONABLE_TEXT
                    transitions.append((item_id, "status_changed", ack_ts, "system", yes, "received", status))
                    responded.append((item_id, "public_response", ack_ts, "system", partner_id, yes,
                                      public_response))
                else:
                    status = "acknowledged"
                    transitions.append((item_id, "acknowledged", ack_ts, "system", yes, "received", status))
                    target = referral_target.get(partner_id) if sensitivity == "S1" else None
                    if roll < 0.20 and target is not None:
                        # Referred: the new partner receives it as new, with fresh deadlines.
                        moment = ack + timedelta(seconds=r() * 48 * 3600)
                        if moment <= now:
                            referred.append((item_id, "referred", ts(moment), "system", target, yes,
                                             status, "referred"))
                            status, partner_id, updated_at = "referred", target, moment
                            acknowledge_by = acknowledge_by_from(moment, ack_days)
                            resolve_by = moment + resolve_days * DAY
                    elif roll >= 0.30:
                        status = "in_progress"
                        resolved = ack + timedelta(seconds=7200 + r() * 20 * 86400)
                        if roll >= 0.40 and resolved <= now:
                            public_response = responses[int(r() * len(responses))]
                            resolved_at, resolved_ts, updated_at = resolved, ts(resolved), resolved
                            resolved_on_time = resolved <= resolve_by
                            responded.append((item_id, "public_response", resolved_ts, "system", partner_id, yes,
                                              public_response))
                            if ftype in LIGHT_TYPES:
                                status, closed_at, closed_ts = "closed", resolved, resolved_ts
                            else:
                                status = "resolved"
                                after = resolved + timedelta(seconds=86400 + r() * 12 * 86400)
                                verdict = r()
                                if after <= now and verdict < 0.45:
                                    status, closed_at, updated_at = "closed", after, after
                                    closed_ts = verified_ts = ts(after)
                                    verification = "verified"
                                    transitions.append((item_id, "confirmed", closed_ts, "submitter", yes,
                                                        "resolved", "closed"))
                                    if r() < 0.7:
                                        satisfaction = (3, 3, 2, 1)[int(r() * 4)]
                                elif after <= now and verdict < 0.55:
                                    # Disputed: back to work with a fresh answer deadline; the
                                    # resolution no longer counts (as in workflow.apply).
                                    status, verification, updated_at = "reopened", "disputed", after
                                    resolved_at = resolved_ts = resolved_on_time = None
                                    acknowledge_by = acknowledge_by_from(after, ack_days)
                                    resolve_by = after + resolve_days * DAY
                                    transitions.append((item_id, "disputed", ts(after), "submitter", yes,
                                                        "resolved", "reopened"))
                                elif resolved + AUTO_CLOSE_DAYS * DAY <= now:
                                    closed_at = resolved + AUTO_CLOSE_DAYS * DAY
                                    status, updated_at, closed_ts = "closed", closed_at, ts(closed_at)
                                    verification = "unconfirmed"
                                    transitions.append((item_id, "status_changed", closed_ts, "system", yes,
                                                        "resolved", "closed"))
                            # Moderated and published in "you said, we did" (S1 → S0).
                            if sensitivity == "S1" and publish_consent and r() < 0.5:
                                sensitivity = "S0"
                                public_summary = summaries[int(r() * len(summaries))]
                                published, published_ts = True, ts(resolved)
                                published_events.append((item_id, "published", published_ts, "moderator", yes))
            if status in ("received", "referred"):
                due_at = acknowledge_by
            elif status in ("acknowledged", "in_progress", "reopened"):
                due_at = resolve_by
            else:
                due_at = None

            items.append((
                item_id, new_code(), channel, site_id, ftype, topic_id, text,
                self.folded(text, public_summary, public_response), language, no,
                yes if publish_consent else no, gender, age_band,
                status, sensitivity, "urgent" if sensitivity == "S3" else "action", partner_id,
                shared_partner_id, received_ts, received_ts, ack_ts, resolved_ts, closed_ts,
                ts(updated_at),
                ts(acknowledge_by), ts(resolve_by), due_at and ts(due_at),
                None if acknowledged_on_time is None else (yes if acknowledged_on_time else no),
                None if resolved_on_time is None else (yes if resolved_on_time else no), 0,
                verification, verified_ts, public_summary, public_response, published_ts,
                yes if published else no, published_ts, 0, satisfaction,
            ))

            # The aggregates, exactly as stats.snapshot counts them.
            vector = (
                acknowledged_at is not None,
                bool(acknowledged_on_time),
                resolved_at is not None,
                bool(resolved_on_time),
                verification,
                status == "not_actionable",
                satisfaction,
            )
            month = month_of(received)
            protected = sensitivity == "S3"
            key = ((month, site_id, partner_id, topic_id, ftype, protected), vector)
            topic_counts[key] = topic_counts.get(key, 0) + 1
            key = ((month, site_id, partner_id, gender or "unknown", age_band or "unknown", protected), vector)
            equity_counts[key] = equity_counts.get(key, 0) + 1
            if acknowledged_at is not None:
                durations[(month, site_id, partner_id, "acknowledge", (acknowledged_at - received).days,
                           protected)] += 1
            if resolved_at is not None:
                durations[(month, site_id, partner_id, "resolve", (resolved_at - received).days, protected)] += 1
            if due_at is not None:
                dues[(due_at.date(), site_id, partner_id, protected)] += 1

        self.done += size
        self.next_id = item_id + 1
        delta = stats.StatDelta()
        delta.topic = _sum_counters(topic_counts)
        delta.equity = _sum_counters(equity_counts)
        delta.duration = durations
        delta.due = dues
        events = {"submitted": submitted, "routed": routed, "transition": transitions, "referred": referred,
                  "response": responded, "plain": published_events}
        return Batch(first_id, items, events, delta)


def _vector_counters(vector: tuple[Any, ...]) -> list[int]:
    """The COUNTERS of one item from its compact vector (see ``stats.counters``)."""
    acknowledged, ack_on_time, resolved, resolved_on_time, verification, not_actionable, rating = vector
    return [
        1, int(acknowledged), int(ack_on_time), int(resolved), int(resolved_on_time),
        int(verification == "verified"), int(verification == "disputed"), int(verification == "unconfirmed"),
        int(not_actionable), int(rating is not None), rating or 0,
        int(rating == 3), int(rating == 2), int(rating == 1),
    ]


def _sum_counters(counts: dict[Any, int]) -> dict[Any, Counter[str]]:
    vectors: dict[tuple[Any, ...], list[int]] = {}
    sums: dict[Any, list[int]] = {}
    width = len(COUNTERS)
    for (key, vector), n in counts.items():
        values = vectors.get(vector)
        if values is None:
            values = vectors[vector] = _vector_counters(vector)
        total = sums.get(key)
        if total is None:
            total = sums[key] = [0] * width
        for i in range(width):
            total[i] += values[i] * n
    return {key: Counter(dict(zip(COUNTERS, total, strict=True))) for key, total in sums.items()}


class _Writer:
    """Inserts batches through the driver's bulk path, in the caller's transaction."""

    def __init__(self, dialect: Any) -> None:
        self.sqlite = dialect.name == "sqlite"
        self.item_sql = self._compile(FeedbackItem.__table__, ITEM_COLUMNS, dialect)
        self.event_sql = {shape: self._compile(Event.__table__, columns, dialect)
                          for shape, columns in EVENT_SHAPES.items()}

    @staticmethod
    def _compile(table: Any, columns: tuple[str, ...], dialect: Any) -> str:
        compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
        if dialect.name == "sqlite" and tuple(compiled.positiontup or ()) != columns:
            # A column was added with a Python-side default, or the order changed.
            raise RuntimeError(f"feedback.bulk: the columns of {table.name} changed; update the bulk columns")
        return str(compiled)

    async def write(self, session: AsyncSession, batch: Batch) -> None:
        items, events = batch.items, batch.events
        if self.sqlite:
            # BEGIN IMMEDIATE holds the write lock: if another process added items since the
            # batch was built, move this batch's ids past them.
            current = (await session.scalar(select(func.max(FeedbackItem.id)))) or 0
            shift = current + 1 - batch.first_id
            if shift:
                items = [(row[0] + shift, *row[1:]) for row in items]
                events = {shape: [(row[0] + shift, *row[1:]) for row in rows] for shape, rows in events.items()}
        else:
            # Take the ids from the sequence, so concurrent writers never collide with them.
            sequence = func.pg_get_serial_sequence(FeedbackItem.__tablename__, "id")
            ids = (await session.scalars(
                select(func.nextval(sequence)).select_from(func.generate_series(1, len(items)))
            )).all()
            first = batch.first_id
            items = [(ids[row[0] - first], *row[1:]) for row in items]
            events = {shape: [(ids[row[0] - first], *row[1:]) for row in rows] for shape, rows in events.items()}
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        if self.sqlite:
            # SQLite evaluates each "x IN (...)" CHECK by building a little table for every row,
            # which costs a third of the insert; the rows are valid by construction (the tests
            # run PRAGMA integrity_check, which checks them), so the checks pause for the
            # batch. A bigger page cache keeps the indexes in memory as they grow.
            cache_size = (await (await driver.execute("PRAGMA cache_size")).fetchone())[0]
            await driver.execute("PRAGMA ignore_check_constraints = ON")
            await driver.execute("PRAGMA cache_size = -262144")
            try:
                await driver.executemany(self.item_sql, items)
                for shape, rows in events.items():
                    if rows:
                        await driver.executemany(self.event_sql[shape], rows)
            finally:
                await driver.execute("PRAGMA ignore_check_constraints = OFF")
                await driver.execute(f"PRAGMA cache_size = {int(cache_size)}")
        else:
            await driver.copy_records_to_table(FeedbackItem.__tablename__, records=items, columns=list(ITEM_COLUMNS))
            for shape, rows in events.items():
                if rows:
                    await driver.copy_records_to_table(Event.__tablename__, records=rows,
                                                       columns=list(EVENT_SHAPES[shape]))
        await batch.delta.write(session)


async def generate_items(
    write: async_sessionmaker[AsyncSession], count: int, *, batch_size: int = 50_000,
    progress: ProgressFn | None = None, seed: int | None = None, weekend: tuple[int, ...] = (5, 6),
    now: datetime | None = None, days: int = 365,
) -> int:
    """Bulk-load ``count`` items received over the last ``days`` days; returns how many."""
    if count <= 0:
        return 0
    now = (now or utcnow()).astimezone(UTC).replace(tzinfo=None)
    async with write() as session:
        dialect = session.get_bind().dialect
        ctx = await _load_context(session, weekend)
    writer = _Writer(dialect)
    generator = _Generator(ctx, random.Random(seed), now, sqlite=writer.sqlite,
                           start=now - timedelta(days=days), count=count)
    plan = [min(batch_size, count - start) for start in range(0, count, batch_size)]
    done = 0
    pending = asyncio.ensure_future(asyncio.to_thread(generator.batch, plan[0]))
    try:
        for index in range(len(plan)):
            batch = await pending
            if index + 1 < len(plan):
                # Build the next batch in a thread while this one is written.
                pending = asyncio.ensure_future(asyncio.to_thread(generator.batch, plan[index + 1]))
            async with write() as session, session.begin():
                await writer.write(session, batch)
            done += len(batch.items)
            if progress:
                progress(done, count)
    finally:
        if not pending.done():
            pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
    return done
