"""Sign-in attempts (for throttling across processes) and spent single-use tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from feedback.db import Base
from feedback.models.base import UTCDateTime, utcnow


class LoginAttempt(Base):
    """A failed sign-in, by account and by address; old rows are purged by the worker."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_login_at", "login", "attempted_at"),
        Index("ix_login_attempt_address_at", "address", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsedToken(Base):
    """A single-use token (password reset link) that has been spent."""

    __tablename__ = "used_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
