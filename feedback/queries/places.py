"""Reading sites, partners and topics."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.models import Partner, Site, Topic


async def active_sites(session: AsyncSession) -> Sequence[Site]:
    return (await session.scalars(select(Site).where(Site.active).order_by(Site.name))).all()


async def site_by_code(session: AsyncSession, code: str) -> Site | None:
    return await session.scalar(select(Site).where(Site.code == code.upper(), Site.active))


async def partner_by_slug(session: AsyncSession, slug: str) -> Partner | None:
    return await session.scalar(select(Partner).where(Partner.slug == slug))


async def partners(session: AsyncSession) -> Sequence[Partner]:
    return (await session.scalars(select(Partner).order_by(Partner.name))).all()


async def active_topics(session: AsyncSession) -> Sequence[Topic]:
    return (
        await session.scalars(select(Topic).where(Topic.active).order_by(Topic.position, Topic.id))
    ).all()
