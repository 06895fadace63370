"""What the kiosk and web intake read: "you said, we did" items of a site, voice prompts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from feedback.models import FeedbackItem, Topic, VoicePrompt


@dataclass(frozen=True)
class YouSaidWeDid:
    """One published item as the start screen shows it: only moderated public text."""

    topic_icon: str
    topic_slug: str
    public_summary: str
    public_response: str


async def you_said_we_did(session: AsyncSession, site_id: int, limit: int = 3) -> list[YouSaidWeDid]:
    """The site's latest published items that have a public response (DESIGN §10: public text only)."""
    rows = await session.execute(
        select(Topic.icon, Topic.slug, FeedbackItem.public_summary, FeedbackItem.public_response)
        .join(Topic, Topic.id == FeedbackItem.topic_id)
        .where(
            FeedbackItem.site_id == site_id,
            FeedbackItem.published,
            FeedbackItem.sensitivity == "S0",
            FeedbackItem.public_summary.is_not(None),
            FeedbackItem.public_response.is_not(None),
        )
        .order_by(FeedbackItem.published_at.desc(), FeedbackItem.id.desc())
        .limit(limit)
    )
    return [YouSaidWeDid(icon, slug, summary, response) for icon, slug, summary, response in rows]


async def prompt_screens(session: AsyncSession, locale: str) -> frozenset[str]:
    """The kiosk screens that have a recorded voice prompt in ``locale``."""
    rows = await session.scalars(select(VoicePrompt.screen).where(VoicePrompt.locale == locale))
    return frozenset(rows)


async def prompt(session: AsyncSession, screen: str, locale: str) -> VoicePrompt | None:
    """One voice prompt with its recording loaded."""
    return await session.scalar(
        select(VoicePrompt)
        .options(undefer(VoicePrompt.content))
        .where(VoicePrompt.screen == screen, VoicePrompt.locale == locale)
    )
