"""Deadlines (DESIGN §4): triage in working days, answers in calendar days.

Mali keeps one time zone all year (Africa/Bamako, UTC+0), so dates are taken in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.models import DeadlineRule, FeedbackItem, Holiday
from feedback.models.items import AnyItem

SENSITIVE = ("S2", "S3")


@dataclass(frozen=True)
class DeadlinePolicy:
    acknowledge_working_days: int
    resolve_days: int


def default_policy(feedback_type: str) -> DeadlinePolicy:
    """DESIGN §4: acknowledge within 2 working days; questions in 5 days, the rest in 10."""
    return DeadlinePolicy(2, 5 if feedback_type == "question" else 10)


def is_working_day(day: date, *, weekend: Iterable[int], holidays: Iterable[date]) -> bool:
    """Whether ``day`` is neither a weekend day (Monday = 0) nor a public holiday."""
    return day.weekday() not in set(weekend) and day not in set(holidays)


def add_working_days(
    start: datetime, days: int, *, weekend: Iterable[int], holidays: Iterable[date]
) -> datetime:
    """``start`` plus ``days`` working days.

    Counted at the same time of day, landing on a working day: received Friday 10:00, two
    working days end Tuesday 10:00. Work received on a weekend or holiday counts from the start
    of the next working day, so the partner still gets ``days`` whole working days: received
    Saturday, two working days end Wednesday 00:00 (the end of Tuesday).
    """
    off_days = frozenset(weekend)
    off_dates = frozenset(holidays)

    def working(moment: datetime) -> bool:
        return moment.weekday() not in off_days and moment.date() not in off_dates

    if len(off_days) >= 7:
        raise ValueError("a week needs at least one working day")
    current = start
    if not working(current):
        current = current.replace(hour=0, minute=0, second=0, microsecond=0)
        while not working(current):
            current += timedelta(days=1)
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if working(current):
            remaining -= 1
    return current


def pick_rule(rules: Iterable[DeadlineRule], topic_id: int, feedback_type: str) -> DeadlinePolicy:
    """The most specific rule: topic+type, then topic, then type, then any; else the default."""
    best: tuple[int, DeadlineRule] | None = None
    for rule in rules:
        if rule.topic_id not in (None, topic_id) or rule.feedback_type not in (None, feedback_type):
            continue
        score = (2 if rule.topic_id is not None else 0) + (1 if rule.feedback_type is not None else 0)
        if best is None or score > best[0]:
            best = (score, rule)
    if best is None:
        return default_policy(feedback_type)
    return DeadlinePolicy(best[1].acknowledge_working_days, best[1].resolve_days)


@dataclass(frozen=True)
class Calendar:
    """Everything deadline arithmetic needs, loaded once per transaction."""

    rules: tuple[DeadlineRule, ...]
    holidays: frozenset[date]
    weekend: tuple[int, ...]

    def policy(self, item: AnyItem) -> DeadlinePolicy:
        return pick_rule(self.rules, item.topic_id, item.feedback_type)


async def load_calendar(session: AsyncSession, weekend: tuple[int, ...]) -> Calendar:
    rules = (await session.scalars(select(DeadlineRule))).all()
    holidays = (await session.scalars(select(Holiday.day))).all()
    return Calendar(tuple(rules), frozenset(holidays), weekend)


def set_deadlines(item: AnyItem, calendar: Calendar, start: datetime) -> None:
    """Compute acknowledge-by and resolve-by from ``start`` (intake, referral or reopening)."""
    policy = calendar.policy(item)
    if item.sensitivity in SENSITIVE:
        # S2/S3 reach the safeguarding officer within 24 hours, weekends included.
        item.acknowledge_by = start + timedelta(hours=24)
    else:
        item.acknowledge_by = add_working_days(
            start, policy.acknowledge_working_days, weekend=calendar.weekend, holidays=calendar.holidays
        )
    item.resolve_by = start + timedelta(days=policy.resolve_days)
    update_due(item)


def update_due(item: AnyItem) -> None:
    """The deadline that matters now; NULL once the item is no longer waiting on a partner."""
    if item.status in ("received", "referred"):
        item.due_at = item.acknowledge_by
    elif item.status in ("acknowledged", "in_progress", "reopened"):
        item.due_at = item.resolve_by
    else:
        item.due_at = None


def is_overdue(item: FeedbackItem, now: datetime) -> bool:
    return item.due_at is not None and item.due_at < now
