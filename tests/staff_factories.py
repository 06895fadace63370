"""Items for the staff-side tests, made through the real intake (routing, deadlines, events)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from feedback.db import Database
from feedback.domain import intake
from feedback.media import Media
from feedback.models import FeedbackItem, Partner, User

# A tiny but real PNG (1×1) and WAV header, for uploads and voice notes.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
WAV = b"RIFF" + (44).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little") + bytes.fromhex(
    "01000100401f0000803e000002001000"
) + b"data" + (8).to_bytes(4, "little") + b"\x00" * 8


async def make_item(
    db: Database,
    *,
    site: str = "BKO-C4-LAF",
    topic: str = "welcome",
    text: str = "L'accueil était très lent ce matin.",
    feedback_type: str = "complaint",
    sensitivity: str | None = None,
    publish_consent: bool | None = True,
    voice: bool = False,
    contact_phone: str | None = None,
    now: datetime | None = None,
) -> FeedbackItem:
    """Store one submission as the kiosk would and return the item."""
    media = None
    if voice:
        import hashlib

        media = Media("voice", "audio/wav", WAV, hashlib.sha256(WAV).hexdigest(), 0.0)
    sub = intake.Submission(
        site_code=site, channel="kiosk", feedback_type=feedback_type, topic_slug=topic, text=text,
        language="fr", publish_consent=publish_consent, sensitivity=sensitivity, voice=media,
        contact_phone=contact_phone, contact_consent=contact_phone is not None,
        idempotency_key=uuid.uuid4().hex,
    )
    async with db.write() as session, session.begin():
        return await intake.store(session, sub, base_url="http://testserver", now=now)


async def get_item(db: Database, item_id: int) -> FeedbackItem:
    async with db.read() as session:
        item = await session.get(FeedbackItem, item_id)
        assert item is not None
        return item


async def partner_id(db: Database, slug: str) -> int:
    async with db.read() as session:
        found = await session.scalar(select(Partner.id).where(Partner.slug == slug))
        assert found is not None
        return int(found)


async def user_id(db: Database, login: str) -> int:
    async with db.read() as session:
        found = await session.scalar(select(User.id).where(User.login == login))
        assert found is not None
        return int(found)
