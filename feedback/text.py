"""Text as people type it: stored as NFC; folded for search so ɛ/è/e and ɔ/ò/o match."""

from __future__ import annotations

import unicodedata

# Bambara letters and their nearest Latin fallbacks, as typed on a phone without them.
_BAMBARA_FOLD = str.maketrans({"ɛ": "e", "Ɛ": "e", "ɔ": "o", "Ɔ": "o", "ɲ": "ny", "Ɲ": "ny", "ŋ": "ng", "Ŋ": "ng"})


def nfc(text: str | None) -> str:
    """Normalise to NFC and strip surrounding whitespace and control characters."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    if not text.isprintable():  # printable text has no control or format characters to drop
        text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    return text.strip()


def fold(text: str | None) -> str:
    """Lower-case, drop accents and fold Bambara letters, for search only."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text).translate(_BAMBARA_FOLD).casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))
