"""Feedback items, their append-only timeline of events, and their attachments."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, relationship

from feedback.db import Base
from feedback.models.base import UTCDateTime, utcnow
from feedback.models.taxonomy import FEEDBACK_TYPES, SENSITIVITIES

STATUSES = (
    "received",
    "acknowledged",
    "in_progress",
    "resolved",
    "closed",
    "referred",
    "not_actionable",
    "reopened",
)
OPEN_STATUSES = ("received", "acknowledged", "in_progress", "referred", "reopened")
CHANNELS = ("kiosk", "web", "sms", "api", "paper")
CRITICALITIES = ("urgent", "action", "monitor")
GENDERS = ("female", "male", "other", "undisclosed")
AGE_BANDS = ("under_18", "18_24", "25_34", "35_49", "50_plus", "undisclosed")
VERIFICATIONS = ("verified", "disputed", "unconfirmed")
EVENT_KINDS = (
    "submitted",
    "routed",
    "acknowledged",
    "status_changed",
    "public_response",
    "internal_note",
    "referred",
    "escalated",
    "published",
    "unpublished",
    "confirmed",
    "disputed",
    "rated",
    "supported",
    "moderated",
    "sensitivity_changed",
    "viewed",
    "observation",
    "attachment_added",
    "contact_erased",
    "transcribed",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN {values!r}"


class FeedbackItem(Base):
    """One piece of feedback from a community member."""

    __tablename__ = "feedback_item"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("sensitivity", SENSITIVITIES), name="sensitivity"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("feedback_type", FEEDBACK_TYPES), name="feedback_type"),
        CheckConstraint(_in("criticality", CRITICALITIES), name="criticality"),
        CheckConstraint(f"gender IS NULL OR {_in('gender', GENDERS)}", name="gender"),
        CheckConstraint(f"age_band IS NULL OR {_in('age_band', AGE_BANDS)}", name="age_band"),
        CheckConstraint(
            f"verification IS NULL OR {_in('verification', VERIFICATIONS)}", name="verification"
        ),
        CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 3", name="satisfaction"),
        CheckConstraint("me_too_count >= 0", name="me_too_count"),
        # The inbox: a partner's items, most urgent deadline first.
        Index("ix_feedback_item_partner_due", "partner_id", "status", "due_at"),
        Index("ix_feedback_item_partner_received", "partner_id", "received_at"),
        Index("ix_feedback_item_site_received", "site_id", "received_at"),
        # "Overdue now" on the boards counts only open items with a deadline, per site, partner
        # and S3 or not, from this index alone.
        Index(
            "ix_feedback_item_due_open",
            "due_at",
            "site_id",
            "partner_id",
            "sensitivity",
            sqlite_where=text("due_at IS NOT NULL"),
            postgresql_where=text("due_at IS NOT NULL"),
        ),
        # "You said, we did": published items, newest first, with the columns its filters test
        # (so a filter by site, topic or status never reads the table).
        Index(
            "ix_feedback_item_published",
            "published_at",
            "id",
            "site_id",
            "topic_id",
            "status",
            "sensitivity",
            sqlite_where=text("published = 1"),
            postgresql_where=text("published"),
        ),
        # Open data (Open311 requests, exports, feeds): published items by date received (with
        # the columns their filters test, so a filter never reads the table), and by date resolved.
        Index(
            "ix_feedback_item_public_received",
            "received_at",
            "id",
            "topic_id",
            "status",
            "sensitivity",
            "publish_consent",
            sqlite_where=text("published = 1"),
            postgresql_where=text("published"),
        ),
        Index(
            "ix_feedback_item_public_resolved",
            "resolved_at",
            sqlite_where=text("published = 1"),
            postgresql_where=text("published"),
        ),
        Index("ix_feedback_item_moderation", "moderated_at", "received_at"),
        Index("ix_feedback_item_closed_contact", "closed_at", "contact_phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_code: Mapped[str] = mapped_column(String(12), unique=True)
    # Set by the page for each submission: a double tap or a retry finds the same item.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="RESTRICT"))
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosk.id", ondelete="SET NULL"))
    feedback_type: Mapped[str] = mapped_column(String(16))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id", ondelete="RESTRICT"), index=True)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("topic_code.id", ondelete="RESTRICT"))
    text: Mapped[str] = mapped_column(Text, default="")
    # Lower-cased, accent- and Bambara-letter-folded copy of text, summary and transcript.
    search_text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(5))
    transcript: Mapped[str | None] = mapped_column(Text)
    translation: Mapped[str | None] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(160))
    contact_consent: Mapped[bool] = mapped_column(default=False)
    # None: never asked (SMS/API); such items stay in totals only.
    publish_consent: Mapped[bool | None] = mapped_column()
    gender: Mapped[str | None] = mapped_column(String(12))
    age_band: Mapped[str | None] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(16), default="received")
    sensitivity: Mapped[str] = mapped_column(String(2), default="S1")
    criticality: Mapped[str] = mapped_column(String(8), default="action")
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="RESTRICT"))
    # For S2 items: the partner the rules would have chosen; its managers may read the item.
    shared_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="SET NULL"))
    # Time on the device when the person pressed send (differs from received_at offline).
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledge_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The deadline that matters now (acknowledge_by, then resolve_by); NULL once settled.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_on_time: Mapped[bool | None] = mapped_column()
    resolved_on_time: Mapped[bool | None] = mapped_column()
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    # Which deadline (ISO timestamp) was last escalated, so each miss escalates once.
    escalated_for: Mapped[str | None] = mapped_column(String(40))
    # The partner up the chain the item was last escalated to; its managers may follow it up.
    escalated_to_partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="SET NULL"), index=True
    )
    verification: Mapped[str | None] = mapped_column(String(12))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    public_summary: Mapped[str | None] = mapped_column(Text)
    public_response: Mapped[str | None] = mapped_column(Text)
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    me_too_count: Mapped[int] = mapped_column(Integer, default=0)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    contact_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Any] = relationship("Site", lazy="raise")
    topic: Mapped[Any] = relationship("Topic", lazy="raise")
    code: Mapped[Any] = relationship("TopicCode", lazy="raise")
    partner: Mapped[Any] = relationship("Partner", lazy="raise", foreign_keys=[partner_id])

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(slots=True)
class NewItem:
    """A feedback item about to be stored: the columns intake sets, as a plain object.

    Intake builds one per submission, routes it and sets its deadlines, then inserts many at
    once; an ORM ``FeedbackItem`` would track every one of those assignments for nothing.
    Routing, deadlines, aggregates and notifications read it as they read a ``FeedbackItem``.
    """

    tracking_code: str
    idempotency_key: str | None
    channel: str
    site_id: int
    kiosk_id: int | None
    feedback_type: str
    topic_id: int
    code_id: int | None
    text: str
    search_text: str
    language: str
    contact_phone: str | None
    contact_email: str | None
    contact_name: str | None
    contact_consent: bool
    publish_consent: bool | None
    gender: str | None
    age_band: str | None
    status: str
    sensitivity: str
    criticality: str
    submitted_at: datetime
    received_at: datetime
    updated_at: datetime
    partner_id: int | None = None
    shared_partner_id: int | None = None
    acknowledge_by: datetime | None = None
    resolve_by: datetime | None = None
    due_at: datetime | None = None
    # Known once inserted; the rest is what a new item has not had yet.
    id: int | None = None
    acknowledged_at: None = None
    resolved_at: None = None
    acknowledged_on_time: None = None
    resolved_on_time: None = None
    verification: None = None
    satisfaction: None = None

    def columns(self) -> dict[str, Any]:
        """The values of the INSERT (the columns not named here take their defaults)."""
        return {name: getattr(self, name) for name in _NEW_ITEM_COLUMNS}


_NEW_ITEM_COLUMNS = tuple(f.name for f in fields(NewItem))[: [f.name for f in fields(NewItem)].index("id")]
# Either kind of item, for the rules that read one (routing, deadlines, aggregates, notices).
AnyItem = FeedbackItem | NewItem


class Event(Base):
    """One entry of an item's timeline. Events are only ever appended, never changed."""

    __tablename__ = "event"
    __table_args__ = (
        CheckConstraint(_in("kind", EVENT_KINDS), name="kind"),
        Index("ix_event_item_created", "item_id", "created_at"),
        Index("ix_event_actor_created", "actor_user_id", "created_at"),
        Index("ix_event_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("feedback_item.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    # "submitter", "system", "community", "api:<key name>" when there is no user.
    actor_label: Mapped[str | None] = mapped_column(String(80))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="RESTRICT"))
    public: Mapped[bool] = mapped_column(default=False)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    actor: Mapped[Any] = relationship("User", lazy="raise")
    partner: Mapped[Any] = relationship("Partner", lazy="raise")


@event.listens_for(Session, "before_flush")
def _events_are_append_only(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Event) and (obj in session.deleted or session.is_modified(obj)):
            raise PermissionError("events are append-only")


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_event_changes(state: ORMExecuteState) -> None:
    # The same rule for UPDATE/DELETE statements run through a session (update(Event)...).
    if state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) == Event.__tablename__:
            raise PermissionError("events are append-only")


class Attachment(Base):
    """A voice note or photo: type sniffed from its bytes, size-limited, hashed."""

    __tablename__ = "attachment"
    __table_args__ = (CheckConstraint("kind IN ('voice', 'photo')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("feedback_item.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # Stored in the database so a backup carries it and no path can be traversed.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Support(Base):
    """A "me too" on a published item, once per device."""

    __tablename__ = "support"
    __table_args__ = (UniqueConstraint("item_id", "device_hash", name="uq_support_item_device"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("feedback_item.id", ondelete="CASCADE"))
    device_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundSms(Base):
    """A message received from the SMS gateway; its gateway id makes redelivery harmless."""

    __tablename__ = "inbound_sms"

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway_message_id: Mapped[str] = mapped_column(String(120), unique=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_item.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
