"""What feedback is about (type → topic → code), and the rules that act on it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedback.db import Base
from feedback.models.base import UTCDateTime, utcnow

FEEDBACK_TYPES = ("complaint", "suggestion", "compliment", "question", "help_request")
SENSITIVITIES = ("S0", "S1", "S2", "S3")


class Topic(Base):
    """A topic of feedback with per-language labels, a pictogram and a minimum sensitivity.

    Topics are never deleted, only retired, so old items keep their coding.
    """

    __tablename__ = "topic"
    __table_args__ = (CheckConstraint(f"sensitivity IN {SENSITIVITIES!r}", name="sensitivity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    icon: Mapped[str] = mapped_column(String(40))
    label_fr: Mapped[str] = mapped_column(String(120))
    label_bm: Mapped[str] = mapped_column(String(120))
    label_en: Mapped[str] = mapped_column(String(120))
    sensitivity: Mapped[str] = mapped_column(String(2), default="S0")
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    def label(self, locale: str) -> str:
        return str(getattr(self, f"label_{locale}", None) or self.label_fr)


class TopicCode(Base):
    """The third level of coding under a topic (e.g. "unofficial payment", sensitive)."""

    __tablename__ = "topic_code"
    __table_args__ = (
        UniqueConstraint("topic_id", "slug", name="uq_topic_code_topic_slug"),
        CheckConstraint(f"sensitivity IN {SENSITIVITIES!r}", name="sensitivity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id", ondelete="RESTRICT"), index=True)
    slug: Mapped[str] = mapped_column(String(40))
    label_fr: Mapped[str] = mapped_column(String(120))
    label_bm: Mapped[str] = mapped_column(String(120))
    label_en: Mapped[str] = mapped_column(String(120))
    sensitivity: Mapped[str] = mapped_column(String(2), default="S0")
    active: Mapped[bool] = mapped_column(default=True)

    topic: Mapped[Topic] = relationship(lazy="raise")

    def label(self, locale: str) -> str:
        return str(getattr(self, f"label_{locale}", None) or self.label_fr)


class DeadlineRule(Base):
    """Deadlines for a (topic or any) × (type or any); the most specific rule applies."""

    __tablename__ = "deadline_rule"
    __table_args__ = (
        UniqueConstraint("topic_id", "feedback_type", name="uq_deadline_rule_topic_type"),
        CheckConstraint(
            f"feedback_type IS NULL OR feedback_type IN {FEEDBACK_TYPES!r}", name="feedback_type"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topic.id", ondelete="CASCADE"))
    feedback_type: Mapped[str | None] = mapped_column(String(16))
    acknowledge_working_days: Mapped[int] = mapped_column(Integer, default=2)
    resolve_days: Mapped[int] = mapped_column(Integer, default=10)


class RoutingRule(Base):
    """(site or any, topic or any) → partner; the most specific rule wins."""

    __tablename__ = "routing_rule"
    __table_args__ = (UniqueConstraint("site_id", "topic_id", name="uq_routing_rule_site_topic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topic.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Holiday(Base):
    """A public holiday: not a working day for triage deadlines."""

    __tablename__ = "holiday"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(120))


class VoicePrompt(Base):
    """A recorded voice prompt for one kiosk screen in one language (uploaded by an admin)."""

    __tablename__ = "voice_prompt"
    __table_args__ = (UniqueConstraint("screen", "locale", name="uq_voice_prompt_screen_locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    screen: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(5))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # Stored in the database (like attachments) so a backup carries the recordings.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dhis2Mapping(Base):
    """Maps a platform indicator to a DHIS2 data element code (for dataValueSets)."""

    __tablename__ = "dhis2_mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator: Mapped[str] = mapped_column(String(60), unique=True)
    data_element: Mapped[str] = mapped_column(String(60))
    category_option_combo: Mapped[str | None] = mapped_column(String(60))
