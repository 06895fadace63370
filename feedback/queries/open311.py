"""The read side of Open311 GeoReport v2: services and published service requests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.models import FeedbackItem, TopicCode
from feedback.models.items import OPEN_STATUSES, STATUSES
from feedback.queries.exports import (
    PUBLIC_COLUMNS,
    Lookups,
    PublicItem,
    SiteInfo,
    TopicInfo,
    public_condition,
    to_public,
)

CLOSED_STATUSES = tuple(s for s in STATUSES if s not in OPEN_STATUSES)
# A location further than this from every site is not ours to answer.
MAX_SITE_DISTANCE_KM = 50.0


@dataclass(frozen=True)
class CodeInfo:
    slug: str
    labels: dict[str, str]

    def label(self, locale: str) -> str:
        return self.labels.get(locale) or self.labels["fr"]


async def topic_codes(session: AsyncSession, topic_ids: Sequence[int]) -> dict[int, list[CodeInfo]]:
    """Active codes under each topic, in a stable order."""
    result: dict[int, list[CodeInfo]] = {tid: [] for tid in topic_ids}
    rows = await session.scalars(
        select(TopicCode).where(TopicCode.topic_id.in_(list(topic_ids)), TopicCode.active).order_by(TopicCode.id)
    )
    for code in rows.all():
        labels = {"fr": code.label_fr, "bm": code.label_bm or code.label_fr, "en": code.label_en or code.label_fr}
        result.setdefault(code.topic_id, []).append(CodeInfo(code.slug, labels))
    return result


def active_topics(lookups: Lookups) -> list[TopicInfo]:
    return sorted((t for t in lookups.topics.values() if t.active), key=lambda t: (t.position, t.id))


@dataclass(frozen=True)
class RequestQuery:
    """GET requests: either tracking codes, or the other filters (already validated)."""

    codes: tuple[str, ...] = ()
    topic_ids: tuple[int, ...] = ()
    start: datetime | None = None  # inclusive, a Monday 00:00 UTC
    until: datetime | None = None  # exclusive, a Monday 00:00 UTC
    status: str | None = None  # "open" or "closed"
    offset: int = 0
    limit: int = 1000


async def find_requests(session: AsyncSession, lookups: Lookups, query: RequestQuery) -> list[PublicItem]:
    """Published items for GET requests, newest first."""
    item = FeedbackItem
    conditions: list[ColumnElement[bool]] = [public_condition()]
    if query.codes:
        conditions.append(item.tracking_code.in_(list(query.codes)))
    else:
        if query.topic_ids:
            conditions.append(item.topic_id.in_(list(query.topic_ids)))
        if query.start is not None:
            conditions.append(item.received_at >= query.start)
        if query.until is not None:
            conditions.append(item.received_at < query.until)
        if query.status == "open":
            conditions.append(item.status.in_(OPEN_STATUSES))
        elif query.status == "closed":
            conditions.append(item.status.in_(CLOSED_STATUSES))
    statement = (
        select(*PUBLIC_COLUMNS)
        .where(*conditions)
        .order_by(item.received_at.desc(), item.id.desc())
        .offset(query.offset)
        .limit(query.limit)
    )
    return [to_public(row, lookups) for row in (await session.execute(statement)).all()]


async def find_request(session: AsyncSession, lookups: Lookups, code: str) -> PublicItem | None:
    """One published item by tracking code."""
    statement = select(*PUBLIC_COLUMNS).where(public_condition(), FeedbackItem.tracking_code == code)
    row = (await session.execute(statement)).first()
    return to_public(row, lookups) if row is not None else None


async def code_exists(session: AsyncSession, code: str) -> bool:
    """Whether any item has this tracking code (for Open311 tokens; nothing else is told)."""
    found = await session.scalar(select(FeedbackItem.id).where(FeedbackItem.tracking_code == code))
    return found is not None


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    radius = 6371.0
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = math.radians(lat2 - lat1)
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(a))


def nearest_site(lookups: Lookups, lat: float, lon: float) -> SiteInfo | None:
    """The nearest active site with coordinates, if one is within ``MAX_SITE_DISTANCE_KM``."""
    best: tuple[float, SiteInfo] | None = None
    for site in lookups.sites.values():
        if not site.active or site.latitude is None or site.longitude is None:
            continue
        d = distance_km(lat, lon, site.latitude, site.longitude)
        if best is None or d < best[0]:
            best = (d, site)
    if best is None or best[0] > MAX_SITE_DISTANCE_KM:
        return None
    return best[1]
