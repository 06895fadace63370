"""What the submitter may do with a tracking code: confirm, dispute, rate — each once per item.

Confirm and dispute are lifecycle actions and go through ``workflow.apply`` as the SUBMITTER;
a rating changes what boards count, so it is wrapped in ``stats.snapshot`` / ``stats.record``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.domain import stats, workflow
from feedback.domain.access import SUBMITTER
from feedback.i18n import N_
from feedback.models import Event, FeedbackItem, utcnow
from feedback.text import nfc

ACTIONS = ("confirm", "dispute", "rate")
EVENT_OF = {"confirm": "confirmed", "dispute": "disputed", "rate": "rated"}
MAX_REASON = 1000
# A response can be rated once the partner has answered.
RATEABLE = ("resolved", "closed", "not_actionable")
SATISFACTION = {1: "sad", 2: "neutral", 3: "happy"}


class ActionRefused(Exception):
    """The submitter may not do this now; ``message`` is a gettext msgid."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def done_actions(session: AsyncSession, item_id: int) -> set[str]:
    """The submitter actions already taken on an item (each is possible once)."""
    rows = await session.scalars(
        select(Event.kind).where(
            Event.item_id == item_id,
            Event.actor_label == SUBMITTER.label,
            Event.kind.in_(tuple(EVENT_OF.values())),
        )
    )
    kinds = set(rows.all())
    return {action for action, kind in EVENT_OF.items() if kind in kinds}


async def available_actions(session: AsyncSession, item: FeedbackItem) -> list[str]:
    """What the submitter can do now, for the buttons on the tracking page."""
    done = await done_actions(session, item.id)
    result = []
    if "confirm" not in done and "confirm" in workflow.allowed_actions(item, SUBMITTER):
        result.append("confirm")
    if "dispute" not in done and "dispute" in workflow.allowed_actions(item, SUBMITTER):
        result.append("dispute")
    if "rate" not in done and item.satisfaction is None and item.status in RATEABLE:
        result.append("rate")
    return result


async def _lock(session: AsyncSession, item: FeedbackItem) -> None:
    # Serialises two submitter actions on the same item (PostgreSQL; SQLite writers queue anyway).
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(FeedbackItem.id).where(FeedbackItem.id == item.id).with_for_update())
        await session.refresh(item)


async def confirm(session: AsyncSession, item: FeedbackItem, *, base_url: str = "",
                  weekend: tuple[int, ...] = (5, 6), now: datetime | None = None) -> FeedbackItem:
    """The submitter confirms the resolution: the item is closed as verified."""
    await _lock(session, item)
    if "confirm" in await done_actions(session, item.id):
        raise ActionRefused(N_("You have already confirmed this resolution."))
    try:
        return await workflow.apply(session, item, "confirm", SUBMITTER, base_url=base_url,
                                    weekend=weekend, now=now)
    except workflow.TransitionRefused as exc:
        raise ActionRefused(N_("This can be confirmed only after the partner has resolved it.")) from exc


async def dispute(session: AsyncSession, item: FeedbackItem, reason: str | None = None, *,
                  base_url: str = "", weekend: tuple[int, ...] = (5, 6),
                  now: datetime | None = None) -> FeedbackItem:
    """The submitter disputes the resolution: the item is reopened (the reason stays internal)."""
    await _lock(session, item)
    reason = nfc(reason)
    if len(reason) > MAX_REASON:
        raise ActionRefused(N_("The reason is too long (at most 1000 characters)."))
    if "dispute" in await done_actions(session, item.id):
        raise ActionRefused(N_("You have already disputed this item once."))
    try:
        return await workflow.apply(session, item, "dispute", SUBMITTER, note=reason or None,
                                    base_url=base_url, weekend=weekend, now=now)
    except workflow.TransitionRefused as exc:
        raise ActionRefused(N_("This can be disputed only after the partner has resolved it.")) from exc


def parse_rating(raw: str | None) -> int:
    """A rating from the form: 1 (sad), 2 (neutral) or 3 (happy)."""
    try:
        value = int((raw or "").strip())
    except ValueError:
        value = 0
    if value not in SATISFACTION:
        raise ActionRefused(N_("Please choose one of the three faces."))
    return value


async def rate(session: AsyncSession, item: FeedbackItem, satisfaction: int, *,
               now: datetime | None = None) -> FeedbackItem:
    """The submitter rates the response once (1 sad, 2 neutral, 3 happy)."""
    await _lock(session, item)
    if satisfaction not in SATISFACTION:
        raise ActionRefused(N_("Please choose one of the three faces."))
    if item.satisfaction is not None or "rate" in await done_actions(session, item.id):
        raise ActionRefused(N_("You have already rated this response."))
    if item.status not in RATEABLE:
        raise ActionRefused(N_("You can rate the response once the partner has answered."))
    now = now or utcnow()
    before = stats.snapshot(item)
    item.satisfaction = satisfaction
    item.updated_at = now
    session.add(Event(item_id=item.id, kind="rated", created_at=now, actor_label=SUBMITTER.label,
                      public=True, data={"satisfaction": satisfaction}))
    await stats.record(session, before, item)
    return item


async def count_events(session: AsyncSession, item_id: int, kind: str) -> int:
    """How many events of a kind an item has (used by tests and checks)."""
    return int(await session.scalar(
        select(func.count()).select_from(Event).where(Event.item_id == item_id, Event.kind == kind)
    ) or 0)
