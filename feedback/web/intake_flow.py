"""The intake flow as data: its steps, the answers carried between them, and each step's checks.

The flow keeps no server-side state. Every step is a POST of the same form carrying the answers
so far as hidden fields, so it works without JavaScript, survives a server restart, and lets an
offline kiosk (issue 4) run the same steps on the device. This module is pure: no database, no
request; the handlers in ``web/kiosk.py`` load what it needs and render what it decides.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from feedback.domain.intake import MAX_TEXT, Submission, parse_mali_phone
from feedback.i18n import LOCALES, N_, pick_locale
from feedback.models.items import AGE_BANDS, GENDERS
from feedback.models.taxonomy import FEEDBACK_TYPES
from feedback.text import nfc

KIOSK_STEPS = ("language", "type", "topic", "say", "contact", "publish", "gender", "age", "review")
WEB_STEPS = ("site", "type", "topic", "say", "contact", "publish", "gender", "age", "review")

# Every answer the form carries, in the order the hidden fields are written.
STATE_FIELDS = (
    "lang",
    "site",
    "feedback_type",
    "topic",
    "text",
    "has_voice",
    "contact_consent",
    "contact_phone",
    "publish_consent",
    "gender",
    "age_band",
    "idempotency_key",
)
# The answers each step asks for (its own inputs, so they are not also sent as hidden fields).
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "language": ("lang",),
    "site": ("site",),
    "type": ("feedback_type",),
    "topic": ("topic",),
    "say": ("text", "has_voice"),
    "contact": ("contact_consent", "contact_phone"),
    "publish": ("publish_consent",),
    "gender": ("gender",),
    "age": ("age_band",),
    "review": (),
}
# Where an error of the intake domain (field → msgid) is shown.
FIELD_STEP = {
    "site": "site",
    "feedback_type": "type",
    "topic": "topic",
    "text": "say",
    "voice": "say",
    "contact_phone": "contact",
    "publish_consent": "publish",
    "gender": "gender",
    "age_band": "age",
}

HEADINGS = {
    "language": N_("Choose your language"),
    "site": N_("Which health centre is your feedback about?"),
    "type": N_("What do you want to tell us?"),
    "topic": N_("What is it about?"),
    "say": N_("Tell us"),
    "contact": N_("May we call you back?"),
    "publish": N_("May we publish a short summary, without your name?"),
    "gender": N_("Are you a woman or a man?"),
    "age": N_("How old are you?"),
    "review": N_("Check and send"),
    "receipt": N_("Thank you"),
}
TYPE_LABELS = {
    "complaint": N_("Complaint"),
    "suggestion": N_("Suggestion"),
    "compliment": N_("Thanks"),
    "question": N_("Question"),
    "help_request": N_("I need help"),
}
GENDER_LABELS = {
    "female": N_("Woman"),
    "male": N_("Man"),
    "other": N_("Other"),
    "undisclosed": N_("I prefer not to say"),
}
GENDER_ICONS = {
    "female": "person_female",
    "male": "person_male",
    "other": "person_unknown",
    "undisclosed": "lock",
}
AGE_LABELS = {
    "under_18": N_("Under 18"),
    "18_24": N_("18 to 24"),
    "25_34": N_("25 to 34"),
    "35_49": N_("35 to 49"),
    "50_plus": N_("50 or older"),
    "undisclosed": N_("I prefer not to say"),
}
YES_NO = ("yes", "no")
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_idempotency_key() -> str:
    """A fresh key for one submission (written into the page, sent back with every step)."""
    return secrets.token_urlsafe(24)


@dataclass
class Answers:
    """The answers so far, read from a form (or started fresh)."""

    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fresh(cls, lang: str) -> Answers:
        return cls({"lang": lang, "idempotency_key": new_idempotency_key()})

    @classmethod
    def from_form(cls, form: Mapping[str, object], default_lang: str) -> Answers:
        """Only the known fields, as NFC text; a missing or malformed key gets a new one."""
        values: dict[str, str] = {}
        for name in STATE_FIELDS:
            raw = form.get(name)
            if isinstance(raw, str):
                values[name] = nfc(raw) if name == "text" else raw.strip()[:200]
        values["lang"] = pick_locale(values.get("lang"), default=default_lang)
        if not _KEY.match(values.get("idempotency_key", "")):
            values["idempotency_key"] = new_idempotency_key()
        return cls(values)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    @property
    def lang(self) -> str:
        return self.values.get("lang", "fr")

    def hidden_for(self, step: str) -> list[tuple[str, str]]:
        """The answers a step's form carries as hidden fields (not the ones it asks for)."""
        own = STEP_FIELDS.get(step, ())
        return [(n, self.values[n]) for n in STATE_FIELDS if n in self.values and n not in own]

    def to_submission(self, site_code: str, channel: str) -> Submission:
        """The intake domain's view of the answers."""
        consent = self.get("contact_consent") == "yes"
        publish = self.get("publish_consent")
        return Submission(
            site_code=site_code,
            channel=channel,
            feedback_type=self.get("feedback_type"),
            topic_slug=self.get("topic"),
            text=self.get("text"),
            language=self.lang,
            contact_phone=self.get("contact_phone") if consent else None,
            contact_consent=consent,
            publish_consent=None if publish not in YES_NO else publish == "yes",
            gender=self.get("gender") or None,
            age_band=self.get("age_band") or None,
            idempotency_key=self.get("idempotency_key"),
        )


