"""Routing (DESIGN §2): most specific rule wins, a default catches the rest, sensitive items
go to safeguarding, and it all happens in the intake transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.db import Database
from feedback.domain import intake, reference, routing
from feedback.models import Event, FeedbackItem, OutboxMessage, Partner, RoutingRule, Site, Topic


async def ids(db: Database) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    async with db.read() as s:
        partners = {p.slug: p.id for p in (await s.scalars(select(Partner))).all()}
        sites = {x.code: x.id for x in (await s.scalars(select(Site))).all()}
        topics = {t.slug: t.id for t in (await s.scalars(select(Topic))).all()}
    return partners, sites, topics


def test_pick_rule_precedence_without_a_database() -> None:
    site, topic = 10, 20
    any_any = RoutingRule(site_id=None, topic_id=None, partner_id=1)
    site_any = RoutingRule(site_id=site, topic_id=None, partner_id=2)
    any_topic = RoutingRule(site_id=None, topic_id=topic, partner_id=3)
    site_topic = RoutingRule(site_id=site, topic_id=topic, partner_id=4)
    other = RoutingRule(site_id=11, topic_id=topic, partner_id=5)
    rules = [any_any, site_any, any_topic, site_topic, other]
    assert routing.pick_rule(rules, site, topic) is site_topic
    assert routing.pick_rule([any_any, site_any, any_topic, other], site, topic) is any_topic
    assert routing.pick_rule([any_any, site_any, other], site, topic) is site_any
    assert routing.pick_rule([any_any, other], site, topic) is any_any
    assert routing.pick_rule([other], site, topic) is None


async def test_precedence_on_the_database(db: Database) -> None:
    partners, sites, topics = await ids(db)
    async with db.write() as s, s.begin():
        # Seeded: (LAF, any) → dtc-laf, (LAF, governance) → asaco-laf, (any, chw) → programme-asc.
        s.add(RoutingRule(site_id=sites["BKO-C4-LAF"], topic_id=topics["chw"], partner_id=partners["asaco-laf"]))
        s.add(RoutingRule(site_id=None, topic_id=None, partner_id=partners["district-c1"]))
        s.add(Site(code="BKO-C1-NEW", name="Nouveau CSCOM", kind="cscom"))
    _, sites, _ = await ids(db)
    async with db.read() as s:
        pick = rule_partner_id
        assert await pick(s, sites["BKO-C4-LAF"], topics["governance"]) == partners["asaco-laf"]  # (site, topic)
        assert await pick(s, sites["BKO-C4-LAF"], topics["chw"]) == partners["asaco-laf"]  # beats (any, topic)
        assert await pick(s, sites["BKO-C2-BAG"], topics["chw"]) == partners["programme-asc"]  # (any, topic)
        assert await pick(s, sites["BKO-C2-BAG"], topics["welcome"]) == partners["dtc-bag"]  # (site, any)
        assert await pick(s, sites["BKO-C1-NEW"], topics["welcome"]) == partners["district-c1"]  # (any, any)
    async with db.write() as s, s.begin():
        await s.execute(delete(RoutingRule).where(RoutingRule.site_id.is_(None), RoutingRule.topic_id.is_(None)))
    async with db.read() as s:
        # Nothing matches: the platform's default partner.
        assert await rule_partner_id(s, sites["BKO-C1-NEW"], topics["welcome"]) == partners["ong-sante-mere-enfant"]
    async with db.write() as s, s.begin():
        await s.execute(Partner.__table__.update().values(is_default=False))
    async with db.read() as s:
        with pytest.raises(routing.RoutingError):
            await rule_partner_id(s, sites["BKO-C1-NEW"], topics["welcome"])


async def rule_partner_id(session: AsyncSession, site_id: int, topic_id: int) -> int:
    """The partner an S1 item of this site and topic goes to, through the cached configuration."""
    ref = await reference.current(session)
    item = FeedbackItem(site_id=site_id, topic_id=topic_id, sensitivity="S1")
    partner_id, _, _ = routing.choose(item, ref.rules, default_partner_id=ref.default_partner_id,
                                      safeguarding_partner_id=ref.safeguarding_partner_id)
    return partner_id


def submission(topic: str = "welcome", code: str | None = None, site: str = "BKO-C4-LAF", **kw: object) -> intake.Submission:
    return intake.Submission(site_code=site, channel="web", feedback_type="complaint", topic_slug=topic,
                             text="Texte de test", code_slug=code, **kw)  # type: ignore[arg-type]


async def test_intake_routes_and_records_a_routed_event(db: Database) -> None:
    partners, _, _ = await ids(db)
    async with db.write() as s, s.begin():
        item = await intake.store(s, submission("governance"))
    async with db.read() as s:
        stored = await s.get(FeedbackItem, item.id)
        assert stored is not None and stored.partner_id == partners["asaco-laf"]
        events = (await s.scalars(select(Event).where(Event.item_id == item.id).order_by(Event.id))).all()
        assert [e.kind for e in events] == ["submitted", "routed"]
        assert events[1].partner_id == partners["asaco-laf"] and events[1].data == {"reason": "rule"}
        assert stored.acknowledge_by is not None and stored.due_at == stored.acknowledge_by


async def test_intake_is_one_transaction(db: Database) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.write() as s, s.begin():
            await intake.store(s, submission())
            raise Boom
    async with db.read() as s:
        for model in (FeedbackItem, Event, OutboxMessage):
            assert await s.scalar(select(func.count()).select_from(model)) == 0


async def test_confidential_items_go_to_safeguarding_and_are_shared_with_the_partner(db: Database) -> None:
    partners, _, _ = await ids(db)
    async with db.write() as s, s.begin():
        item = await intake.store(s, submission("cost", "unofficial_payment"))
    assert item.sensitivity == "S2"
    assert item.partner_id == partners["sauvegarde"]
    assert item.shared_partner_id == partners["dtc-laf"]
    async with db.read() as s:
        routed = await s.scalar(select(Event).where(Event.item_id == item.id, Event.kind == "routed"))
        assert routed is not None and routed.data == {"reason": "sensitive"}


async def test_protection_items_never_reach_the_facility(db: Database) -> None:
    partners, _, _ = await ids(db)
    async with db.write() as s, s.begin():
        # Even a rule that names the facility for this topic does not apply.
        topic = await s.scalar(select(Topic.id).where(Topic.slug == "protection"))
        site = await s.scalar(select(Site.id).where(Site.code == "BKO-C4-LAF"))
        s.add(RoutingRule(site_id=site, topic_id=topic, partner_id=partners["dtc-laf"]))
    async with db.write() as s, s.begin():
        item = await intake.store(s, submission("protection", "child_abuse"))
    assert item.sensitivity == "S3"
    assert item.partner_id == partners["sauvegarde"]
    assert item.shared_partner_id is None
    async with db.read() as s:
        recipients = set((await s.scalars(select(OutboxMessage.recipient).where(OutboxMessage.item_id == item.id))).all())
    assert recipients == {"sauvegarde@ong.invalid"}


async def test_a_staff_choice_of_sensitivity_is_honoured(db: Database) -> None:
    partners, _, _ = await ids(db)
    async with db.write() as s, s.begin():
        item = await intake.store(s, submission("welcome", sensitivity="S2"))
    assert item.partner_id == partners["sauvegarde"] and item.shared_partner_id == partners["dtc-laf"]


async def test_new_assignment_is_notified_in_the_recipients_language(db: Database) -> None:
    async with db.write() as s, s.begin():
        item = await intake.store(s, submission("welcome"))
    async with db.read() as s:
        messages = (await s.scalars(select(OutboxMessage).where(OutboxMessage.item_id == item.id))).all()
    by_recipient = {m.recipient: m for m in messages}
    # dtc-laf's staff with an address: agent.laf (bm) and chef.laf (fr).
    assert set(by_recipient) == {"agent.laf@ong.invalid", "chef.laf@ong.invalid"}
    assert by_recipient["agent.laf@ong.invalid"].locale == "bm"
    assert by_recipient["chef.laf@ong.invalid"].locale == "fr"
    for message in messages:
        assert message.channel == "email" and message.status == "pending" and message.purpose == "assigned"
        assert f"/portal/items/{item.id}" in message.body
        assert "Texte de test" not in message.body  # no feedback text leaves by e-mail
