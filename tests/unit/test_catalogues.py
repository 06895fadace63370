"""Every string the code and templates show has a translation in French, Bamanankan and English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from feedback.i18n import LOCALE_DIR, LOCALES
from feedback.settings import PROJECT_ROOT

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _method_map() -> list[tuple[str, str]]:
    mapping = []
    for line in (PROJECT_ROOT / "babel.cfg").read_text().splitlines():
        match = re.match(r"\[(\w+): (.+)\]", line.strip())
        if match:
            mapping.append((match.group(2), match.group(1)))
    return mapping


def source_messages() -> set[str]:
    messages = set()
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "translate": (1,), "pgettext": ((1, "c"), 2)}
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), method_map=_method_map(), keywords=keywords,
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    ):
        if isinstance(message, tuple):
            # Plural forms live under their singular id in the catalogue.
            if message[0]:
                messages.add(message[0])
        elif message:
            messages.add(message)
    return messages


@pytest.fixture(scope="module")
def messages() -> set[str]:
    found = source_messages()
    assert len(found) > 50, "string extraction found almost nothing: babel.cfg is wrong"
    return found


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(messages: set[str], locale: str) -> None:
    po_path = Path(LOCALE_DIR) / locale / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    missing = []
    for message_id in sorted(messages):
        entry = catalog.get(message_id)
        if entry is None or entry.fuzzy:
            missing.append(message_id)
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(strings):
            missing.append(message_id)
    assert not missing, f"{len(missing)} strings untranslated in {locale} (run `make messages`): {missing[:10]}"


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_keep_their_placeholders(locale: str) -> None:
    po_path = Path(LOCALE_DIR) / locale / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    wrong = []
    for entry in catalog:
        if not entry.id or not entry.string:
            continue
        source = entry.id if isinstance(entry.id, str) else entry.id[0]
        target = entry.string if isinstance(entry.string, str) else entry.string[0]
        if target and set(PLACEHOLDER.findall(source)) != set(PLACEHOLDER.findall(target)):
            wrong.append(source)
    assert not wrong, f"placeholders differ in {locale}: {wrong[:10]}"
