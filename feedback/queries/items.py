"""Reading one item for staff: the item itself, its timeline, attachments and choices.

Each read goes through ``access.visibility``: an item the actor may not read is None, exactly
like an item that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload, undefer

from feedback.domain.access import Actor, visibility
from feedback.models import Attachment, Event, FeedbackItem, Partner


async def item_for(session: AsyncSession, actor: Actor, item_id: int, *, for_update: bool = False) -> FeedbackItem | None:
    """The item with its site, topic, code and partner, if this actor may read it."""
    statement = (
        select(FeedbackItem)
        .where(FeedbackItem.id == item_id, visibility(actor))
        .options(
            selectinload(FeedbackItem.site),
            selectinload(FeedbackItem.topic),
            selectinload(FeedbackItem.code),
            selectinload(FeedbackItem.partner),
        )
    )
    if for_update and session.get_bind().dialect.name == "postgresql":
        # Two staff acting at once: the second waits, then sees the first one's result.
        statement = statement.with_for_update(of=FeedbackItem)
    return await session.scalar(statement)


async def timeline(session: AsyncSession, item_id: int) -> Sequence[Event]:
    """Every event of the item, oldest first, with who did it."""
    return (
        await session.scalars(
            select(Event)
            .where(Event.item_id == item_id)
            .options(selectinload(Event.actor), selectinload(Event.partner))
            .order_by(Event.created_at, Event.id)
        )
    ).all()


async def attachments(session: AsyncSession, item_id: int) -> Sequence[Attachment]:
    """The item's voice note and photos (without their bytes)."""
    return (
        await session.scalars(select(Attachment).where(Attachment.item_id == item_id).order_by(Attachment.id))
    ).all()


async def attachment_for(session: AsyncSession, actor: Actor, item_id: int, attachment_id: int) -> Attachment | None:
    """One attachment with its bytes, if the actor may read its item."""
    return await session.scalar(
        select(Attachment)
        .join(FeedbackItem, FeedbackItem.id == Attachment.item_id)
        .where(Attachment.id == attachment_id, Attachment.item_id == item_id, visibility(actor))
        .options(undefer(Attachment.content))
    )


async def referral_partners(session: AsyncSession, exclude: int | None) -> Sequence[Partner]:
    """Partners an item can be referred to (all but its own)."""
    statement = select(Partner).order_by(Partner.name)
    if exclude is not None:
        statement = statement.where(Partner.id != exclude)
    return (await session.scalars(statement)).all()
