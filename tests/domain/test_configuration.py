"""Configuration rules on a real database: cycles, uniqueness, versions, the admin log."""

from __future__ import annotations

import io
import wave

import pytest
from sqlalchemy import select

from feedback.db import Database
from feedback.domain import admin as admin_domain
from feedback.domain import configuration as config
from feedback.domain.access import Actor
from feedback.domain.admin import ConfigError
from feedback.models import AdminLog, Partner, Site, Topic, User, VoicePrompt
from feedback.queries import admin as queries
from feedback.queries.register import build_register, register_csv
from feedback.settings import Settings


async def admin_actor(db: Database) -> Actor:
    async with db.read() as s:
        user = await s.scalar(select(User).where(User.login == "admin"))
    return Actor.for_user(user)


async def partner_ids(db: Database) -> dict[str, int]:
    async with db.read() as s:
        return {p.slug: p.id for p in (await s.scalars(select(Partner))).all()}


def wav_bytes() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 800)
    return buffer.getvalue()


async def test_escalation_cycles_are_refused_at_any_depth(db: Database) -> None:
    actor = await admin_actor(db)
    ids = await partner_ids(db)
    async with db.write() as s, s.begin():
        ngo = await s.get(Partner, ids["ong-sante-mere-enfant"])
        base = {"slug": ngo.slug, "name": ngo.name, "kind": ngo.kind, "is_default": True}
        for target in ("dtc-laf", "asaco-laf", "district-c4", "ong-sante-mere-enfant"):
            with pytest.raises(ConfigError) as refused:
                await config.save_partner(s, actor, ngo.id, **base, escalation_partner_id=ids[target])
            assert refused.value.field == "escalation_partner_id"
        # A chain that does not loop is fine, and the chain is read back in order.
        await config.save_partner(s, actor, ids["programme-asc"], slug="programme-asc", name="ASC",
                                  kind="chw_programme", escalation_partner_id=ids["district-c4"])
        chain = await config.escalation_chain(s, ids["programme-asc"])
    assert [p.slug for p in chain] == ["district-c4", "ong-sante-mere-enfant"]


async def test_there_is_always_one_default_and_one_safeguarding_partner(db: Database) -> None:
    actor = await admin_actor(db)
    ids = await partner_ids(db)
    async with db.write() as s, s.begin():
        with pytest.raises(ConfigError):
            await config.save_partner(s, actor, ids["ong-sante-mere-enfant"], slug="ong-sante-mere-enfant",
                                      name="ONG", kind="ngo", is_default=False)
        await config.save_partner(s, actor, ids["district-c4"], slug="district-c4", name="District IV",
                                  kind="district", escalation_partner_id=ids["ong-sante-mere-enfant"], is_default=True)
        defaults = (await s.scalars(select(Partner.slug).where(Partner.is_default))).all()
    assert defaults == ["district-c4"]


async def test_site_validation_and_log(db: Database) -> None:
    actor = await admin_actor(db)
    async with db.write() as s, s.begin():
        with pytest.raises(ConfigError) as dup:
            await config.save_site(s, actor, code="bko-c4-laf", name="x", kind="cscom", languages=["fr"])
        assert dup.value.field == "code"
        with pytest.raises(ConfigError) as lon:
            await config.save_site(s, actor, code="BKO-Z", name="x", kind="cscom", latitude=12.0,
                                   longitude=-181.0, languages=["fr"])
        assert lon.value.field == "longitude"
        with pytest.raises(ConfigError):
            await config.save_site(s, actor, code="BKO Z!", name="x", kind="cscom", languages=["fr"])
        with pytest.raises(ConfigError):
            await config.save_site(s, actor, code="BKO-Z", name="x", kind="cscom", languages=[])
        site = await config.save_site(s, actor, code="bko-z", name="Z", kind="community", languages=["bm"])
        await config.save_site(s, actor, site.id, code="BKO-Z", name="Zed", kind="community", languages=["bm", "en"])
        entries = (await s.scalars(select(AdminLog).where(AdminLog.target == "site:BKO-Z").order_by(AdminLog.id))).all()
    assert [e.action for e in entries] == ["site.create", "site.update"]
    assert entries[1].details == {"name": ["Z", "Zed"], "languages": ["bm", "bm,en"]}
    assert entries[0].user_id == actor.user_id


