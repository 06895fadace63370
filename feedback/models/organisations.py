"""Who answers feedback: partners, their staff accounts, and integrators' API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedback.db import Base
from feedback.models.base import UTCDateTime, utcnow

PARTNER_KINDS = ("asaco", "cscom", "csref", "district", "ngo", "chw_programme", "safeguarding", "other")

ROLES = (
    "partner_agent",
    "partner_manager",
    "moderator",
    "community_monitor",
    "safeguarding_officer",
    "admin",
)
PARTNER_ROLES = ("partner_agent", "partner_manager")
LOCALES = ("fr", "bm", "en")


class Partner(Base):
    """An organisation that answers feedback; late items escalate to its escalation partner."""

    __tablename__ = "partner"
    __table_args__ = (CheckConstraint(f"kind IN {PARTNER_KINDS!r}", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(16))
    escalation_partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="SET NULL"), index=True
    )
    # The facility a partner runs, if any: S3 items about that site never go to it.
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id", ondelete="SET NULL"), index=True)
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(5), default="fr")
    is_default: Mapped[bool] = mapped_column(default=False)
    is_safeguarding: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    escalation_partner: Mapped[Partner | None] = relationship(remote_side=[id], lazy="raise")


class User(Base):
    """A staff account."""

    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES!r}", name="role"),
        CheckConstraint(f"locale IN {LOCALES!r}", name="locale"),
        CheckConstraint(
            "partner_id IS NOT NULL OR role NOT IN ('partner_agent', 'partner_manager')",
            name="partner_role_has_partner",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(24))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="RESTRICT"), index=True)
    locale: Mapped[str] = mapped_column(String(5), default="fr")
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on password change or reset: older sessions and reset links stop working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    partner: Mapped[Partner | None] = relationship(lazy="raise")


class UserSite(Base):
    """The sites a community monitor watches over."""

    __tablename__ = "user_site"
    __table_args__ = (UniqueConstraint("user_id", "site_id", name="uq_user_site_user_site"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)


class ApiKey(Base):
    """An Open311 API key issued to a partner or an integrator; only its hash is stored."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
