"""Messages waiting to be delivered, written in the same transaction as their cause."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from feedback.db import Base
from feedback.models.base import UTCDateTime, utcnow

OUTBOX_CHANNELS = ("sms", "email")
OUTBOX_STATUSES = ("pending", "sent", "failed")


class OutboxMessage(Base):
    """An SMS or e-mail to deliver, with its attempts and the time of the next try."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint(f"channel IN {OUTBOX_CHANNELS!r}", name="channel"),
        CheckConstraint(f"status IN {OUTBOX_STATUSES!r}", name="status"),
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(5), default="fr")
    # Why it was written ("assigned", "escalated", "status_update", "sms_reply", ...).
    purpose: Mapped[str] = mapped_column(String(24))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_item.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker claims a message until this time; after it, another worker may retry it.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Sent with the message so a gateway that deduplicates can drop a resend after a crash.
    message_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
