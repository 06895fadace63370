"""Moderation (DESIGN §3, §10): what the public may read about an item, decided by a person.

The moderator writes a public summary from the original text (which is never changed), with
personal data found and highlighted for them; sets sensitivity and criticality; transcribes and
translates voice notes; and publishes or unpublishes. Every change is an event. Raising an
item to S2/S3 sends it to the safeguarding focal point at once (``routing.route``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.domain import deadlines, notify, routing, stats
from feedback.domain.access import Actor, can_view
from feedback.i18n import N_
from feedback.models import Event, FeedbackItem, utcnow
from feedback.models.items import CRITICALITIES
from feedback.models.taxonomy import SENSITIVITIES
from feedback.text import fold, nfc

MODERATING_ROLES = ("moderator", "safeguarding_officer")
MAX_SUMMARY = 2000
MAX_TRANSCRIPT = 5000
REDACTED = "[…]"

# Common Malian given and family names; ``FEEDBACK_REDACT_NAMES`` adds local ones. Words that
# are also everyday Bambara or French words (Ba, Sira, Ami...) are left out on purpose.
DEFAULT_NAMES = frozenset(fold(n) for n in """
Aminata Fatoumata Fatoumata Mariam Mariame Oumou Awa Kadiatou Kadidia Djeneba Assitan Rokia Hawa
Safiatou Aissata Aicha Salimata Bintou Korotoumou Nafissatou Ramata Maimouna Tenin Nassira Coumba
Oumar Moussa Mamadou Ibrahim Ibrahima Boubacar Seydou Bakary Adama Souleymane Modibo Amadou Drissa
Lassana Sekou Yacouba Abdoulaye Moctar Cheick Siaka Madou Brahima Daouda Sidiki Mahamadou Youssouf
Alou Tiemoko Dramane Mohamed Ousmane Hamidou Karim Salif Fousseyni Abdoul Zoumana Bourama
Traore Diallo Keita Coulibaly Konate Diarra Sidibe Sangare Dembele Toure Cisse Sissoko Kante Camara
Doumbia Maiga Sanogo Bagayoko Kone Diakite Dicko Guindo Togola Samake Tangara Goita Fofana Sylla
Tounkara Kouyate Soumare Haidara Sacko Kamissoko Berthe Mariko Ballo Niare Dolo Tembely Kassogue
Doucoure Dansoko Konare Tall Bathily Simpara Sow Niang Ouattara Dao Thera Dama
""".split())

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# National ID (NINA), passport and card numbers: nine digits or more, maybe grouped, maybe with
# letters around them. Dates (8 digits) and prices stay below that.
ID_NUMBER = re.compile(r"(?<![\w+])(?:[A-Z]{1,3}[ -]?)?\d(?:[ .-]?\d){8,}[A-Z]?(?!\w)")
WORD = re.compile(r"\w+(?:['’-]\w+)*", re.UNICODE)
TITLE = re.compile(
    r"\b(?:Dr|Docteur|Doctor|M|Mr|Mme|Mlle|Mrs|Ms|Monsieur|Madame|Mademoiselle|Sage-femme|Infirmier|Infirmière)\.?\s+"
    r"(?P<name>[A-ZÀ-ÖØ-ÞƐƆƝŊ][\w’'-]+)",
    re.UNICODE,
)


@dataclass(frozen=True)
class Span:
    """Personal data found in a text: ``text[start:end]`` is of ``kind``."""

    start: int
    end: int
    kind: str  # "phone", "email", "name", "id_number"


@dataclass(frozen=True)
class Segment:
    """A piece of text for display; ``kind`` is set when it is personal data to highlight."""

    text: str
    kind: str | None = None


class ModerationRefused(Exception):
    """A moderation step that the rules do not allow; ``message`` is a gettext msgid."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


def name_set(extra: Iterable[str] = ()) -> frozenset[str]:
    """The folded names to look for: the built-in list plus configured ones."""
    return DEFAULT_NAMES | frozenset(fold(n) for n in extra if n.strip())


