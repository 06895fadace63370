"""Intake: check a submission, store it once, route it, all in one transaction."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from feedback import codes, prepared
from feedback.domain import deadlines, notify, reference, routing, stats
from feedback.i18n import N_
from feedback.media import Media
from feedback.models import (
    Attachment,
    Event,
    FeedbackItem,
    OutboxMessage,
    ReservedCode,
    utcnow,
)
from feedback.models.items import AGE_BANDS, CHANNELS, GENDERS, NewItem
from feedback.models.taxonomy import FEEDBACK_TYPES, SENSITIVITIES
from feedback.text import fold, nfc

MAX_TEXT = 5000
# A device clock may be wrong; a submission time further off than this is not believed.
MAX_CLOCK_SKEW = timedelta(days=30)

# The statements of a submission, built once and sent as prepared statements (feedback.prepared):
# through Core, building a statement and its cache key, and then running it, cost several times
# what SQLite takes to run it (docs/BENCHMARKS.md).
_ITEMS = FeedbackItem.__table__
_STORED = (_ITEMS.c.idempotency_key, _ITEMS.c.id, _ITEMS.c.tracking_code, _ITEMS.c.received_at)
_INSERT_ITEMS = insert(_ITEMS)
_INSERT_EVENTS = insert(Event.__table__)
_INSERT_ATTACHMENTS = insert(Attachment.__table__)
_INSERT_MESSAGES = insert(OutboxMessage.__table__)


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


@dataclass(frozen=True)
class StoredItem:
    """A stored submission as its sender sees it: the item's id and what the receipt shows."""

    id: int
    tracking_code: str
    received_at: datetime


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


