"""Feedback by SMS (DESIGN §8): what an inbound text means, and the reply it gets.

Commands (the first word, any case; the code may contain spaces or dashes):

- ``SITECODE message`` — new feedback about that site (``BKO-C4-LAF Il n'y a pas d'eau``);
  a message without a site code goes to the gateway number's default site, if configured,
  otherwise the reply asks for the code. The reply gives the tracking code.
- ``STATUS code`` (also ``STATUT``, ``SUIVI``, ``ETAT``, ``KUNNAFONI``) — the item's status.
- ``OUI code`` / ``YES`` / ``AWO`` / ``CONFIRM`` — the submitter confirms a resolution.
- ``NON code [why]`` / ``NO`` / ``AYI`` / ``DISPUTE`` — the submitter disputes it (reopened);
  the reason is kept as an internal note, never published unreviewed.

Replies go through the outbox, in the sender's language (from the keyword, else the item's
language, else guessed from the text). The sender's number is only used for the reply: SMS
items are stored without contact details (nobody was asked for consent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback import codes
from feedback.domain import intake, notify, workflow
from feedback.domain.access import SUBMITTER
from feedback.i18n import LOCALES, N_, translate
from feedback.models import FeedbackItem, InboundSms, Site
from feedback.text import fold, nfc

STATUS_WORDS = {"STATUS": None, "STATUT": "fr", "SUIVI": "fr", "ETAT": "fr", "KUNNAFONI": "bm"}
CONFIRM_WORDS = {"CONFIRM": "en", "CONFIRMER": "fr"}
DISPUTE_WORDS = {"DISPUTE": "en", "CONTESTER": "fr"}
# Everyday yes/no: a command only when a valid code follows, otherwise ordinary feedback.
YES_WORDS = {"YES": "en", "OUI": "fr", "AWO": "bm"}
NO_WORDS = {"NO": "en", "NON": "fr", "AYI": "bm"}
# The words the replies suggest, in each language.
KEYWORDS = {
    "fr": {"status": "STATUT", "yes": "OUI", "no": "NON"},
    "bm": {"status": "KUNNAFONI", "yes": "AWO", "no": "AYI"},
    "en": {"status": "STATUS", "yes": "YES", "no": "NO"},
}
SITE_CODE_SHAPE = re.compile(r"^[A-Z]{2,4}-[A-Z0-9]{1,4}-[A-Z0-9]{2,6}$")
PHONE = re.compile(r"^\+?[0-9]{3,20}$")

# Common words of each language (folded); Bambara's own letters decide at once.
_WORDS = {
    "bm": set("ka ni ye be te don tun ko an aw ne i a u k'a n'a bee ani nka walima "
              "dogotoroso furaw fura muso den denmisen baara kenya barika ce sogoma "
              "tile wula su mogo kalo dogokun wari".split()),
    "fr": set("le la les un une des du de et est pas je nous vous il elle ils on en au aux "
              "pour par avec sans mais tres merci bonjour centre sante enfant femme attente "
              "medicament medicaments eau personnel".split()),
    "en": set("the a an and is are not i we you he she they it in on at for with without but "
              "very thank thanks hello health centre center child woman waiting medicine water "
              "staff nurse doctor please".split()),
}


def guess_language(text: str, default: str) -> str:
    """The most likely language of a short text: fr, bm or en (``default`` when unsure)."""
    if any(c in text for c in "ɛɔɲŋƐƆƝŊ"):
        return "bm"
    words = re.findall(r"[a-z']+", fold(text))
    scores = {lang: sum(1 for w in words if w in vocab) for lang, vocab in _WORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    if scores[best] == 0 or list(scores.values()).count(scores[best]) > 1:
        return default if default in LOCALES else "fr"
    return best


def digits(number: str) -> str:
    return re.sub(r"\D", "", number or "")


def clean_sender(raw: str) -> str | None:
    """The sender's number as the gateway gave it (``tel:`` URNs accepted), or None."""
    value = re.sub(r"[\s\-().]", "", (raw or "").strip())
    value = value.removeprefix("tel:")
    return value if PHONE.match(value) else None


