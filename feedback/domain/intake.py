"""Intake: check a submission, store it once, route it, all in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback import codes
from feedback.domain import deadlines, notify, routing, stats
from feedback.i18n import N_
from feedback.media import Media
from feedback.models import (
    Attachment,
    Event,
    FeedbackItem,
    ReservedCode,
    Site,
    Topic,
    TopicCode,
    utcnow,
)
from feedback.models.items import AGE_BANDS, CHANNELS, GENDERS
from feedback.models.taxonomy import FEEDBACK_TYPES, SENSITIVITIES
from feedback.text import fold, nfc

MAX_TEXT = 5000
# A device clock may be wrong; a submission time further off than this is not believed.
MAX_CLOCK_SKEW = timedelta(days=30)


@dataclass
class Submission:
    """What a person gave, already parsed from the form, SMS or API call."""

    site_code: str
    channel: str
    feedback_type: str
    topic_slug: str
    text: str = ""
    language: str = "fr"
    voice: Media | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    contact_name: str | None = None
    contact_consent: bool = False
    publish_consent: bool | None = None
    gender: str | None = None
    age_band: str | None = None
    idempotency_key: str | None = None
    kiosk_id: int | None = None
    reserved_code: str | None = None
    submitted_at: datetime | None = None
    code_slug: str | None = None
    sensitivity: str | None = None


@dataclass
class Invalid(Exception):
    """The submission cannot be stored as it is: field → gettext msgid."""

    errors: dict[str, str] = field(default_factory=dict)


def parse_mali_phone(raw: str | None) -> str | None:
    """A Mali phone number in E.164 (+223XXXXXXXX); local and +223 forms accepted.

    Raises ValueError when it is not a valid number.
    """
    if raw is None or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, "ML")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(raw) from exc
    # Only Mali numbers: call-backs and SMS replies go through a Malian gateway.
    if not phonenumbers.is_valid_number(number) or phonenumbers.region_code_for_number(number) != "ML":
        raise ValueError(raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check(sub: Submission) -> dict[str, str]:
    """Field errors (msgids) for a submission; empty when it can be stored."""
    errors: dict[str, str] = {}
    sub.text = nfc(sub.text)
    if sub.channel not in CHANNELS:
        errors["channel"] = N_("Unknown channel.")
    if sub.feedback_type not in FEEDBACK_TYPES:
        errors["feedback_type"] = N_("Please choose what kind of feedback this is.")
    if not sub.text and sub.voice is None:
        errors["text"] = N_("Please say something: type a message or record a voice note.")
    elif len(sub.text) > MAX_TEXT:
        errors["text"] = N_("The message is too long: at most 5000 characters.")
    try:
        sub.contact_phone = parse_mali_phone(sub.contact_phone)
    except ValueError:
        errors["contact_phone"] = N_("This is not a valid Mali phone number (for example 76 12 34 56 or +223 76 12 34 56).")
    if sub.contact_consent and not sub.contact_phone and not sub.contact_email:
        errors["contact_phone"] = N_("Please give a phone number, or say you do not want to be contacted.")
    if sub.gender is not None and sub.gender not in GENDERS:
        errors["gender"] = N_("Please choose one of the answers.")
    if sub.age_band is not None and sub.age_band not in AGE_BANDS:
        errors["age_band"] = N_("Please choose one of the answers.")
    if sub.sensitivity is not None and sub.sensitivity not in SENSITIVITIES:
        errors["sensitivity"] = N_("Unknown sensitivity.")
    if sub.idempotency_key is not None and not (8 <= len(sub.idempotency_key) <= 64):
        errors["idempotency_key"] = N_("This form is not valid any more. Please start again.")
    return errors


def strictest(*levels: str | None) -> str:
    return max((lvl for lvl in levels if lvl), default="S1")


async def find_existing(session: AsyncSession, idempotency_key: str | None) -> FeedbackItem | None:
    if not idempotency_key:
        return None
    return await session.scalar(
        select(FeedbackItem).where(FeedbackItem.idempotency_key == idempotency_key)
    )


async def store(
    session: AsyncSession,
    sub: Submission,
    *,
    base_url: str = "",
    weekend: tuple[int, ...] = (5, 6),
    now: datetime | None = None,
) -> FeedbackItem:
    """Check, store and route one submission in the caller's transaction.

    Raises ``Invalid`` with field errors; nothing is written then.
    """
    errors = check(sub)
    site = await session.scalar(select(Site).where(Site.code == sub.site_code.upper(), Site.active))
    if site is None:
        errors["site"] = N_("Unknown health centre.")
    topic = await session.scalar(select(Topic).where(Topic.slug == sub.topic_slug, Topic.active))
    if topic is None:
        errors["topic"] = N_("Please choose what your feedback is about.")
    code = None
    if topic is not None and sub.code_slug:
        code = await session.scalar(
            select(TopicCode).where(TopicCode.topic_id == topic.id, TopicCode.slug == sub.code_slug)
        )
        if code is None:
            errors["code"] = N_("Unknown code.")
    tracking_code = codes.new_tracking_code()
    while await session.get(ReservedCode, tracking_code) is not None:
        # Held by a kiosk for an offline receipt: never give it to another item.
        tracking_code = codes.new_tracking_code()
    now = now or utcnow()
    submitted_at = now
    if sub.submitted_at is not None and abs(now - sub.submitted_at) <= MAX_CLOCK_SKEW:
        submitted_at = min(sub.submitted_at, now)
    if sub.reserved_code and site is not None:
        reserved = await session.get(ReservedCode, codes.normalise(sub.reserved_code))
        usable = (
            reserved is not None
            and reserved.kiosk_id == sub.kiosk_id
            and reserved.used_at is None
            and submitted_at <= reserved.expires_at
        )
        if not usable:
            errors["reserved_code"] = N_("This receipt code was not reserved for this kiosk.")
        else:
            assert reserved is not None
            reserved.used_at = now
            tracking_code = reserved.code
    if errors:
        raise Invalid(errors)
    assert site is not None and topic is not None

    item = FeedbackItem(
        tracking_code=tracking_code,
        idempotency_key=sub.idempotency_key,
        channel=sub.channel,
        site_id=site.id,
        kiosk_id=sub.kiosk_id,
        feedback_type=sub.feedback_type,
        topic_id=topic.id,
        code_id=code.id if code else None,
        text=sub.text,
        search_text=fold(sub.text),
        language=sub.language if sub.language in ("fr", "bm", "en") else "fr",
        contact_phone=sub.contact_phone if sub.contact_consent else None,
        contact_email=nfc(sub.contact_email) or None if sub.contact_consent else None,
        contact_name=nfc(sub.contact_name) or None if sub.contact_consent else None,
        contact_consent=bool(sub.contact_consent and (sub.contact_phone or sub.contact_email)),
        publish_consent=sub.publish_consent,
        gender=sub.gender,
        age_band=sub.age_band,
        status="received",
        # Restricted until a moderator reviews it; sensitive topics are stricter from the start.
        sensitivity=strictest("S1", topic.sensitivity, code.sensitivity if code else None, sub.sensitivity),
        criticality="urgent" if strictest(topic.sensitivity) == "S3" else "action",
        submitted_at=submitted_at,
        received_at=now,
        updated_at=now,
    )
    partner_id, reason = await routing.route(session, item)
    item.partner_id = partner_id
    calendar = await deadlines.load_calendar(session, weekend)
    deadlines.set_deadlines(item, calendar, now)
    session.add(item)
    await session.flush()
    if sub.voice is not None:
        session.add(
            Attachment(
                item_id=item.id,
                kind="voice",
                content_type=sub.voice.content_type,
                size=len(sub.voice.content),
                sha256=sub.voice.sha256,
                content=sub.voice.content,
            )
        )
    session.add_all(
        [
            Event(item_id=item.id, kind="submitted", created_at=now, actor_label="submitter",
                  public=True, to_status="received", data={"channel": sub.channel}),
            Event(item_id=item.id, kind="routed", created_at=now, actor_label="system",
                  public=True, partner_id=partner_id, data={"reason": reason}),
        ]
    )
    await stats.record(session, stats.EMPTY, item)
    await notify.notify_assignment(session, item, partner_id, base_url)
    return item


async def submit_once(
    write: async_sessionmaker[AsyncSession],
    sub: Submission,
    *,
    base_url: str = "",
    weekend: tuple[int, ...] = (5, 6),
) -> tuple[FeedbackItem, bool]:
    """Store a submission exactly once; returns (item, created).

    This function owns its transaction, because exactly-once needs it: a resend with the same
    idempotency key, even one racing the first, finds the item already stored.
    """
    for _attempt in range(3):
        try:
            async with write() as session, session.begin():
                existing = await find_existing(session, sub.idempotency_key)
                if existing is not None:
                    return existing, False
                item = await store(session, sub, base_url=base_url, weekend=weekend)
            return item, True
        except IntegrityError:
            # Another request with the same key won the race (or, very rarely, the same
            # random tracking code was drawn): look again, or try with a new code.
            async with write() as session:
                existing = await find_existing(session, sub.idempotency_key)
            if existing is not None:
                return existing, False
    raise RuntimeError("could not store the submission after 3 attempts")