async def test_topic_and_code_changes_bump_the_version(db: Database) -> None:
    actor = await admin_actor(db)
    async with db.write() as s, s.begin():
        topic = await s.scalar(select(Topic).where(Topic.slug == "cost"))
        version = topic.version
        values = {"slug": "cost", "icon": topic.icon, "label_fr": topic.label_fr, "label_bm": topic.label_bm,
                  "label_en": topic.label_en, "sensitivity": topic.sensitivity, "position": topic.position,
                  "active": True}
        await config.save_topic(s, actor, topic.id, **values)  # nothing changed: same version
        assert topic.version == version
        await config.save_topic(s, actor, topic.id, **{**values, "active": False})
        assert topic.version == version + 1
        code = await config.save_code(s, actor, topic_id=topic.id, slug="receipt_missing", label_fr="Pas de reçu",
                                      label_bm="Sɛbɛn tɛ", label_en="No receipt", sensitivity="S2")
        assert topic.version == version + 2
        with pytest.raises(ConfigError):
            await config.save_code(s, actor, topic_id=topic.id, slug="receipt_missing", label_fr="a",
                                   label_bm="b", label_en="c")
        with pytest.raises(ConfigError):
            await config.save_topic(s, actor, topic.id, **{**values, "icon": "nope"}, icons=("cost",))
    assert code.id is not None


async def test_users_cannot_lock_the_admins_out(db: Database) -> None:
    actor = await admin_actor(db)
    async with db.write() as s, s.begin():
        with pytest.raises(ConfigError):
            await admin_domain.set_user_active(s, actor, actor.user_id, False)
        with pytest.raises(ConfigError):
            await admin_domain.update_user(s, actor, actor.user_id, name="Aminata", role="moderator")
        other = await admin_domain.create_user(s, actor, login="admin2", name="Second", role="admin")
        assert other.active
        # The first admin may deactivate the second (another admin stays active).
        before = other.session_version
        await admin_domain.set_user_active(s, actor, other.id, False)
        assert other.active is False and other.session_version == before + 1
        with pytest.raises(ConfigError):
            await admin_domain.create_user(s, actor, login="ADMIN2", name="dup", role="moderator")
        with pytest.raises(ConfigError):
            await admin_domain.create_user(s, actor, login="m1", name="M", role="moderator", email="not-an-email")


async def test_voice_prompt_is_stored_in_the_database(db: Database) -> None:
    actor = await admin_actor(db)
    data = wav_bytes()
    async with db.write() as s, s.begin():
        await config.save_voice_prompt(s, actor, screen="receipt", locale="fr", data=data)
        with pytest.raises(ConfigError):
            await config.save_voice_prompt(s, actor, screen="receipt", locale="fr", data=b"GIF89a....")
        with pytest.raises(ConfigError):
            await config.save_voice_prompt(s, actor, screen="nowhere", locale="fr", data=data)
    async with db.read() as s:
        prompt = await queries.voice_prompt_audio(s, "receipt", "fr")
        listed = await queries.voice_prompts(s)
    assert prompt is not None and prompt.content == data and prompt.content_type == "audio/wav"
    assert isinstance(listed[("receipt", "fr")], VoicePrompt)


async def test_register_reflects_the_settings(db: Database, settings: Settings) -> None:
    from dataclasses import replace

    async with db.read() as s:
        register = await build_register(s, replace(settings, contact_retention_days=30))
        sites = len(await queries.sites(s))
    text = register_csv(register)
    assert "30" in register.processings[0].retention
    assert f"{sites} active sites" in register.processings[0].purpose
    assert text.startswith("\ufeff") and text.count("\n") >= 6
    assert all(p.transfers for p in register.processings)


async def test_admin_log_query_filters(db: Database) -> None:
    actor = await admin_actor(db)
    async with db.write() as s, s.begin():
        await admin_domain.record(s, actor, "test.action", "test:1", {"a": 1})
        await admin_domain.record(s, Actor("user", "admin", None, None, "other"), "test.action", "test:2")
    async with db.read() as s:
        mine = await queries.admin_log(s, login="admin")
        everyone = await queries.admin_log(s, per_page=1)
        site_count = len((await s.scalars(select(Site))).all())
    assert [e.target for e in mine.entries] == ["test:1"]
    assert everyone.has_next and everyone.entries[0].target == "test:2"
    assert site_count > 0


def test_every_kiosk_step_can_have_a_voice_prompt() -> None:
    from feedback.web.intake_flow import KIOSK_STEPS

    assert set(KIOSK_STEPS) <= set(config.PROMPT_SCREENS)
    assert "receipt" in config.PROMPT_SCREENS
