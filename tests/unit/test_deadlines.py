"""Deadline arithmetic (DESIGN §4): working days across weekends and holidays, calendar days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from feedback.domain import deadlines
from feedback.models import DeadlineRule, FeedbackItem

MALI_WEEKEND = (5, 6)  # Saturday, Sunday
NO_HOLIDAYS: frozenset[date] = frozenset()


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def add(start: datetime, days: int, holidays: frozenset[date] = NO_HOLIDAYS,
        weekend: tuple[int, ...] = MALI_WEEKEND) -> datetime:
    return deadlines.add_working_days(start, days, weekend=weekend, holidays=holidays)


# 2026-06-01 is a Monday.
@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (at("2026-06-01"), 2, at("2026-06-03")),  # Monday → Wednesday
        (at("2026-06-04"), 2, at("2026-06-08")),  # Thursday → Monday, over the weekend
        (at("2026-06-05"), 2, at("2026-06-09")),  # Friday → Tuesday
        (at("2026-06-05"), 1, at("2026-06-08")),  # Friday → Monday
        (at("2026-06-05"), 5, at("2026-06-12")),  # a whole working week
        (at("2026-06-05"), 10, at("2026-06-19")),  # two weekends
        (at("2026-06-01"), 0, at("2026-06-01")),
    ],
)
def test_working_days_skip_the_weekend(start: datetime, days: int, expected: datetime) -> None:
    assert add(start, days) == expected


def test_received_on_a_weekend_counts_from_monday_morning() -> None:
    # Saturday or Sunday: two whole working days (Monday and Tuesday), due at the end of Tuesday.
    assert add(at("2026-06-06", 15), 2) == at("2026-06-10", 0)
    assert add(at("2026-06-07", 23), 2) == at("2026-06-10", 0)
    assert add(at("2026-06-06", 15), 0) == at("2026-06-08", 0)


def test_holidays_are_not_working_days() -> None:
    # Independence Day (22 September 2026) is a Tuesday.
    holidays = frozenset({date(2026, 9, 22)})
    assert add(at("2026-09-21"), 2, holidays) == at("2026-09-24")  # Mon → Thu, Tuesday skipped
    assert add(at("2026-09-18"), 2, holidays) == at("2026-09-23")  # Fri → Wed: weekend and holiday
    # Received on the holiday itself: counts from Wednesday morning.
    assert add(at("2026-09-22", 9), 1, holidays) == at("2026-09-24", 0)


def test_holiday_next_to_a_weekend_and_consecutive_holidays() -> None:
    # Friday and the next Monday off around a weekend: Thursday + 1 working day is Tuesday.
    holidays = frozenset({date(2026, 6, 5), date(2026, 6, 8)})
    assert add(at("2026-06-04"), 1, holidays) == at("2026-06-09")
    assert add(at("2026-06-04"), 2, holidays) == at("2026-06-10")


def test_another_weekend_can_be_configured() -> None:
    # A Friday–Saturday weekend: Thursday + 1 working day is Sunday.
    assert add(at("2026-06-04"), 1, weekend=(4, 5)) == at("2026-06-07")
    with pytest.raises(ValueError):
        add(at("2026-06-04"), 1, weekend=(0, 1, 2, 3, 4, 5, 6))


def _item(feedback_type: str = "complaint", sensitivity: str = "S1", topic_id: int = 1,
          status: str = "received") -> FeedbackItem:
    return FeedbackItem(feedback_type=feedback_type, sensitivity=sensitivity, topic_id=topic_id, status=status)


def _calendar(*rules: DeadlineRule, holidays: frozenset[date] = NO_HOLIDAYS) -> deadlines.Calendar:
    return deadlines.Calendar(tuple(rules), holidays, MALI_WEEKEND)


def test_default_deadlines_follow_design() -> None:
    start = at("2026-06-05")  # Friday
    complaint = _item("complaint")
    deadlines.set_deadlines(complaint, _calendar(), start)
    assert complaint.acknowledge_by == at("2026-06-09")  # 2 working days
    assert complaint.resolve_by == start + timedelta(days=10)  # calendar days
    assert complaint.due_at == complaint.acknowledge_by
    question = _item("question")
    deadlines.set_deadlines(question, _calendar(), start)
    assert question.resolve_by == start + timedelta(days=5)


@pytest.mark.parametrize("sensitivity", ["S2", "S3"])
def test_sensitive_items_reach_safeguarding_within_24_hours_even_on_weekends(sensitivity: str) -> None:
    start = at("2026-06-05", 18)  # Friday evening
    item = _item(sensitivity=sensitivity)
    deadlines.set_deadlines(item, _calendar(holidays=frozenset({date(2026, 6, 6)})), start)
    assert item.acknowledge_by == start + timedelta(hours=24)


def test_most_specific_deadline_rule_wins() -> None:
    rules = (
        DeadlineRule(topic_id=None, feedback_type=None, acknowledge_working_days=3, resolve_days=20),
        DeadlineRule(topic_id=None, feedback_type="complaint", acknowledge_working_days=2, resolve_days=15),
        DeadlineRule(topic_id=7, feedback_type=None, acknowledge_working_days=1, resolve_days=7),
        DeadlineRule(topic_id=7, feedback_type="question", acknowledge_working_days=1, resolve_days=2),
    )
    assert deadlines.pick_rule(rules, 7, "question") == deadlines.DeadlinePolicy(1, 2)
    assert deadlines.pick_rule(rules, 7, "complaint") == deadlines.DeadlinePolicy(1, 7)  # topic beats type
    assert deadlines.pick_rule(rules, 3, "complaint") == deadlines.DeadlinePolicy(2, 15)
    assert deadlines.pick_rule(rules, 3, "suggestion") == deadlines.DeadlinePolicy(3, 20)
    assert deadlines.pick_rule((), 3, "question") == deadlines.DeadlinePolicy(2, 5)


def test_rule_deadlines_count_working_days_over_holidays() -> None:
    rule = DeadlineRule(topic_id=1, feedback_type=None, acknowledge_working_days=3, resolve_days=4)
    item = _item(topic_id=1)
    deadlines.set_deadlines(item, _calendar(rule, holidays=frozenset({date(2026, 6, 2)})), at("2026-06-01"))
    assert item.acknowledge_by == at("2026-06-05")  # Tue is a holiday: Wed, Thu, Fri
    assert item.resolve_by == at("2026-06-05")


@pytest.mark.parametrize(
    ("status", "due"),
    [
        ("received", "acknowledge"),
        ("referred", "acknowledge"),
        ("acknowledged", "resolve"),
        ("in_progress", "resolve"),
        ("reopened", "resolve"),
        ("resolved", None),
        ("closed", None),
        ("not_actionable", None),
    ],
)
def test_the_deadline_that_matters_follows_the_status(status: str, due: str | None) -> None:
    item = _item(status=status)
    item.acknowledge_by = at("2026-06-03")
    item.resolve_by = at("2026-06-11")
    deadlines.update_due(item)
    expected = {"acknowledge": item.acknowledge_by, "resolve": item.resolve_by, None: None}[due]
    assert item.due_at == expected
    assert deadlines.is_overdue(item, at("2026-06-20")) is (due is not None)
    assert not deadlines.is_overdue(item, at("2026-06-02"))