def find_personal_data(text: str | None, names: Iterable[str] = ()) -> list[Span]:
    """Phone numbers, e-mail addresses, names and ID-like numbers in ``text``, in order."""
    if not text:
        return []
    found: list[Span] = []
    for match in EMAIL.finditer(text):
        found.append(Span(match.start(), match.end(), "email"))
    for number in phonenumbers.PhoneNumberMatcher(text, "ML"):
        found.append(Span(number.start, number.end, "phone"))
    for match in ID_NUMBER.finditer(text):
        found.append(Span(match.start(), match.end(), "id_number"))
    wanted = name_set(names)
    for match in WORD.finditer(text):
        if fold(match.group()) in wanted:
            found.append(Span(match.start(), match.end(), "name"))
    for match in TITLE.finditer(text):
        found.append(Span(match.start("name"), match.end("name"), "name"))
    return _without_overlaps(found)


def _without_overlaps(spans: list[Span]) -> list[Span]:
    # Earlier, then longer spans win (an e-mail address is not also a name).
    ordered = sorted(spans, key=lambda s: (s.start, -(s.end - s.start)))
    result: list[Span] = []
    for span in ordered:
        if result and span.start < result[-1].end:
            continue
        result.append(span)
    return result


def segments(text: str | None, spans: list[Span]) -> list[Segment]:
    """``text`` cut into plain and personal-data pieces, for safe highlighting in a template."""
    if not text:
        return []
    pieces: list[Segment] = []
    position = 0
    for span in spans:
        if span.start > position:
            pieces.append(Segment(text[position : span.start]))
        pieces.append(Segment(text[span.start : span.end], span.kind))
        position = span.end
    if position < len(text):
        pieces.append(Segment(text[position:]))
    return pieces


def redact(text: str | None, names: Iterable[str] = ()) -> str:
    """``text`` with every piece of personal data replaced by ``[…]``."""
    if not text:
        return ""
    spans = find_personal_data(text, names)
    return "".join(REDACTED if s.kind else s.text for s in segments(text, spans))


def suggested_summary(item: FeedbackItem, names: Iterable[str] = ()) -> str:
    """What the summary field starts with: the saved summary, else the redacted original."""
    if item.public_summary:
        return item.public_summary
    return redact(item.translation or item.transcript or item.text, names)


def search_text(item: FeedbackItem) -> str:
    parts = (item.text, item.public_summary, item.transcript, item.translation, item.public_response)
    return fold(" ".join(p for p in parts if p))


@dataclass
class Changes:
    """What the moderator submitted; None leaves a field as it is."""

    public_summary: str | None = None
    sensitivity: str | None = None
    criticality: str | None = None
    transcript: str | None = None
    translation: str | None = None


def _event(item: FeedbackItem, kind: str, actor: Actor, now: datetime, **fields: object) -> Event:
    return Event(item_id=item.id, kind=kind, created_at=now, actor_user_id=actor.user_id,
                 actor_label=actor.label or actor.kind, **fields)


def _check_actor(item: FeedbackItem, actor: Actor) -> None:
    if actor.kind != "user" or actor.role not in MODERATING_ROLES or not can_view(actor, item):
        raise ModerationRefused(N_("Your role may not do this."))


async def moderate(
    session: AsyncSession,
    item: FeedbackItem,
    actor: Actor,
    changes: Changes,
    *,
    base_url: str = "",
    weekend: tuple[int, ...] = (5, 6),
    now: datetime | None = None,
) -> list[str]:
    """Save a moderator's review; returns the kinds of events written. Never commits."""
    _check_actor(item, actor)
    now = now or utcnow()
    summary = nfc(changes.public_summary) if changes.public_summary is not None else None
    transcript = nfc(changes.transcript) if changes.transcript is not None else None
    translation = nfc(changes.translation) if changes.translation is not None else None
    if summary is not None and len(summary) > MAX_SUMMARY:
        raise ModerationRefused(N_("The public summary is too long (at most %(n)s characters)."), n=MAX_SUMMARY)
    for value in (transcript, translation):
        if value is not None and len(value) > MAX_TRANSCRIPT:
            raise ModerationRefused(N_("The transcript is too long (at most %(n)s characters)."), n=MAX_TRANSCRIPT)
    if changes.sensitivity is not None and changes.sensitivity not in SENSITIVITIES:
        raise ModerationRefused(N_("Choose a sensitivity level."))
    if changes.criticality is not None and changes.criticality not in CRITICALITIES:
        raise ModerationRefused(N_("Choose a criticality."))

    before = stats.snapshot(item)
    details: dict[str, object] = {}
    if summary is not None and summary != (item.public_summary or ""):
        item.public_summary = summary or None
        details["summary"] = True
    if changes.criticality is not None and changes.criticality != item.criticality:
        details["criticality"] = [item.criticality, changes.criticality]
        item.criticality = changes.criticality
    transcribed: dict[str, bool] = {}
    if transcript is not None and transcript != (item.transcript or ""):
        item.transcript = transcript or None
        transcribed["transcript"] = True
    if translation is not None and translation != (item.translation or ""):
        item.translation = translation or None
        transcribed["translation"] = True

    events: list[Event] = []
    if details:
        # The summary history stays in the timeline (staff only): the original is never lost.
        events.append(_event(item, "moderated", actor, now, public=False,
                             body=item.public_summary if details.get("summary") else None, data=details))
    if transcribed:
        events.append(_event(item, "transcribed", actor, now, public=False, data=transcribed))
    if changes.sensitivity is not None and changes.sensitivity != item.sensitivity:
        events.extend(await _change_sensitivity(session, item, actor, changes.sensitivity,
                                                base_url=base_url, weekend=weekend, now=now))
    item.moderated_at = now
    item.updated_at = now
    item.search_text = search_text(item)
    session.add_all(events)
    await stats.record(session, before, item)
    return [e.kind for e in events]


