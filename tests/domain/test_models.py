"""The data model's own guarantees (DESIGN §2): uniqueness, checks, foreign keys, append-only events.

These hold in the database itself (or, for events, in every session), whatever code writes.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from feedback.db import Database
from feedback.domain import intake
from feedback.models import Event, FeedbackItem, Site, Topic, utcnow


async def _item(db: Database, key: str | None = None) -> FeedbackItem:
    """One real item, stored through intake (with its submitted and routed events)."""
    sub = intake.Submission(site_code="BKO-C4-LAF", channel="kiosk", feedback_type="complaint",
                            topic_slug="waiting", text="On attend trop longtemps.", language="fr",
                            idempotency_key=key)
    async with db.write() as session, session.begin():
        item = await intake.store(session, sub, base_url="http://testserver")
    return item


async def _bare_item(db: Database, **fields: object) -> FeedbackItem:
    """A minimal item row written directly (to probe the constraints)."""
    async with db.read() as session:
        site_id = await session.scalar(select(Site.id).where(Site.code == "BKO-C4-LAF"))
        topic_id = await session.scalar(select(Topic.id).where(Topic.slug == "waiting"))
    values: dict[str, object] = {
        "tracking_code": "X" * 9, "channel": "kiosk", "site_id": site_id, "feedback_type": "complaint",
        "topic_id": topic_id, "language": "fr", "text": "", "search_text": "",
    }
    values.update(fields)
    return FeedbackItem(**values)


async def _insert_fails(db: Database, obj: object) -> None:
    async with db.write() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                session.add(obj)


async def test_tracking_codes_are_unique(db: Database) -> None:
    item = await _item(db)
    await _insert_fails(db, await _bare_item(db, tracking_code=item.tracking_code))


async def test_idempotency_keys_are_unique(db: Database) -> None:
    await _item(db, key="kiosk-7-0001")
    await _insert_fails(db, await _bare_item(db, tracking_code="AAAAAAAAA", idempotency_key="kiosk-7-0001"))
    # Items without a key do not clash with each other.
    async with db.write() as session, session.begin():
        session.add(await _bare_item(db, tracking_code="CCCCCCCCC"))
        session.add(await _bare_item(db, tracking_code="EEEEEEEEE"))


@pytest.mark.parametrize(("column", "value"), [
    ("status", "lost"), ("sensitivity", "S9"), ("channel", "pigeon"), ("feedback_type", "rant"),
    ("satisfaction", 7), ("me_too_count", -1),
])
async def test_check_constraints_reject_bad_values(db: Database, column: str, value: object) -> None:
    item = await _item(db)
    async with db.write() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await session.execute(update(FeedbackItem).where(FeedbackItem.id == item.id).values({column: value}))
    async with db.read() as session:
        stored = await session.get(FeedbackItem, item.id)
        assert stored is not None and getattr(stored, column) != value


async def test_new_item_with_a_bad_status_is_refused(db: Database) -> None:
    await _insert_fails(db, await _bare_item(db, status="archived"))


async def test_events_are_append_only(db: Database) -> None:
    item = await _item(db)
    async with db.write() as session:
        with pytest.raises(PermissionError):
            async with session.begin():
                event = await session.scalar(select(Event).where(Event.item_id == item.id).limit(1))
                assert event is not None
                event.body = "rewritten history"
        with pytest.raises(PermissionError):
            async with session.begin():
                event = await session.scalar(select(Event).where(Event.item_id == item.id).limit(1))
                await session.delete(event)
        with pytest.raises(PermissionError):
            async with session.begin():
                await session.execute(update(Event).where(Event.item_id == item.id).values(public=False))
        with pytest.raises(PermissionError):
            async with session.begin():
                await session.execute(delete(Event).where(Event.item_id == item.id))
    # Appending is what events are for.
    async with db.write() as session, session.begin():
        session.add(Event(item_id=item.id, kind="internal_note", created_at=utcnow(), actor_label="test", body="ok"))
    async with db.read() as session:
        kinds = (await session.scalars(select(Event.kind).where(Event.item_id == item.id).order_by(Event.id))).all()
    assert kinds[:2] == ["submitted", "routed"] and kinds[-1] == "internal_note"


async def test_foreign_keys_are_enforced(db: Database) -> None:
    await _insert_fails(db, Event(item_id=987654, kind="internal_note", created_at=utcnow(), actor_label="test"))
    await _insert_fails(db, await _bare_item(db, site_id=987654))
    await _insert_fails(db, await _bare_item(db, topic_id=987654))
    # RESTRICT: an item with events cannot be deleted from under them.
    item = await _item(db)
    async with db.write() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await session.execute(delete(FeedbackItem).where(FeedbackItem.id == item.id))
