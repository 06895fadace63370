"""The kiosks as staff see them: last contact, what waits on each device, codes left, version."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.models import Kiosk, ReservedCode, Site


@dataclass(frozen=True)
class KioskRow:
    id: int
    site_code: str
    site_name: str
    label: str
    created_at: datetime
    last_contact_at: datetime | None
    silent_days: int | None  # whole days without contact when over the limit, else None
    never_heard: bool
    queued_count: int
    rejected_count: int
    codes_left: int
    app_version: str | None


async def kiosk_rows(
    session: AsyncSession, now: datetime, silent_after_days: int, site_ids: Collection[int] | None = None
) -> list[KioskRow]:
    """Every kiosk (or those of ``site_ids``), by site and label, with its unused, unexpired codes."""
    left = (
        select(ReservedCode.kiosk_id, func.count().label("left"))
        .where(ReservedCode.used_at.is_(None), ReservedCode.expires_at > now)
        .group_by(ReservedCode.kiosk_id)
        .subquery()
    )
    query = (
        select(Kiosk, Site.code, Site.name, func.coalesce(left.c.left, 0))
        .join(Site, Site.id == Kiosk.site_id)
        .outerjoin(left, left.c.kiosk_id == Kiosk.id)
        .order_by(Site.code, Kiosk.label, Kiosk.id)
    )
    if site_ids is not None:
        query = query.where(Kiosk.site_id.in_(list(site_ids)))
    limit = now - timedelta(days=silent_after_days)
    rows = []
    for kiosk, code, name, codes_left in await session.execute(query):
        last = kiosk.last_contact_at
        silent = None
        if last is not None and last < limit:
            silent = (now - last).days
        rows.append(KioskRow(
            id=kiosk.id, site_code=code, site_name=name, label=kiosk.label, created_at=kiosk.created_at,
            last_contact_at=last, silent_days=silent, never_heard=last is None,
            queued_count=kiosk.queued_count, rejected_count=kiosk.rejected_count, codes_left=int(codes_left),
            app_version=kiosk.app_version,
        ))
    return rows

