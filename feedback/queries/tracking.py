"""The read side of tracking: an item by its code and its public timeline, nothing personal.

The page never receives the item's original text, contact or voice note: this module hands it
a ``TrackedItem`` made only of the fields the submitter may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.models import Event, FeedbackItem, Partner, Site, Topic

# Event kinds the public timeline shows (other public kinds are summarised by these).
TIMELINE_KINDS = (
    "submitted", "routed", "acknowledged", "status_changed", "public_response", "referred",
    "escalated", "published", "confirmed", "disputed", "rated",
)
SENSITIVE = ("S2", "S3")


@dataclass(frozen=True)
class TimelineEntry:
    kind: str
    created_at: datetime
    to_status: str | None
    partner_name: str | None
    # Only a partner's public response carries text (written for the public by staff).
    body: str | None


@dataclass(frozen=True)
class TrackedItem:
    """What the holder of a tracking code sees."""

    id: int
    tracking_code: str
    status: str
    feedback_type: str
    topic: Topic | None
    site: Site
    partner_name: str | None
    sensitive: bool
    received_at: datetime
    acknowledge_by: datetime | None
    resolve_by: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    acknowledged_on_time: bool | None
    resolved_on_time: bool | None
    due_at: datetime | None
    verification: str | None
    satisfaction: int | None
    public_response: str | None
    me_too_count: int
    timeline: list[TimelineEntry]


async def item_by_code(session: AsyncSession, code: str) -> FeedbackItem | None:
    """The item with this (normalised) tracking code."""
    return await session.scalar(select(FeedbackItem).where(FeedbackItem.tracking_code == code))


async def tracked(session: AsyncSession, item: FeedbackItem) -> TrackedItem:
    """The public view of one item for its tracking page."""
    sensitive = item.sensitivity in SENSITIVE
    site = await session.get(Site, item.site_id)
    assert site is not None
    topic = None if sensitive else await session.get(Topic, item.topic_id)
    partner_names: dict[int, str] = {}
    rows = (
        await session.execute(
            select(Event.kind, Event.created_at, Event.to_status, Event.partner_id, Event.body)
            .where(Event.item_id == item.id, Event.public.is_(True), Event.kind.in_(TIMELINE_KINDS))
            .order_by(Event.created_at, Event.id)
        )
    ).all()
    ids = {r.partner_id for r in rows if r.partner_id} | ({item.partner_id} if item.partner_id else set())
    if ids and not sensitive:
        partner_names = dict((await session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(ids)))).all())
    timeline = [
        TimelineEntry(
            kind=r.kind,
            created_at=r.created_at,
            to_status=r.to_status,
            # Who handles a sensitive report is not shown: the receipt may fall into other hands.
            partner_name=partner_names.get(r.partner_id) if r.partner_id else None,
            body=r.body if r.kind == "public_response" and not sensitive else None,
        )
        for r in rows
    ]
    return TrackedItem(
        id=item.id,
        tracking_code=item.tracking_code,
        status=item.status,
        feedback_type=item.feedback_type,
        topic=topic,
        site=site,
        partner_name=partner_names.get(item.partner_id) if item.partner_id else None,
        sensitive=sensitive,
        received_at=item.received_at,
        acknowledge_by=item.acknowledge_by,
        resolve_by=item.resolve_by,
        acknowledged_at=item.acknowledged_at,
        resolved_at=item.resolved_at,
        acknowledged_on_time=item.acknowledged_on_time,
        resolved_on_time=item.resolved_on_time,
        due_at=item.due_at,
        verification=item.verification,
        satisfaction=item.satisfaction,
        public_response=None if sensitive else item.public_response,
        me_too_count=item.me_too_count,
        timeline=timeline,
    )
