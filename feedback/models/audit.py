"""The administrators' audit trail: an append-only log of configuration changes.

Items keep their own timeline (events); this log is for everything else an admin changes
(places, partners, users, taxonomy, rules, prompts, keys, imports).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from feedback.db import Base
from feedback.models.base import UTCDateTime, utcnow


class AdminLog(Base):
    """One configuration change: who, when, what (action), on what (target), and the details."""

    __tablename__ = "admin_log"
    __table_args__ = (Index("ix_admin_log_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # The login at the time (kept when the account is later renamed or removed).
    actor_label: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(160))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