def draft(
    ref: reference.Reference,
    sub: Submission,
    calendar: deadlines.Calendar,
    now: datetime,
    reserved: dict[str, ReservedCode],
) -> NewItem:
    """The item a submission becomes, routed and with its deadlines; raises ``Invalid``.

    ``reserved`` holds the kiosk-reserved codes the batch asked for (loaded by the caller); a
    code used here is marked used, so a second use in the same batch is refused.
    """
    errors = check(sub)
    site = ref.site(sub.site_code)
    if site is None:
        errors["site"] = N_("Unknown health centre.")
    topic = ref.topic(sub.topic_slug)
    if topic is None:
        errors["topic"] = N_("Please choose what your feedback is about.")
    code = None
    if topic is not None and sub.code_slug:
        code = ref.codes.get((topic.id, sub.code_slug))
        if code is None:
            errors["code"] = N_("Unknown code.")
    submitted_at = now
    if sub.submitted_at is not None and abs(now - sub.submitted_at) <= MAX_CLOCK_SKEW:
        submitted_at = min(sub.submitted_at, now)
    tracking_code = codes.new_tracking_code()
    if sub.reserved_code and site is not None:
        held = reserved.get(codes.normalise(sub.reserved_code))
        usable = (
            held is not None
            and held.kiosk_id == sub.kiosk_id
            and held.used_at is None
            and submitted_at <= held.expires_at
        )
        if not usable:
            errors["reserved_code"] = N_("This receipt code was not reserved for this kiosk.")
        else:
            assert held is not None
            held.used_at = now
            tracking_code = held.code
    if errors:
        raise Invalid(errors)
    assert site is not None and topic is not None

    item = NewItem(
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
    item.partner_id, item.shared_partner_id, _reason = routing.choose(
        item, ref.rules_for(site.id, topic.id), default_partner_id=ref.default_partner_id,
        safeguarding_partner_id=ref.safeguarding_partner_id,
    )
    deadlines.set_deadlines(item, calendar, now)
    return item


async def store_many(
    session: AsyncSession,
    subs: Sequence[Submission],
    *,
    base_url: str = "",
    weekend: tuple[int, ...] = (5, 6),
    now: datetime | None = None,
) -> list[StoredItem | Invalid]:
    """Check, store and route submissions in the caller's transaction, with a few statements.

    Returns, in order, each submission's stored item or its ``Invalid`` (nothing of an invalid
    submission is written; the others are). The statements do not grow with the number of
    submissions: one INSERT per table, one upsert per aggregate table.
    """
    ref = await reference.current(session)
    return await session.run_sync(_store_many, ref, subs, base_url, weekend, now or utcnow())


def _store_many(
    session: Session,
    ref: reference.Reference,
    subs: Sequence[Submission],
    base_url: str,
    weekend: tuple[int, ...],
    now: datetime,
) -> list[StoredItem | Invalid]:
    # Run in the session's greenlet (``run_sync``), with prepared statements: through the async
    # session every statement cost a greenlet switch and the ORM's bookkeeping, more than SQLite
    # took to run it (docs/BENCHMARKS.md).
    connection = session.connection()
    calendar = deadlines.Calendar(ref.deadline_rules, ref.holidays, weekend)
    wanted = {codes.normalise(s.reserved_code) for s in subs if s.reserved_code}
    reserved = {}
    if wanted:
        rows = session.scalars(select(ReservedCode).where(ReservedCode.code.in_(wanted)))
        reserved = {r.code: r for r in rows}
    drafts: list[NewItem | Invalid] = []
    for sub in subs:
        try:
            drafts.append(draft(ref, sub, calendar, now, reserved))
        except Invalid as invalid:
            drafts.append(invalid)
    new = [(sub, item) for sub, item in zip(subs, drafts, strict=True) if isinstance(item, NewItem)]
    if not new:
        return drafts  # type: ignore[return-value]
    _avoid_reserved_codes(connection, [item for sub, item in new if not sub.reserved_code])
    # The new ids are read back by tracking code (unique): one statement, whatever the batch.
    prepared.execute_many(connection, _INSERT_ITEMS, [item.columns() for _sub, item in new])
    ids: dict[str, int] = dict(prepared.select_in(  # type: ignore[arg-type]
        connection, (_ITEMS.c.tracking_code, _ITEMS.c.id), _ITEMS.c.tracking_code, [i.tracking_code for _s, i in new]
    ))

    events: list[dict[str, Any]] = []
    voices: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    delta = stats.StatDelta()
    for sub, item in new:
        item.id = ids[item.tracking_code]
        assert item.partner_id is not None
        events += [
            {"item_id": item.id, "kind": "submitted", "created_at": now, "actor_label": "submitter",
             "public": True, "to_status": "received", "partner_id": None, "data": {"channel": sub.channel}},
            {"item_id": item.id, "kind": "routed", "created_at": now, "actor_label": "system",
             "public": True, "to_status": None, "partner_id": item.partner_id,
             "data": {"reason": routing.reason_for(item)}},
        ]
        if sub.voice is not None:
            voices.append({"item_id": item.id, "kind": "voice", "content_type": sub.voice.content_type,
                           "size": len(sub.voice.content), "sha256": sub.voice.sha256,
                           "content": sub.voice.content, "created_at": now})
        delta.add(stats.EMPTY, stats.snapshot(item))
        recipients = ref.recipients(item.partner_id, sensitive=item.sensitivity in routing.SENSITIVE)
        messages += notify.assignment_messages(item, recipients, base_url)
    prepared.execute_many(connection, _INSERT_EVENTS, events)
    prepared.execute_many(connection, _INSERT_ATTACHMENTS, voices)
    prepared.execute_many(connection, _INSERT_MESSAGES, messages)
    delta.write_sync(session)
    return [StoredItem(ids[item.tracking_code], item.tracking_code, item.received_at)
            if isinstance(item, NewItem) else item for item in drafts]


def _avoid_reserved_codes(connection: Connection, items: list[NewItem]) -> None:
    # A code held by a kiosk for an offline receipt is never given to another item.
    while items:
        taken = {code for (code,) in prepared.select_in(
            connection, (ReservedCode.__table__.c.code,), ReservedCode.__table__.c.code, [i.tracking_code for i in items]
        )}
        items = [i for i in items if i.tracking_code in taken]
        for item in items:
            item.tracking_code = codes.new_tracking_code()


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
    [result] = await store_many(session, [sub], base_url=base_url, weekend=weekend, now=now)
    if isinstance(result, Invalid):
        raise result
    return await session.get_one(FeedbackItem, result.id)


async def submit_once(
    write: async_sessionmaker[AsyncSession],
    sub: Submission,
    *,
    base_url: str = "",
    weekend: tuple[int, ...] = (5, 6),
) -> tuple[StoredItem, bool]:
    """Store a submission exactly once; returns (item, created). Raises ``Invalid``.

    Submissions arriving together are written together, in one transaction (group commit):
    on SQLite there is one writer, and one transaction of sixteen items holds it barely longer
    than one of a single item. A resend with the same idempotency key, even one racing the
    first in the same batch, gets the item already stored.
    """
    loop = asyncio.get_running_loop()
    writers = _writers.setdefault(loop, {})
    writer = writers.get((write, base_url, weekend))
    if writer is None:
        writer = writers[(write, base_url, weekend)] = GroupWriter(write, base_url=base_url, weekend=weekend)
    result = await writer.submit(sub)
    if isinstance(result, Invalid):
        raise result
    return result


Outcome = tuple[StoredItem, bool] | Invalid
MAX_BATCH = 64
GATHER_TURNS = 3
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], GroupWriter]] = (
    weakref.WeakKeyDictionary()
)


