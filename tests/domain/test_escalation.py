"""Escalation up the partner chain, once per missed deadline, safe with two workers at once;
closing unconfirmed resolutions; erasing contact details; purging sign-in attempts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from feedback.db import Database
from feedback.domain import escalation, intake, retention, workflow
from feedback.domain.access import SUBMITTER, Actor
from feedback.models import (
    Event,
    FeedbackItem,
    LoginAttempt,
    OutboxMessage,
    Partner,
    TopicStat,
    User,
)
from feedback.settings import Settings

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # a Monday without holidays around it


async def pid(db: Database, slug: str) -> int:
    async with db.read() as s:
        found = await s.scalar(select(Partner.id).where(Partner.slug == slug))
    assert found is not None
    return found


async def give_partners_addresses(db: Database) -> None:
    async with db.write() as s, s.begin():
        for slug in ("asaco-laf", "district-c4"):
            await s.execute(update(Partner).where(Partner.slug == slug).values(email=f"{slug}@ong.invalid"))


async def new_item(db: Database, topic: str = "welcome", code: str | None = None, when: datetime = T0, **kw: object) -> int:
    async with db.write() as s, s.begin():
        item = await intake.store(s, intake.Submission(
            site_code="BKO-C4-LAF", channel="kiosk", feedback_type="complaint", topic_slug=topic,
            code_slug=code, text="Personne ne nous a reçus.", **kw), now=when)  # type: ignore[arg-type]
        return item.id


async def load(db: Database, item_id: int) -> FeedbackItem:
    async with db.read() as s:
        item = await s.get(FeedbackItem, item_id)
    assert item is not None
    return item


async def escalations(db: Database, item_id: int) -> list[Event]:
    async with db.read() as s:
        return list((await s.scalars(select(Event).where(Event.item_id == item_id, Event.kind == "escalated")
                                     .order_by(Event.id))).all())


async def escalation_mail(db: Database, item_id: int) -> list[str]:
    async with db.read() as s:
        return sorted((await s.scalars(select(OutboxMessage.recipient).where(
            OutboxMessage.item_id == item_id, OutboxMessage.purpose == "escalated"))).all())


async def act(db: Database, item_id: int, action: str, login: str | None, when: datetime, **kw: object) -> None:
    async with db.write() as s, s.begin():
        item = await s.get(FeedbackItem, item_id)
        assert item is not None
        actor = SUBMITTER
        if login:
            user = await s.scalar(select(User).where(User.login == login))
            assert user is not None
            actor = Actor.for_user(user)
        await workflow.apply(s, item, action, actor, now=when, **kw)  # type: ignore[arg-type]


async def test_escalates_up_the_chain_once_per_miss(db: Database) -> None:
    await give_partners_addresses(db)
    item_id = await new_item(db)
    item = await load(db, item_id)
    assert item.acknowledge_by == datetime(2026, 6, 3, 9, 0, tzinfo=UTC)
    ack_by, resolve_by = item.acknowledge_by, item.resolve_by
    assert resolve_by is not None

    # On time: nothing.
    assert await escalation.escalate_overdue(db.write, now=ack_by - timedelta(minutes=1)) == 0
    # Acknowledgement missed: one step up (dtc-laf → asaco-laf), and the admins are told.
    assert await escalation.escalate_overdue(db.write, now=ack_by + timedelta(minutes=1)) == 1
    item = await load(db, item_id)
    assert item.escalation_level == 1 and item.escalated_for is not None
    events = await escalations(db, item_id)
    assert len(events) == 1
    assert events[0].public is True and events[0].actor_label == "system"
    assert events[0].partner_id == await pid(db, "asaco-laf")
    assert events[0].data is not None and events[0].data["deadline"] == "acknowledge"
    assert events[0].body is None  # nothing personal in a public event
    assert await escalation_mail(db, item_id) == ["admin@ong.invalid", "asaco-laf@ong.invalid"]

    # Same miss, later passes: nothing more.
    assert await escalation.escalate_overdue(db.write, now=ack_by + timedelta(hours=5)) == 0
    assert await escalation.escalate_overdue(db.write, now=ack_by + timedelta(days=1)) == 0

    # Still not acknowledged when the answer was due: a second miss, one step higher.
    assert await escalation.escalate_overdue(db.write, now=resolve_by + timedelta(minutes=1)) == 1
    item = await load(db, item_id)
    assert item.escalation_level == 2
    assert (await escalations(db, item_id))[-1].partner_id == await pid(db, "district-c4")

    # Acknowledging late does not re-escalate the miss already escalated.
    await act(db, item_id, "acknowledge", "agent.laf", resolve_by + timedelta(hours=1))
    assert await escalation.escalate_overdue(db.write, now=resolve_by + timedelta(hours=2)) == 0

    # Resolved, then disputed: fresh deadlines; missing them climbs to the NGO, then stays at the top.
    await act(db, item_id, "resolve", "agent.laf", resolve_by + timedelta(hours=3), public_text="C'est réglé.")
    reopened_at = resolve_by + timedelta(days=1)
    await act(db, item_id, "dispute", None, reopened_at)
    item = await load(db, item_id)
    assert item.status == "reopened" and item.escalated_for is None and item.resolve_by is not None
    assert await escalation.escalate_overdue(db.write, now=item.resolve_by + timedelta(minutes=1)) == 1
    ngo = await pid(db, "ong-sante-mere-enfant")
    assert (await escalations(db, item_id))[-1].partner_id == ngo
    await act(db, item_id, "resolve", "agent.laf", item.resolve_by + timedelta(hours=1), public_text="Réparé.")
    await act(db, item_id, "dispute", None, item.resolve_by + timedelta(days=1))
    item = await load(db, item_id)
    assert item.resolve_by is not None
    assert await escalation.escalate_overdue(db.write, now=item.resolve_by + timedelta(minutes=1)) == 1
    item = await load(db, item_id)
    assert item.escalation_level == 4
    assert (await escalations(db, item_id))[-1].partner_id == ngo  # the top of the chain


async def test_settled_items_do_not_escalate(db: Database) -> None:
    item_id = await new_item(db)
    await act(db, item_id, "resolve", "agent.laf", T0 + timedelta(hours=1), public_text="Fait.")
    assert await escalation.escalate_overdue(db.write, now=T0 + timedelta(days=30)) == 0
    assert await escalations(db, item_id) == []


async def test_sensitive_escalation_stays_with_safeguarding(db: Database) -> None:
    # Even if an admin puts the facility above the safeguarding partner, an S3 item skips it.
    async with db.write() as s, s.begin():
        facility = await s.scalar(select(Partner.id).where(Partner.slug == "dtc-laf"))
        await s.execute(update(Partner).where(Partner.slug == "sauvegarde").values(escalation_partner_id=facility))
    item_id = await new_item(db, "protection", "child_abuse")
    item = await load(db, item_id)
    assert item.acknowledge_by == T0 + timedelta(hours=24)
    assert await escalation.escalate_overdue(db.write, now=T0 + timedelta(hours=25)) == 1
    event = (await escalations(db, item_id))[0]
    # dtc-laf and asaco-laf both run Lafiabougou: skipped; the district team is next.
    assert event.partner_id == await pid(db, "district-c4")
    # Safeguarding officers are told instead of admins (who may not open S3 items).
    assert await escalation_mail(db, item_id) == ["district.c4@ong.invalid", "sauvegarde@ong.invalid"]


async def test_sensitive_escalation_without_a_chain_tells_safeguarding_only(db: Database) -> None:
    item_id = await new_item(db, "cost", "unofficial_payment")
    assert await escalation.escalate_overdue(db.write, now=T0 + timedelta(hours=25)) == 1
    assert (await escalations(db, item_id))[0].partner_id is None
    assert await escalation_mail(db, item_id) == ["sauvegarde@ong.invalid"]


async def test_two_concurrent_workers_never_double_escalate(db: Database, settings: Settings) -> None:
    item_ids = [await new_item(db) for _ in range(12)]
    late = T0 + timedelta(days=4)
    first, second = Database(settings.database_url), Database(settings.database_url)
    try:
        for _round in range(2):
            results = await asyncio.gather(
                escalation.escalate_overdue(first.write, now=late),
                escalation.escalate_overdue(second.write, now=late),
            )
            assert sum(results) == (len(item_ids) if _round == 0 else 0)
    finally:
        await first.dispose()
        await second.dispose()
    async with db.read() as s:
        levels = (await s.scalars(select(FeedbackItem.escalation_level).where(FeedbackItem.id.in_(item_ids)))).all()
        assert set(levels) == {1}
        per_item = (await s.execute(
            select(Event.item_id, func.count()).where(Event.kind == "escalated").group_by(Event.item_id))).all()
        assert sorted(n for _i, n in per_item) == [1] * len(item_ids)
        mails = await s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.purpose == "escalated"))
        assert mails == len(item_ids)  # admin only (asaco-laf has no address here)


async def test_the_claim_itself_is_compare_and_set(db: Database) -> None:
    item_id = await new_item(db)
    late = T0 + timedelta(days=4)
    async with db.write() as s, s.begin():
        assert await escalation.escalate_item(s, item_id, now=late) is not None
    async with db.write() as s, s.begin():
        assert await escalation.escalate_item(s, item_id, now=late) is None
    assert len(await escalations(db, item_id)) == 1


async def test_unconfirmed_resolutions_close_after_the_wait(db: Database) -> None:
    item_id = await new_item(db)
    resolved_at = T0 + timedelta(days=1)
    await act(db, item_id, "resolve", "agent.laf", resolved_at, public_text="Le personnel a été formé.")
    confirmed_id = await new_item(db)
    await act(db, confirmed_id, "resolve", "agent.laf", resolved_at, public_text="Réglé.")
    await act(db, confirmed_id, "confirm", None, resolved_at + timedelta(days=2))

    assert await escalation.auto_close_due(db.write, auto_close_days=14, now=resolved_at + timedelta(days=13)) == 0
    assert await escalation.auto_close_due(db.write, auto_close_days=14, now=resolved_at + timedelta(days=14, seconds=1)) == 1
    item = await load(db, item_id)
    assert item.status == "closed" and item.verification == "unconfirmed"
    assert (await load(db, confirmed_id)).verification == "verified"
    async with db.read() as s:
        event = await s.scalar(select(Event).where(Event.item_id == item_id, Event.to_status == "closed"))
        assert event is not None and event.actor_label == "system" and event.data == {"action": "auto_close"}
        unconfirmed = await s.scalar(select(func.sum(TopicStat.closed_unconfirmed)))
        assert unconfirmed == 1  # counted as closed without confirmation, not as verified
    # Run again: nothing left to close.
    assert await escalation.auto_close_due(db.write, auto_close_days=14, now=resolved_at + timedelta(days=20)) == 0


async def test_contact_details_are_erased_after_the_retention_period(db: Database) -> None:
    contact = {"contact_phone": "66 12 34 56", "contact_consent": True, "contact_name": "Awa"}
    closed_id = await new_item(db, **contact)
    open_id = await new_item(db, **contact)
    await act(db, closed_id, "resolve", "agent.laf", T0 + timedelta(days=1), public_text="Réglé.")
    closed_at = T0 + timedelta(days=2)
    await act(db, closed_id, "confirm", None, closed_at)
    async with db.write() as s, s.begin():  # the status SMS went out long ago
        await s.execute(update(OutboxMessage).values(status="sent", created_at=T0))

    assert await retention.erase_expired_contacts(db.write, retention_days=90, now=closed_at + timedelta(days=89)) == 0
    assert (await load(db, closed_id)).contact_phone == "+22366123456"
    assert await retention.erase_expired_contacts(db.write, retention_days=90, now=closed_at + timedelta(days=91)) == 1
    item = await load(db, closed_id)
    assert (item.contact_phone, item.contact_email, item.contact_name, item.contact_consent) == (None, None, None, False)
    assert item.contact_erased_at == closed_at + timedelta(days=91)
    assert (await load(db, open_id)).contact_phone == "+22366123456"  # still open: kept
    async with db.read() as s:
        event = await s.scalar(select(Event).where(Event.item_id == closed_id, Event.kind == "contact_erased"))
        assert event is not None and event.public is False and event.body is None
        recipients = set((await s.scalars(select(OutboxMessage.recipient).where(OutboxMessage.channel == "sms"))).all())
    assert "+22366123456" not in recipients and retention.ERASED in recipients
    # Once is enough.
    assert await retention.erase_expired_contacts(db.write, retention_days=90, now=closed_at + timedelta(days=200)) == 0


async def test_old_login_attempts_are_purged(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.write() as s, s.begin():
        s.add_all([LoginAttempt(login="x", address="1.2.3.4", attempted_at=now - timedelta(days=3)),
                   LoginAttempt(login="x", address="1.2.3.4", attempted_at=now - timedelta(minutes=5))])
    assert await retention.purge_old_login_attempts(db.write, now=now) == 1
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(LoginAttempt)) == 1
