"""Board aggregates, kept up to date on every write so boards never scan items.

Each row is keyed by the month an item was received in and the dimensions a board filters on.
``protected`` marks S3 items: they count in national totals only, never per site or partner.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from feedback.db import Base

COUNTERS = (
    "received",
    "acknowledged",
    "acknowledged_on_time",
    "resolved",
    "resolved_on_time",
    "verified",
    "disputed",
    "closed_unconfirmed",
    "not_actionable",
    "rated",
    "rating_sum",
    "rated_happy",
    "rated_neutral",
    "rated_sad",
)


class _Counters:
    received: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_on_time: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    resolved_on_time: Mapped[int] = mapped_column(Integer, default=0)
    verified: Mapped[int] = mapped_column(Integer, default=0)
    disputed: Mapped[int] = mapped_column(Integer, default=0)
    closed_unconfirmed: Mapped[int] = mapped_column(Integer, default=0)
    not_actionable: Mapped[int] = mapped_column(Integer, default=0)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    rated_happy: Mapped[int] = mapped_column(Integer, default=0)
    rated_neutral: Mapped[int] = mapped_column(Integer, default=0)
    rated_sad: Mapped[int] = mapped_column(Integer, default=0)


class TopicStat(_Counters, Base):
    """Counters per month × site × partner × topic × type."""

    __tablename__ = "stat_topic"
    __table_args__ = (
        UniqueConstraint(
            "month", "site_id", "partner_id", "topic_id", "feedback_type", "protected", name="uq_stat_topic_key"
        ),
        Index("ix_stat_topic_site_month", "site_id", "month"),
        Index("ix_stat_topic_partner_month", "partner_id", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id", ondelete="CASCADE"))
    feedback_type: Mapped[str] = mapped_column(String(16))
    protected: Mapped[bool] = mapped_column(default=False)


class EquityStat(_Counters, Base):
    """Counters per month × site × partner × self-described gender and age band."""

    __tablename__ = "stat_equity"
    __table_args__ = (
        UniqueConstraint("month", "site_id", "partner_id", "gender", "age_band", "protected", name="uq_stat_equity_key"),
        Index("ix_stat_equity_site_month", "site_id", "month"),
        Index("ix_stat_equity_partner_month", "partner_id", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"))
    gender: Mapped[str] = mapped_column(String(12))
    age_band: Mapped[str] = mapped_column(String(12))
    protected: Mapped[bool] = mapped_column(default=False)


class DurationStat(Base):
    """How many items took N whole days to be acknowledged or resolved (for medians)."""

    __tablename__ = "stat_duration"
    __table_args__ = (
        UniqueConstraint("month", "site_id", "partner_id", "metric", "days", "protected", name="uq_stat_duration_key"),
        Index("ix_stat_duration_site_month", "site_id", "month"),
        Index("ix_stat_duration_partner_month", "partner_id", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(12))
    days: Mapped[int] = mapped_column(Integer)
    protected: Mapped[bool] = mapped_column(default=False)
    count: Mapped[int] = mapped_column(Integer, default=0)


class DueStat(Base):
    """How many open items have their current deadline (``due_at``) on each day.

    "Overdue now" sums the days before today and counts only today's items one by one, so the
    boards never scan the (possibly hundreds of thousands of) overdue items.
    """

    __tablename__ = "stat_due"
    __table_args__ = (
        UniqueConstraint("due_day", "site_id", "partner_id", "protected", name="uq_stat_due_key"),
        Index("ix_stat_due_site_day", "site_id", "due_day"),
        Index("ix_stat_due_partner_day", "partner_id", "due_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    due_day: Mapped[date] = mapped_column(Date)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"))
    protected: Mapped[bool] = mapped_column(default=False)
    count: Mapped[int] = mapped_column(Integer, default=0)


# --- National roll-ups ---------------------------------------------------------------------
# The national board would otherwise add up every site × partner row of the tables above
# (tens of thousands at a million items). These hold the same counters without the site and
# partner dimensions, written by the same ``StatDelta`` in the same transaction. They include
# S3 items: national totals are the one place S3 counts.


class DueMonthStat(Base):
    """``stat_due`` by month of the deadline: "overdue now" nationally adds up the months before
    this one from here and only this month's days from ``stat_due``."""

    __tablename__ = "stat_due_month"
    __table_args__ = (
        UniqueConstraint("due_month", "site_id", "partner_id", "protected", name="uq_stat_due_month_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    due_month: Mapped[date] = mapped_column(Date)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    protected: Mapped[bool] = mapped_column(default=False)
    count: Mapped[int] = mapped_column(Integer, default=0)


class PlaceStat(_Counters, Base):
    """Counters per month × site × partner, whatever the topic: the national rankings."""

    __tablename__ = "stat_place"
    __table_args__ = (UniqueConstraint("month", "site_id", "partner_id", "protected", name="uq_stat_place_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    protected: Mapped[bool] = mapped_column(default=False)


class NationalTopicStat(_Counters, Base):
    """Counters per month × topic × type over the whole country."""

    __tablename__ = "stat_national_topic"
    __table_args__ = (UniqueConstraint("month", "topic_id", "feedback_type", name="uq_stat_national_topic_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id", ondelete="CASCADE"), index=True)
    feedback_type: Mapped[str] = mapped_column(String(16))


class NationalEquityStat(_Counters, Base):
    """Counters per month × self-described gender and age band over the whole country."""

    __tablename__ = "stat_national_equity"
    __table_args__ = (UniqueConstraint("month", "gender", "age_band", name="uq_stat_national_equity_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(12))
    age_band: Mapped[str] = mapped_column(String(12))


class NationalDurationStat(Base):
    """Days to acknowledge or resolve (for medians) over the whole country."""

    __tablename__ = "stat_national_duration"
    __table_args__ = (UniqueConstraint("month", "metric", "days", name="uq_stat_national_duration_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(String(12))
    days: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer, default=0)


# --- Per-site roll-ups ---------------------------------------------------------------------
# A site's board would otherwise add up the rows of every partner answering at that site (three
# to five at a CSCOM: ~6,000 rows for twelve months at a million items). These hold the per-site
# counters without the partner, written by the same ``StatDelta`` in the same transaction.


class SiteTopicStat(_Counters, Base):
    """Counters per month × site × topic × type, whatever the partner."""

    __tablename__ = "stat_site_topic"
    __table_args__ = (
        UniqueConstraint("month", "site_id", "topic_id", "feedback_type", "protected", name="uq_stat_site_topic_key"),
        Index("ix_stat_site_topic_site_month", "site_id", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id", ondelete="CASCADE"), index=True)
    feedback_type: Mapped[str] = mapped_column(String(16))
    protected: Mapped[bool] = mapped_column(default=False)


class SiteEquityStat(_Counters, Base):
    """Counters per month × site × self-described gender and age band, whatever the partner."""

    __tablename__ = "stat_site_equity"
    __table_args__ = (
        UniqueConstraint("month", "site_id", "gender", "age_band", "protected", name="uq_stat_site_equity_key"),
        Index("ix_stat_site_equity_site_month", "site_id", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    gender: Mapped[str] = mapped_column(String(12))
    age_band: Mapped[str] = mapped_column(String(12))
    protected: Mapped[bool] = mapped_column(default=False)


class SiteDurationStat(Base):
    """Days to acknowledge or resolve (for medians) per month × site, whatever the partner."""

    __tablename__ = "stat_site_duration"
    __table_args__ = (
        UniqueConstraint("month", "site_id", "metric", "days", "protected", name="uq_stat_site_duration_key"),
        Index("ix_stat_site_duration_site_month", "site_id", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(12))
    days: Mapped[int] = mapped_column(Integer)
    protected: Mapped[bool] = mapped_column(default=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