class GroupWriter:
    """Writes the submissions waiting in this process, a batch per transaction.

    The first submission to arrive starts a drain task; the ones that arrive while a batch is
    being written wait for the next. A batch that fails as a whole (a duplicate key inserted by
    another process, say) is written again one submission at a time, so one bad submission
    never costs the others theirs.
    """

    def __init__(self, write: async_sessionmaker[AsyncSession], *, base_url: str, weekend: tuple[int, ...]) -> None:
        self.write = write
        self.base_url = base_url
        self.weekend = weekend
        self.waiting: list[tuple[Submission, asyncio.Future[Outcome]]] = []
        self.task: asyncio.Task[None] | None = None

    async def submit(self, sub: Submission) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.waiting.append((sub, future))
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._drain())
        # Shielded: a request cancelled while waiting leaves its submission to be written.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        batch: list[tuple[Submission, asyncio.Future[Outcome]]] = []
        try:
            while self.waiting:
                await self._gather()
                batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
                await self._write(batch)
        except BaseException as exc:
            for _sub, future in [*batch, *self.waiting]:
                if not future.done():
                    future.set_exception(RuntimeError(f"the intake writer stopped: {exc!r}"))
            self.waiting = []
            raise
        finally:
            self.task = None

    async def _gather(self) -> None:
        """Let the requests the loop is about to serve join this batch before it is written.

        A write runs without yielding, so requests that arrived meanwhile are still being read
        and parsed when it ends: a few turns of the loop let them reach ``submit`` and share
        the next transaction (its fixed cost is most of a small batch's). It stops as soon as
        a turn brings nobody new, so a lone submission waits only one turn.
        """
        for _turn in range(GATHER_TURNS):
            before = len(self.waiting)
            await asyncio.sleep(0)
            if len(self.waiting) == before or len(self.waiting) >= MAX_BATCH:
                return

    async def _write(self, batch: list[tuple[Submission, asyncio.Future[Outcome]]]) -> None:
        attempts = 3 if len(batch) == 1 else 1
        for attempt in range(attempts):
            try:
                outcomes = await self._transaction([sub for sub, _ in batch])
            except IntegrityError as exc:
                # A key stored meanwhile by another process, or (very rarely) a tracking code
                # drawn twice: alone, try again (the key is then found); together, one by one.
                if len(batch) > 1:
                    for entry in batch:
                        await self._write([entry])
                    return
                if attempt == attempts - 1:
                    _settle(batch[0][1], exception=RuntimeError(f"could not store the submission: {exc!r}"))
            except Exception as exc:  # noqa: BLE001 (handed to the request that asked)
                if len(batch) > 1:
                    for entry in batch:
                        await self._write([entry])
                    return
                _settle(batch[0][1], exception=exc)
                return
            else:
                for (_sub, future), outcome in zip(batch, outcomes, strict=True):
                    _settle(future, result=outcome)
                return

    async def _transaction(self, subs: list[Submission]) -> list[Outcome]:
        async with self.write() as session, session.begin():
            ref = await reference.current(session)
            return await session.run_sync(self._store_batch, ref, subs)

    def _store_batch(self, session: Session, ref: reference.Reference, subs: list[Submission]) -> list[Outcome]:
        keys = [s.idempotency_key for s in subs if s.idempotency_key]
        found: dict[str | None, Outcome] = {}
        if keys:
            rows = prepared.select_in(session.connection(), _STORED, _ITEMS.c.idempotency_key, keys)
            found = {key: (StoredItem(id_, code, received_at), False) for key, id_, code, received_at in rows}
        # The first submission of each key is stored; a resend in the same batch gets its item.
        first: dict[str, int] = {}
        new = []
        for index, sub in enumerate(subs):
            key = sub.idempotency_key
            if key is None or (key not in found and key not in first):
                if key is not None:
                    first[key] = index
                new.append(sub)
        stored = _store_many(session, ref, new, self.base_url, self.weekend, utcnow())
        outcome_of = {id(sub): (r if isinstance(r, Invalid) else (r, True)) for sub, r in zip(new, stored, strict=True)}
        outcomes: list[Outcome] = []
        for sub in subs:
            if id(sub) in outcome_of:
                outcomes.append(outcome_of[id(sub)])
                continue
            key = sub.idempotency_key
            if key in found:
                outcomes.append(found[key])
            else:
                original = outcome_of[id(subs[first[key]])]  # type: ignore[index]
                outcomes.append(original if isinstance(original, Invalid) else (original[0], False))
        return outcomes


def _settle(future: asyncio.Future[Outcome], *, result: Outcome | None = None, exception: BaseException | None = None) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)  # type: ignore[arg-type]
