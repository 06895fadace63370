"""Tracking codes: short, unambiguous aloud and on a phone keypad, with a check character.

The alphabet (23 characters, a prime) leaves out characters people confuse when reading,
hearing or typing: 0/O/Q/D, 1/I/L, 5/S, B, U/V, Z. Codes are 8 random characters (23^8,
about 8·10^10, so not guessable in sequence) plus one check character: the weighted sum of all
nine is 0 modulo 23, which catches every single wrong character and every swap of neighbours.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "2346789ACEFGHJKMNPRTWXY"
_N = len(ALPHABET)
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
BODY_LENGTH = 8
# Look-alikes typed by mistake, read as the character they were meant to be.
_LOOKALIKES = str.maketrans({"Z": "2", "B": "8", "S": "5"})


def _check_character(body: str) -> str:
    total = sum((i + 1) * _INDEX[c] for i, c in enumerate(body))
    weight = len(body) + 1
    # Solve weight * check ≡ -total (mod N); N is prime so the weight has an inverse.
    return ALPHABET[(-total * pow(weight, -1, _N)) % _N]


def new_tracking_code() -> str:
    """A fresh random tracking code (body + check character)."""
    # One draw below 23^8 written in base 23: the same uniform choice as eight draws of one
    # character, for one read of the system's random source instead of a dozen.
    number = secrets.randbelow(_N**BODY_LENGTH)
    digits = []
    for _ in range(BODY_LENGTH):
        number, digit = divmod(number, _N)
        digits.append(ALPHABET[digit])
    body = "".join(digits)
    return body + _check_character(body)


def normalise(raw: str) -> str:
    """Upper-case and strip spaces, dashes and dots, as people type codes."""
    return re.sub(r"[\s\-_.·]", "", raw or "").upper().translate(_LOOKALIKES)


def is_valid(code: str) -> bool:
    """Whether a normalised code has the right shape and a matching check character."""
    if len(code) != BODY_LENGTH + 1 or any(c not in _INDEX for c in code):
        return False
    return _check_character(code[:-1]) == code[-1]


def display(code: str) -> str:
    """The code in groups of three for reading aloud: ``K7M-4PX-2RC``."""
    return "-".join(code[i : i + 3] for i in range(0, len(code), 3))