def default_site_for(to_number: str, default_sites: dict[str, str]) -> str | None:
    """The configured site of a gateway number (compared by digits; local or international)."""
    wanted = digits(to_number)
    if not wanted:
        return None
    for number, site_code in default_sites.items():
        have = digits(number)
        if have and (have == wanted or (min(len(have), len(wanted)) >= 8 and
                                        (have.endswith(wanted) or wanted.endswith(have)))):
            return site_code
    return None


def split_code(rest: str) -> tuple[str | None, str]:
    """A tracking code at the start of ``rest`` (spaces and dashes allowed), and what follows."""
    collected = ""
    for index, char in enumerate(rest):
        if char.isalnum():
            collected += char
            if len(collected) == codes.BODY_LENGTH + 1:
                code = codes.normalise(collected)
                return (code if codes.is_valid(code) else None), rest[index + 1 :].strip()
        elif char not in " -._·":
            break
    return None, rest


@dataclass(frozen=True)
class Inbound:
    """One parsed inbound SMS."""

    gateway_id: str
    sender: str
    to: str
    text: str


@dataclass(frozen=True)
class Outcome:
    """What an inbound SMS did: ``result`` is a short word for the gateway and the logs."""

    result: str  # created, status, confirmed, disputed, refused, unknown_code, unknown_site, ask_site, help, invalid, duplicate
    item: FeedbackItem | None = None
    reply: str | None = None


def _reply(session: AsyncSession, to: str, locale: str, message: str, item: FeedbackItem | None, **params: str) -> str:
    params = {**KEYWORDS[locale], **params}
    body = translate(message, locale) % params
    notify.enqueue(session, channel="sms", recipient=to, body=body, purpose="sms_reply", locale=locale, item=item)
    return body


async def already_received(session: AsyncSession, gateway_id: str) -> bool:
    found = await session.scalar(select(InboundSms.id).where(InboundSms.gateway_message_id == gateway_id))
    return found is not None


async def _find_site(session: AsyncSession, token: str) -> Site | None:
    wanted = re.sub(r"[^A-Z0-9]", "", token.upper())
    if not wanted:
        return None
    for site in (await session.scalars(select(Site).where(Site.active))).all():
        if re.sub(r"[^A-Z0-9]", "", site.code.upper()) == wanted:
            return site
    return None


async def receive(
    session: AsyncSession,
    message: Inbound,
    *,
    default_locale: str,
    default_sites: dict[str, str],
    base_url: str = "",
    weekend: tuple[int, ...] = (5, 6),
) -> Outcome:
    """Act on one inbound SMS in the caller's transaction (exactly once per gateway id).

    A redelivery finds the gateway id already stored and does nothing; a redelivery racing
    the first makes the flush fail on the unique id, and the caller looks again.
    """
    if await already_received(session, message.gateway_id):
        return Outcome("duplicate")
    record = InboundSms(gateway_message_id=message.gateway_id)
    session.add(record)
    await session.flush()
    outcome = await _act(session, message, default_locale=default_locale, default_sites=default_sites,
                         base_url=base_url, weekend=weekend)
    record.item_id = outcome.item.id if outcome.item is not None else None
    return outcome