def previous_step(steps: tuple[str, ...], step: str) -> str:
    index = steps.index(step)
    return steps[max(index - 1, 0)]


def next_step(steps: tuple[str, ...], step: str) -> str:
    index = steps.index(step)
    return steps[min(index + 1, len(steps) - 1)]


def check_step(
    step: str,
    answers: Answers,
    *,
    topics: Collection[str],
    sites: Collection[str] = (),
) -> dict[str, str]:
    """Field errors (msgids) for one step's answers; normalises them in place (e.g. the phone)."""
    v = answers.values
    errors: dict[str, str] = {}
    if step == "language" and v.get("lang") not in LOCALES:
        errors["lang"] = N_("Please choose a language.")
    elif step == "site" and v.get("site", "").upper() not in sites:
        errors["site"] = N_("Please choose a health centre.")
    elif step == "type" and v.get("feedback_type") not in FEEDBACK_TYPES:
        errors["feedback_type"] = N_("Please choose what kind of feedback this is.")
    elif step == "topic" and v.get("topic") not in topics:
        errors["topic"] = N_("Please choose what your feedback is about.")
    elif step == "say":
        if v.get("has_voice") != "1":
            v.pop("has_voice", None)
        if not v.get("text") and not v.get("has_voice"):
            errors["text"] = N_("Please say something: type a message or record a voice note.")
        elif len(v.get("text", "")) > MAX_TEXT:
            errors["text"] = N_("The message is too long: at most 5000 characters.")
    elif step == "contact":
        if v.get("contact_consent") not in YES_NO:
            errors["contact_consent"] = N_("Please choose one of the answers.")
        elif v["contact_consent"] == "no":
            v.pop("contact_phone", None)
        else:
            try:
                phone = parse_mali_phone(v.get("contact_phone"))
            except ValueError:
                errors["contact_phone"] = N_(
                    "This is not a valid Mali phone number (for example 76 12 34 56 or +223 76 12 34 56)."
                )
            else:
                if phone is None:
                    errors["contact_phone"] = N_(
                        "Please give a phone number, or say you do not want to be contacted."
                    )
                else:
                    v["contact_phone"] = phone
    elif step == "publish" and v.get("publish_consent") not in YES_NO:
        errors["publish_consent"] = N_("Please choose one of the answers.")
    elif step == "gender" and v.get("gender") not in GENDERS:
        errors["gender"] = N_("Please choose one of the answers.")
    elif step == "age" and v.get("age_band") not in AGE_BANDS:
        errors["age_band"] = N_("Please choose one of the answers.")
    return errors


def first_error(
    steps: tuple[str, ...],
    answers: Answers,
    *,
    topics: Collection[str],
    sites: Collection[str] = (),
) -> tuple[str, dict[str, str]] | None:
    """The first step (in flow order) whose answers are not acceptable, with its errors."""
    for step in steps:
        errors = check_step(step, answers, topics=topics, sites=sites)
        if errors:
            return step, errors
    return None
