"""Form fields of the admin pages: declared once, rendered by one template, parsed here.

Parsing only turns text into numbers, dates and ids (with a message when it cannot); the
domain functions decide what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.datastructures import FormData

from feedback.i18n import N_, gettext

FORM_ERROR = "_form"


@dataclass(frozen=True)
class Field:
    """One form field. ``label`` and ``hint`` are gettext msgids; ``choices`` names a list."""

    name: str
    label: str
    kind: str = "text"  # text, textarea, int, decimal, select, id, checkbox, date, multi, multi_id
    choices: str | None = None
    hint: str | None = None
    required: bool = False
    blank: str | None = None  # label of the empty choice of a select ("any", "none")
    create_only: bool = False  # shown but not editable once the record exists
    maxlength: int | None = None


def parse(form: FormData, fields: tuple[Field, ...], *, editing: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values from a submitted form, and translated messages for what could not be read."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        if editing and field.create_only:
            continue
        if field.kind in ("multi", "multi_id"):
            raw_list = [str(v) for v in form.getlist(field.name) if isinstance(v, str) and v]
            if field.kind == "multi_id":
                try:
                    values[field.name] = [int(v) for v in raw_list]
                except ValueError:
                    values[field.name] = []
                    errors[field.name] = gettext(N_("Choose from the list."))
            else:
                values[field.name] = raw_list
            continue
        if field.kind == "checkbox":
            values[field.name] = field.name in form
            continue
        raw = form.get(field.name)
        text = raw.strip() if isinstance(raw, str) else ""
        if field.required and not text:
            errors[field.name] = gettext(N_("This field is required."))
            values[field.name] = None
            continue
        try:
            values[field.name] = _convert(field, text)
        except ValueError as exc:
            values[field.name] = text
            errors[field.name] = gettext(str(exc))
    return values, errors


def _convert(field: Field, text: str) -> Any:
    if field.kind in ("text", "textarea", "select"):
        return text or None
    if not text:
        return None
    if field.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(N_("Enter a whole number.")) from None
    if field.kind == "decimal":
        try:
            number = float(text.replace(",", "."))
        except ValueError:
            raise ValueError(N_("Enter a number, for example 12.6430.")) from None
        if not math.isfinite(number):
            raise ValueError(N_("Enter a number, for example 12.6430."))
        return number
    if field.kind == "id":
        try:
            return int(text)
        except ValueError:
            raise ValueError(N_("Choose from the list.")) from None
    if field.kind == "date":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(N_("Enter a date as YYYY-MM-DD.")) from None
    raise AssertionError(field.kind)


def display_values(obj: Any, fields: tuple[Field, ...]) -> dict[str, Any]:
    """The current values of a record, as the form shows them."""
    return {f.name: getattr(obj, f.name, None) for f in fields}


def as_text(value: Any) -> str:
    """How a value appears in an input (ids and numbers as text, nothing for None)."""
    if value is None or value is False or value is True:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
