"""Items for the open-data tests, made through the real domain functions (intake, moderation,
workflow), with personal data planted so the tests can prove it never comes out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from feedback.db import Database
from feedback.domain import apikeys, intake, moderation, workflow
from feedback.domain.access import Actor
from feedback.models import FeedbackItem, User, utcnow

SECRET_TEXT = "Texte original confidentiel de Awa Traoré"
PHONE = "76 12 34 56"
EMAIL = "awa.secret@example.org"
NAME = "Awa Traoré"


async def actor(db: Database, login: str) -> Actor:
    async with db.read() as session:
        user = await session.scalar(select(User).where(User.login == login))
    assert user is not None
    return Actor.for_user(user)


async def make_item(
    db: Database,
    *,
    site: str = "BKO-C4-LAF",
    topic: str = "waiting",
    feedback_type: str = "complaint",
    summary: str | None = "Une mère signale une longue attente le matin.",
    sensitivity: str = "S0",
    publish: bool = True,
    publish_consent: bool | None = True,
    response: str | None = None,
    now: datetime | None = None,
) -> str:
    """One item; moderated to ``sensitivity`` and published when asked. Returns its code."""
    now = now or utcnow()
    sub = intake.Submission(
        site_code=site, channel="web", feedback_type=feedback_type, topic_slug=topic, text=SECRET_TEXT,
        contact_phone=PHONE, contact_email=EMAIL, contact_name=NAME, contact_consent=True,
        publish_consent=publish_consent, gender="female", age_band="25_34",
    )
    moderator = await actor(db, "moderatrice")
    officer = await actor(db, "sauvegarde")
    async with db.write() as session, session.begin():
        item = await intake.store(session, sub, now=now)
        who = officer if item.sensitivity in ("S2", "S3") or sensitivity in ("S2", "S3") else moderator
        await moderation.moderate(session, item, who, moderation.Changes(public_summary=summary, sensitivity=sensitivity),
                                  now=now)
        if response:
            staff = Actor("user", "admin", None, None, "admin") if item.sensitivity in ("S0", "S1") else officer
            await workflow.apply(session, item, "resolve", staff, public_text=response, now=now)
        if publish and summary:
            await moderation.publish(session, item, moderator, override=True, now=now)
        return item.tracking_code


async def make_key(db: Database, name: str = "Integrator", partner: str | None = "dtc-laf") -> str:
    async with db.write() as session, session.begin():
        return await apikeys.create_api_key(session, name=name, partner_slug=partner)


async def load(db: Database, code: str) -> FeedbackItem:
    async with db.read() as session:
        item = await session.scalar(select(FeedbackItem).where(FeedbackItem.tracking_code == code))
    assert item is not None
    return item


def assert_nothing_personal(text: str) -> None:
    """None of the planted personal data, nor the unreviewed text, is in ``text``."""
    for secret in (SECRET_TEXT, "Awa", "Traor", "76123456", "+22376123456", "76 12 34 56", EMAIL, "female", "25_34"):
        assert secret not in text, secret