async def _change_sensitivity(
    session: AsyncSession, item: FeedbackItem, actor: Actor, level: str, *,
    base_url: str, weekend: tuple[int, ...], now: datetime,
) -> list[Event]:
    old = item.sensitivity
    item.sensitivity = level
    events = [_event(item, "sensitivity_changed", actor, now, public=False, data={"from": old, "to": level})]
    if item.published and level != "S0":
        item.published = False
        events.append(_event(item, "unpublished", actor, now, public=False, data={"reason": "sensitivity"}))
    sensitive = level in routing.SENSITIVE
    if sensitive != (old in routing.SENSITIVE):
        # Into or out of the safeguarding circle: the rules choose the partner again.
        partner_id, reason = await routing.route(session, item)
        if partner_id != item.partner_id:
            item.partner_id = partner_id
            item.escalation_level = 0
            item.escalated_for = None
            if item.is_open:
                calendar = await deadlines.load_calendar(session, weekend)
                deadlines.set_deadlines(item, calendar, now)
            events.append(_event(item, "routed", actor, now, public=False, partner_id=partner_id,
                                 data={"reason": reason}))
            await notify.notify_assignment(session, item, partner_id, base_url)
    elif sensitive:
        # Between S2 and S3: who else may read it changes (S3 never reaches the facility).
        await routing.route(session, item)
    return events


async def publish(
    session: AsyncSession,
    item: FeedbackItem,
    actor: Actor,
    *,
    override: bool = False,
    names: Iterable[str] = (),
    now: datetime | None = None,
) -> None:
    """Show the item's summary on the public pages (DESIGN §10 decides if it may)."""
    _check_actor(item, actor)
    now = now or utcnow()
    if item.publish_consent is not True:
        raise ModerationRefused(N_("The person did not agree to a public summary: this item stays in the totals only."))
    if item.sensitivity != "S0":
        raise ModerationRefused(N_("Only items marked “S0 public” can be published. Set the sensitivity first."))
    if not item.public_summary:
        raise ModerationRefused(N_("Write a public summary before publishing."))
    found = find_personal_data(item.public_summary, names)
    if found and not override:
        raise ModerationRefused(
            N_("The public summary still contains personal data (highlighted). Remove it, or tick “Publish anyway” if it is not personal.")
        )
    if item.published:
        return
    before = stats.snapshot(item)
    item.published = True
    item.published_at = item.published_at or now
    item.moderated_at = item.moderated_at or now
    item.updated_at = now
    session.add(_event(item, "published", actor, now, public=True,
                       data={"override": True, "kinds": sorted({s.kind for s in found})} if found else None))
    await stats.record(session, before, item)


async def unpublish(
    session: AsyncSession, item: FeedbackItem, actor: Actor, *, reason: str = "", now: datetime | None = None
) -> None:
    """Take the item's summary off the public pages (it stays in the totals)."""
    _check_actor(item, actor)
    now = now or utcnow()
    if not item.published:
        raise ModerationRefused(N_("This item is not published."))
    before = stats.snapshot(item)
    item.published = False
    item.updated_at = now
    session.add(_event(item, "unpublished", actor, now, public=False, body=nfc(reason)[:1000] or None))
    await stats.record(session, before, item)
