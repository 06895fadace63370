"""Moderation rules: personal-data detection, redaction, and the moderation service on a database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from feedback.db import Database
from feedback.domain import moderation
from feedback.domain.access import Actor
from feedback.models import Event, TopicStat, User
from tests.staff_factories import make_item, partner_id


def kinds(text: str, names: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.kind) for s in moderation.find_personal_data(text, names)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Appelez le 76 12 34 56 svp", [("76 12 34 56", "phone")]),
        ("mon numéro: 76123456.", [("76123456", "phone")]),
        ("+223 66 00 00 00", [("+223 66 00 00 00", "phone")]),
        ("écrivez à awa.k@example.ml merci", [("awa.k@example.ml", "email")]),
        ("NINA 123456789012345A", [("123456789012345A", "id_number")]),
        ("passeport AA 1234567890", [("AA 1234567890", "id_number")]),
        ("Le Dr Sangaré était absent", [("Sangaré", "name")]),
        ("la sage-femme Fatoumata Keïta", [("Fatoumata", "name"), ("Keïta", "name")]),
        ("Docteur Zongo", [("Zongo", "name")]),
        # Dates, prices and ordinary words are not personal data.
        ("Le 12.03.2024 j'ai payé 15 000 FCFA pour 2 ampoules", []),
        ("Ba ni den ka furakɛli, sira ka jan", []),
    ],
)
def test_find_personal_data(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(text) == expected


def test_configured_names_are_found_accent_blind() -> None:
    assert kinds("Merci à Madou et à Zeïnabou", ("Zeinabou",)) == [("Madou", "name"), ("Zeïnabou", "name")]


def test_redact_and_segments_keep_the_text_around() -> None:
    text = "Awa: 76 12 34 56 <b>"
    assert moderation.redact(text) == "[…]: […] <b>"
    pieces = moderation.segments(text, moderation.find_personal_data(text))
    assert "".join(p.text for p in pieces) == text
    assert [p.kind for p in pieces] == ["name", None, "phone", None]


async def _actor(db: Database, login: str) -> Actor:
    async with db.read() as session:
        user = await session.scalar(select(User).where(User.login == login))
    assert user is not None
    return Actor.for_user(user)


async def _protected_count(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(
            select(func.coalesce(func.sum(TopicStat.received), 0)).where(TopicStat.protected)) or 0)


async def test_raising_to_s3_reroutes_and_keeps_the_aggregates_right(db: Database) -> None:
    item = await make_item(db)
    moderator = await _actor(db, "moderatrice")
    assert await _protected_count(db) == 0
    async with db.write() as session, session.begin():
        loaded = await session.get(type(item), item.id)
        assert loaded is not None
        written = await moderation.moderate(session, loaded, moderator,
                                            moderation.Changes(sensitivity="S3", criticality="urgent"))
    assert written == ["moderated", "sensitivity_changed", "routed"]
    async with db.read() as session:
        stored = await session.get(type(item), item.id)
    assert stored is not None
    assert stored.partner_id == await partner_id(db, "sauvegarde") and stored.moderated_at is not None
    assert await _protected_count(db) == 1  # S3 counts move to the protected rows


async def test_only_moderating_roles_and_visible_items(db: Database) -> None:
    item = await make_item(db, topic="protection", text="menace")
    agent = await _actor(db, "agent.laf")
    moderator = await _actor(db, "moderatrice")
    async with db.write() as session, session.begin():
        loaded = await session.get(type(item), item.id)
        assert loaded is not None
        for actor in (agent, moderator):  # a moderator cannot see S3 at all
            with pytest.raises(moderation.ModerationRefused):
                await moderation.moderate(session, loaded, actor, moderation.Changes(public_summary="x"))


async def test_publish_checks_and_events(db: Database) -> None:
    item = await make_item(db)
    moderator = await _actor(db, "moderatrice")
    async with db.write() as session, session.begin():
        loaded = await session.get(type(item), item.id)
        assert loaded is not None
        await moderation.moderate(session, loaded, moderator,
                                  moderation.Changes(public_summary="Appelez Awa au 76 12 34 56", sensitivity="S0"))
        with pytest.raises(moderation.ModerationRefused):
            await moderation.publish(session, loaded, moderator)
        await moderation.moderate(session, loaded, moderator, moderation.Changes(public_summary="Accueil lent."))
        await moderation.publish(session, loaded, moderator)
        assert loaded.published and loaded.published_at is not None
        await moderation.moderate(session, loaded, moderator, moderation.Changes(sensitivity="S1"))
        assert not loaded.published  # no longer public: taken down with the sensitivity change
    async with db.read() as session:
        events = (await session.scalars(select(Event.kind).where(Event.item_id == item.id).order_by(Event.id))).all()
    assert events[-4:] == ["moderated", "published", "sensitivity_changed", "unpublished"]
