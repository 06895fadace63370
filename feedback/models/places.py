"""Where feedback comes from: areas, sites, and the kiosks standing in them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedback.db import Base
from feedback.models.base import UTCDateTime, utcnow

AREA_LEVELS = ("region", "cercle", "commune", "quartier")
SITE_KINDS = ("cscom", "csref", "community", "other")


class Area(Base):
    """Administrative hierarchy: region → cercle/district → commune → quartier/village."""

    __tablename__ = "area"
    __table_args__ = (CheckConstraint(f"level IN {AREA_LEVELS!r}", name="level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)

    parent: Mapped[Area | None] = relationship(remote_side=[id], lazy="raise")


class Site(Base):
    """A place where feedback is collected or about which it is given."""

    __tablename__ = "site"
    __table_args__ = (CheckConstraint(f"kind IN {SITE_KINDS!r}", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # Languages the waiting-room display rotates through, e.g. "bm,fr".
    languages: Mapped[str] = mapped_column(String(20), default="bm,fr")
    dhis2_org_unit: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    area: Mapped[Area | None] = relationship(lazy="raise")


class Kiosk(Base):
    """A touch kiosk (or tablet) registered at a site; reports its health when online."""

    __tablename__ = "kiosk"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="RESTRICT"), index=True)
    label: Mapped[str] = mapped_column(String(80))
    # SHA-256 of the device token the kiosk holds; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queued_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    app_version: Mapped[str | None] = mapped_column(String(40))

    site: Mapped[Site] = relationship(lazy="raise")


class ReservedCode(Base):
    """A tracking code handed to one kiosk in advance, so it can give receipts offline."""

    __tablename__ = "reserved_code"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(ForeignKey("kiosk.id", ondelete="CASCADE"), index=True)
    reserved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
