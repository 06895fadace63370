"""The one table of transitions (DESIGN §4), checked for every role × action × state.

The expectations below are written from the design, not copied from the code: who may do what
from which state. A refused action must raise and leave the item, its timeline and the outbox
exactly as they were.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.db import Database
from feedback.domain import intake, workflow
from feedback.domain.access import SUBMITTER, SYSTEM, Actor, monitor_sites
from feedback.models import Event, FeedbackItem, OutboxMessage, Partner, Site, User, utcnow

OPEN = {"received", "acknowledged", "in_progress", "referred", "reopened"}
STATES = ["received", "acknowledged", "in_progress", "resolved", "closed", "referred", "not_actionable", "reopened"]
WORKERS = {"own_agent", "own_manager", "safeguarding", "admin"}
VERIFIERS = {"submitter", "monitor_here"}
SPEC: dict[str, tuple[set[str], set[str], str]] = {
    "acknowledge": ({"received", "referred", "reopened"}, WORKERS, "acknowledged"),
    "start": ({"received", "acknowledged", "referred", "reopened"}, WORKERS, "in_progress"),
    "resolve": (OPEN, WORKERS, "resolved"),
    "not_actionable": (OPEN, WORKERS, "not_actionable"),
    "refer": (OPEN, WORKERS, "referred"),
    "confirm": ({"resolved"}, VERIFIERS, "closed"),
    "dispute": ({"resolved", "not_actionable"}, VERIFIERS, "reopened"),
    "auto_close": ({"resolved"}, {"system"}, "closed"),
    "reopen": ({"closed", "not_actionable"}, {"safeguarding", "admin"}, "reopened"),
}
ACTORS = ["own_agent", "own_manager", "other_agent", "moderator", "monitor_here", "monitor_elsewhere",
          "safeguarding", "admin", "submitter", "system", "community"]
KWARGS: dict[str, dict[str, Any]] = {
    "resolve": {"public_text": "Nous avons réparé le robinet."},
    "not_actionable": {"public_text": "Cela ne dépend pas du centre de santé."},
}


async def actors(s: AsyncSession) -> dict[str, Actor]:
    users = {u.login: u for u in (await s.scalars(select(User))).all()}
    monitor = users["comite.laf"]
    return {
        "own_agent": Actor.for_user(users["agent.laf"]),
        "own_manager": Actor.for_user(users["chef.laf"]),
        "other_agent": Actor.for_user(users["agent.bag"]),
        "moderator": Actor.for_user(users["moderatrice"]),
        "monitor_here": Actor.for_user(monitor, await monitor_sites(s, monitor.id)),
        "monitor_elsewhere": Actor.for_user(monitor, frozenset()),
        "safeguarding": Actor.for_user(users["sauvegarde"]),
        "admin": Actor.for_user(users["admin"]),
        "submitter": SUBMITTER,
        "system": SYSTEM,
        "community": Actor("community", label="community"),
    }


async def partner_id(s: AsyncSession, slug: str) -> int:
    found = await s.scalar(select(Partner.id).where(Partner.slug == slug))
    assert found is not None
    return found


async def make_item(db: Database, state: str, *, feedback_type: str = "complaint", **sub: Any) -> int:
    """An item at Lafiabougou, assigned to dtc-laf, brought to ``state`` through the workflow."""
    async with db.write() as s, s.begin():
        who = await actors(s)
        site = "BKO-C2-BAG" if state == "referred" else "BKO-C4-LAF"
        item = await intake.store(s, intake.Submission(
            site_code=site, channel="kiosk", feedback_type=feedback_type, topic_slug="welcome",
            text="On nous a mal reçus.", **sub))
        staff = who["own_agent"]
        steps: list[tuple[str, Actor, dict[str, Any]]] = {
            "received": [],
            "acknowledged": [("acknowledge", staff, {})],
            "in_progress": [("start", staff, {})],
            "resolved": [("resolve", staff, KWARGS["resolve"])],
            "closed": [("resolve", staff, KWARGS["resolve"]), ("confirm", SUBMITTER, {})],
            # Referred from Bagadadji's team to Lafiabougou's, so dtc-laf's staff own it.
            "referred": [("refer", who["other_agent"], {"to_partner_id": await partner_id(s, "dtc-laf")})],
            "not_actionable": [("not_actionable", staff, KWARGS["not_actionable"])],
            "reopened": [("resolve", staff, KWARGS["resolve"]), ("dispute", SUBMITTER, {})],
        }[state]
        for action, actor, kwargs in steps:
            await workflow.apply(s, item, action, actor, **kwargs)
        assert item.status == state
        return item.id


def row(item: FeedbackItem) -> dict[str, Any]:
    return {c.key: getattr(item, c.key) for c in FeedbackItem.__table__.columns}


async def counts(s: AsyncSession, item_id: int) -> tuple[int, int]:
    events = await s.scalar(select(func.count()).select_from(Event).where(Event.item_id == item_id))
    outbox = await s.scalar(select(func.count()).select_from(OutboxMessage))
    return int(events or 0), int(outbox or 0)


@pytest.mark.parametrize("state", STATES)
async def test_transition_table_for_every_role_and_action(db: Database, state: str) -> None:
    item_id = await make_item(db, state)
    async with db.read() as s:
        who = await actors(s)
        district = await partner_id(s, "district-c4")
        item_site = (await s.get(FeedbackItem, item_id)).site_id  # type: ignore[union-attr]
        laf = await s.scalar(select(Site.id).where(Site.code == "BKO-C4-LAF"))
    expected: dict[str, set[str]] = {name: set() for name in ACTORS}
    for actor_name in ACTORS:
        for action, (sources, roles, _target) in SPEC.items():
            allowed = state in sources and actor_name in roles
            if actor_name == "monitor_here" and item_site != laf:
                allowed = False  # the monitor watches Lafiabougou only
            if allowed:
                expected[actor_name].add(action)

    # Every refused combination, in one transaction: each raises and changes nothing.
    async with db.write() as s:
        await s.begin()
        item = await s.get(FeedbackItem, item_id)
        assert item is not None
        before, before_counts = row(item), await counts(s, item_id)
        for actor_name in ACTORS:
            for action in SPEC:
                if action in expected[actor_name]:
                    continue
                kwargs = {**KWARGS.get(action, {}), "to_partner_id": district}
                with pytest.raises(workflow.TransitionRefused):
                    await workflow.apply(s, item, action, who[actor_name], **kwargs)
                assert row(item) == before, (actor_name, action, state)
        await s.flush()
        assert await counts(s, item_id) == before_counts
        await s.rollback()

    # Every allowed combination, each in a transaction that is rolled back.
    for actor_name in ACTORS:
        for action in sorted(expected[actor_name]):
            async with db.write() as s:
                await s.begin()
                item = await s.get(FeedbackItem, item_id)
                assert item is not None
                events_before = (await counts(s, item_id))[0]
                kwargs = {**KWARGS.get(action, {}), "to_partner_id": district}
                await workflow.apply(s, item, action, who[actor_name], **kwargs)
                assert item.status == SPEC[action][2], (actor_name, action, state)
                await s.flush()
                assert (await counts(s, item_id))[0] > events_before
                await s.rollback()

    async with db.read() as s:
        item = await s.get(FeedbackItem, item_id)
        assert item is not None
        for actor_name in ACTORS:
            assert set(workflow.allowed_actions(item, who[actor_name])) == expected[actor_name], (actor_name, state)


async def test_every_action_in_the_table_is_covered() -> None:
    assert set(SPEC) == set(workflow.TABLE)


async def _apply(db: Database, item_id: int, action: str, actor_name: str = "own_agent", **kwargs: Any) -> FeedbackItem:
    async with db.write() as s, s.begin():
        item = await s.get(FeedbackItem, item_id)
        assert item is not None
        await workflow.apply(s, item, action, (await actors(s))[actor_name], **kwargs)
        return item


@pytest.mark.parametrize(("action", "kwargs"), [
    ("resolve", {}), ("resolve", {"public_text": "   "}), ("not_actionable", {}),
    ("refer", {}), ("refer", {"to_partner_id": 999_999}),
])
async def test_missing_public_text_or_partner_is_refused_and_changes_nothing(
    db: Database, action: str, kwargs: dict[str, Any]
) -> None:
    item_id = await make_item(db, "acknowledged")
    async with db.read() as s:
        before = row(await s.get(FeedbackItem, item_id))  # type: ignore[arg-type]
        before_counts = await counts(s, item_id)
    with pytest.raises(workflow.TransitionRefused) as refused:
        await _apply(db, item_id, action, **kwargs)
    assert refused.value.message  # a translatable, human message
    async with db.read() as s:
        assert row(await s.get(FeedbackItem, item_id)) == before  # type: ignore[arg-type]
        assert await counts(s, item_id) == before_counts


async def test_refer_to_the_same_partner_is_refused(db: Database) -> None:
    item_id = await make_item(db, "received")
    async with db.read() as s:
        own = await partner_id(s, "dtc-laf")
    with pytest.raises(workflow.TransitionRefused):
        await _apply(db, item_id, "refer", to_partner_id=own)


async def test_referred_item_arrives_as_new_with_the_other_partner(db: Database) -> None:
    item_id = await make_item(db, "in_progress")
    async with db.read() as s:
        district = await partner_id(s, "district-c4")
    later = utcnow() + timedelta(days=3)
    async with db.write() as s, s.begin():
        item = await s.get(FeedbackItem, item_id)
        assert item is not None
        item.escalation_level, item.escalated_for = 2, "a:2026-01-01T00:00:00+00:00"
        await workflow.apply(s, item, "refer", (await actors(s))["own_agent"], to_partner_id=district, now=later)
    async with db.read() as s:
        item = await s.get(FeedbackItem, item_id)
        assert item is not None
        assert item.status == "referred" and item.partner_id == district
        assert item.escalation_level == 0 and item.escalated_for is None
        assert item.acknowledge_by is not None and item.acknowledge_by > later
        assert item.due_at == item.acknowledge_by
        event = await s.scalar(select(Event).where(Event.item_id == item_id, Event.kind == "referred"))
        assert event is not None and event.partner_id == district
        recipients = set((await s.scalars(select(OutboxMessage.recipient).where(
            OutboxMessage.item_id == item_id, OutboxMessage.purpose == "referred"))).all())
        assert recipients == {"district.c4@ong.invalid"}
    # The old partner's agent no longer works it; the new one does (a manager here).
    with pytest.raises(workflow.TransitionRefused):
        await _apply(db, item_id, "acknowledge", "own_agent")


async def test_protection_report_is_never_referred_to_the_facility(db: Database) -> None:
    async with db.write() as s, s.begin():
        item = await intake.store(s, intake.Submission(
            site_code="BKO-C4-LAF", channel="kiosk", feedback_type="complaint", topic_slug="protection",
            text="...", code_slug="gender_violence"))
        facility = await partner_id(s, "dtc-laf")
    with pytest.raises(workflow.TransitionRefused):
        await _apply(db, item.id, "refer", "safeguarding", to_partner_id=facility)
    district = await _apply(db, item.id, "refer", "safeguarding", to_partner_id=await _pid(db, "district-c4"))
    assert district.status == "referred"


async def _pid(db: Database, slug: str) -> int:
    async with db.read() as s:
        return await partner_id(s, slug)


@pytest.mark.parametrize("feedback_type", ["question", "compliment"])
async def test_light_types_close_when_answered(db: Database, feedback_type: str) -> None:
    item_id = await make_item(db, "received", feedback_type=feedback_type)
    item = await _apply(db, item_id, "resolve", public_text="Le centre ouvre à 8 h.")
    assert item.status == "closed" and item.closed_at is not None and item.due_at is None


async def test_dispute_reopens_with_fresh_deadlines_and_keeps_the_reason_internal(db: Database) -> None:
    item_id = await make_item(db, "resolved")
    later = utcnow() + timedelta(days=4)
    async with db.write() as s, s.begin():
        item = await s.get(FeedbackItem, item_id)
        assert item is not None
        await workflow.apply(s, item, "dispute", SUBMITTER, note="Le robinet fuit encore.", now=later)
    async with db.read() as s:
        item = await s.get(FeedbackItem, item_id)
        assert item is not None
        assert item.status == "reopened" and item.verification == "disputed"
        assert item.resolved_at is None and item.closed_at is None
        assert item.resolve_by is not None and item.resolve_by > later and item.due_at == item.resolve_by
        note = await s.scalar(select(Event).where(Event.item_id == item_id, Event.kind == "internal_note"))
        assert note is not None and note.public is False and note.body == "Le robinet fuit encore."


async def test_auto_close_is_unconfirmed_and_system_only(db: Database) -> None:
    item_id = await make_item(db, "resolved")
    with pytest.raises(workflow.TransitionRefused):
        await _apply(db, item_id, "auto_close", "admin")
    item = await _apply(db, item_id, "auto_close", "system")
    assert item.status == "closed" and item.verification == "unconfirmed" and item.verified_at is None


async def test_submitter_who_consented_hears_of_each_step_in_their_language(db: Database) -> None:
    item_id = await make_item(db, "received", contact_phone="76 12 34 56", contact_consent=True, language="bm")
    await _apply(db, item_id, "acknowledge")
    await _apply(db, item_id, "resolve", public_text="A labɛnna.")
    async with db.read() as s:
        messages = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.item_id == item_id, OutboxMessage.purpose == "status_update").order_by(OutboxMessage.id))).all()
    assert [m.recipient for m in messages] == ["+22376123456", "+22376123456"]
    assert all(m.channel == "sms" and m.locale == "bm" for m in messages)
    assert "On nous a mal reçus" not in messages[0].body  # the SMS does not repeat the feedback


async def test_without_consent_nobody_is_contacted(db: Database) -> None:
    item_id = await make_item(db, "received", contact_phone="76 12 34 56", contact_consent=False)
    await _apply(db, item_id, "acknowledge")
    async with db.read() as s:
        item = await s.get(FeedbackItem, item_id)
        assert item is not None and item.contact_phone is None
        assert await s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.purpose == "status_update")) == 0
