"""A partner an item is escalated to can open and follow it up; nobody else gains access."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from feedback.db import Database
from feedback.domain import escalation
from feedback.domain.access import Actor, can_view, can_work, visibility
from feedback.models import FeedbackItem, User
from tests.domain.test_escalation import T0, load, new_item


async def actor(db: Database, login: str) -> Actor:
    async with db.read() as s:
        user = await s.scalar(select(User).where(User.login == login))
    assert user is not None
    return Actor.for_user(user)


async def test_the_next_partner_up_sees_an_escalated_item(db: Database) -> None:
    item_id = await new_item(db)
    asaco_manager = await actor(db, "asaco.laf")
    other_agent = await actor(db, "agent.bag")
    before = await load(db, item_id)
    assert not can_view(asaco_manager, before)

    await escalation.escalate_overdue(db.write, now=T0 + timedelta(days=5))

    item = await load(db, item_id)
    assert item.escalation_level == 1
    assert can_view(asaco_manager, item) and can_work(asaco_manager, item)
    assert not can_view(other_agent, item)
    async with db.read() as s:
        visible = (await s.scalars(select(FeedbackItem.id).where(visibility(asaco_manager)))).all()
    assert item_id in visible
