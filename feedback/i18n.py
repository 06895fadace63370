"""Languages: French (default), Bamanankan and English through gettext catalogues.

Catalogues live as ``.po`` files under ``feedback/locale`` so community translators can edit
them; they are compiled in memory when the process starts (no binaries in the repository).
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("fr", "bm", "en")
LANGUAGE_NAMES = {"fr": "Français", "bm": "Bamanankan", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

current_locale: ContextVar[str] = ContextVar("current_locale", default="fr")


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue for one locale (English source strings when missing)."""
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def gettext(message: str) -> str:
    """Translate into the locale of the current request or task."""
    return translations(current_locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(current_locale.get()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return translations(current_locale.get()).npgettext(context, singular, plural, n)


def translate(message: str, locale: str) -> str:
    """Translate into a given locale (for messages to someone else, e.g. an SMS)."""
    return translations(locale if locale in LOCALES else "fr").gettext(message)


def N_(message: str) -> str:  # noqa: N802 (gettext convention)
    """Mark a string for extraction; it is translated where it is shown."""
    return message


_ = gettext


def pick_locale(*candidates: str | None, default: str = "fr") -> str:
    """The first supported locale among the candidates."""
    for candidate in candidates:
        if candidate:
            code = candidate.strip().lower()[:2]
            if code in LOCALES:
                return code
    return default


def fill_source_catalogue(locale: str = "en") -> int:
    """Copy each English source string into the English catalogue where it is still empty.

    The source strings are English, so the English catalogue translates each to itself;
    `make messages` runs this after extraction. Returns how many entries were filled.
    """
    from babel.messages.pofile import write_po

    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            if not all(message.string):
                message.string = (message.id[0], message.id[1])
                filled += 1
        elif not message.string:
            message.string = message.id
            filled += 1
        message.flags.discard("fuzzy")
    with po_path.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, sort_output=True)
    return filled