async def _act(
    session: AsyncSession,
    message: Inbound,
    *,
    default_locale: str,
    default_sites: dict[str, str],
    base_url: str,
    weekend: tuple[int, ...],
) -> Outcome:
    text = nfc(message.text)
    guessed = guess_language(text, default_locale)
    to = message.sender
    first, _, rest = text.partition(" ")
    word = fold(first).upper().rstrip(":,.;!")
    sample = (await session.scalar(select(Site.code).where(Site.active).order_by(Site.code).limit(1))) or "BKO-C4-LAF"
    if not text:
        body = _reply(session, to, guessed, N_(
            "Send the health centre code then your message, for example: %(site)s The water is cut. "
            "To follow feedback send %(status)s and its code."), None, site=sample)
        return Outcome("help", reply=body)

    for words, action in ((STATUS_WORDS, "status"), (CONFIRM_WORDS, "confirm"), (DISPUTE_WORDS, "dispute"),
                          (YES_WORDS, "confirm"), (NO_WORDS, "dispute")):
        if word not in words:
            continue
        code, remainder = split_code(rest)
        strict = any(words is strict_words for strict_words in (STATUS_WORDS, CONFIRM_WORDS, DISPUTE_WORDS))
        if code is None and not strict:
            break  # "Non, ..." is ordinary feedback
        item = None
        if code is not None:
            item = await session.scalar(select(FeedbackItem).where(FeedbackItem.tracking_code == code))
        locale = words[word] or (item.language if item is not None and item.language in LOCALES else guessed)
        if item is None:
            shown = codes.display(code) if code else (rest.split(" ", 1)[0][:20] or "?")
            body = _reply(session, to, locale, N_(
                "We found no feedback with the code %(code)s. Check the code and send %(status)s "
                "followed by the code."), None, code=shown)
            return Outcome("unknown_code", reply=body)
        return await _command(session, item, action, remainder, to, locale, base_url, weekend)

    site: Site | None = await _find_site(session, first)
    body_text = rest.strip() if site is not None else text
    if site is None:
        if SITE_CODE_SHAPE.match(first.upper().rstrip(":,.;")):
            body = _reply(session, to, guessed, N_(
                "We do not know the health centre code %(code)s. Check the code on the poster "
                "at the health centre and send your message again."), None, code=first.upper()[:24])
            return Outcome("unknown_site", reply=body)
        default_code = default_site_for(message.to, default_sites)
        if default_code:
            site = await _find_site(session, default_code)
        if site is None:
            body = _reply(session, to, guessed, N_(
                "Please start your message with the health centre code, for example: "
                "%(site)s The water is cut."), None, site=sample)
            return Outcome("ask_site", reply=body)
    if not body_text:
        body = _reply(session, to, guessed, N_(
            "Please write your message after the health centre code, for example: "
            "%(site)s The water is cut."), None, site=site.code)
        return Outcome("help", reply=body)
    locale = guess_language(body_text, default_locale)
    submission = intake.Submission(
        site_code=site.code,
        channel="sms",
        feedback_type="question" if "?" in body_text else "complaint",
        topic_slug="other",
        text=body_text,
        language=locale,
        publish_consent=None,
    )
    try:
        item = await intake.store(session, submission, base_url=base_url, weekend=weekend)
    except intake.Invalid as invalid:
        if "text" in invalid.errors:
            message = N_("Your message is too long. Please send a shorter message.")
        else:  # e.g. the "other" topic was retired: say so rather than fail the gateway
            message = N_("Sorry, your message could not be recorded. Please try again later.")
        return Outcome("invalid", reply=_reply(session, to, locale, message, None))
    body = _reply(session, to, locale, N_(
        "Thank you, we received your feedback for %(site)s. Your code: %(code)s. "
        "To follow it send %(status)s %(code)s"), item, site=site.name, code=codes.display(item.tracking_code))
    return Outcome("created", item=item, reply=body)


async def _command(
    session: AsyncSession,
    item: FeedbackItem,
    action: str,
    remainder: str,
    to: str,
    locale: str,
    base_url: str,
    weekend: tuple[int, ...],
) -> Outcome:
    code = codes.display(item.tracking_code)
    status = translate(notify.STATUS_LABELS[item.status], locale)
    if action == "status":
        if item.status == "resolved":
            message = N_("Feedback %(code)s: %(state)s. Reply %(yes)s %(code)s if the problem is solved, "
                         "or %(no)s %(code)s if it is not.")
        else:
            message = N_("Feedback %(code)s: %(state)s.")
        return Outcome("status", item=item, reply=_reply(session, to, locale, message, item, code=code, state=status))
    try:
        await workflow.apply(session, item, action, SUBMITTER, note=remainder or None,
                             base_url=base_url, weekend=weekend)
    except workflow.TransitionRefused:
        body = _reply(session, to, locale, N_(
            "Feedback %(code)s is %(state)s: there is no resolution to confirm or dispute now."),
            item, code=code, state=status)
        return Outcome("refused", item=item, reply=body)
    if action == "confirm":
        body = _reply(session, to, locale, N_("Thank you. You confirmed that feedback %(code)s is resolved."),
                      item, code=code)
        return Outcome("confirmed", item=item, reply=body)
    body = _reply(session, to, locale, N_(
        "Thank you. Feedback %(code)s is reopened: the team will work on it again."), item, code=code)
    return Outcome("disputed", item=item, reply=body)
