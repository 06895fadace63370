"""CSV imports of areas, sites, partners, routing rules and staff accounts (``feedback import``).

Each row is an upsert by its natural key (area and site ``code``, partner ``slug``, rule
``site``+``topic``, user ``login``) through the same checked ``save_*`` functions the admin
pages use, so an import obeys the same rules and leaves the same audit trail. Columns left out
of the file keep their current values; an empty cell clears an optional value.

Every problem is reported as ``FILE, line N, column C: reason``; if there is any, ``ImportFailed``
is raised before the caller commits, so a failed import imports nothing. The columns are
documented in docs/import.md.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.domain import admin, configuration
from feedback.domain.access import Actor
from feedback.domain.admin import ConfigError
from feedback.domain.auth import set_password
from feedback.models import Area, Partner, RoutingRule, Site, Topic, User
from feedback.models.organisations import LOCALES, PARTNER_KINDS, ROLES
from feedback.models.places import AREA_LEVELS, SITE_KINDS
from feedback.passwords import MIN_LENGTH

KINDS = ("areas", "sites", "partners", "rules", "users")
MAX_ERRORS = 20
ProgressFn = Callable[[int, int], None]

# kind → (required columns, optional columns); the first required column is the natural key.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "areas": (("code", "name", "level"), ("parent",)),
    "sites": (("code", "name", "kind"),
              ("area", "latitude", "longitude", "languages", "dhis2_org_unit", "active")),
    "partners": (("slug", "name", "kind"),
                 ("escalation", "site", "email", "phone", "locale", "default", "safeguarding")),
    "rules": (("partner",), ("site", "topic")),
    "users": (("login", "name", "role"), ("partner", "sites", "locale", "email", "phone", "password")),
}
# Form fields of the save_* functions → the CSV column to blame.
_FIELD_COLUMNS = {
    "parent_id": "parent", "area_id": "area", "escalation_partner_id": "escalation",
    "site_id": "site", "topic_id": "topic", "partner_id": "partner", "site_ids": "sites",
    "is_default": "default", "is_safeguarding": "safeguarding",
}
_TRUE = {"yes", "y", "true", "1", "oui", "o", "x"}
_FALSE = {"no", "n", "false", "0", "non", ""}
_ANY = {"", "*"}
_LIST_SPLIT = re.compile(r"[\s,;]+")


class ImportFailed(Exception):
    """The file cannot be imported; the message lists each problem as ``FILE, line N, column C: ...``."""

    def __init__(self, problems: list[str], more: int = 0) -> None:
        self.problems = problems
        text = "\n".join(problems)
        if more:
            text += f"\n... and {more} more problem{'s' if more != 1 else ''}"
        super().__init__(text)


class _RowError(Exception):
    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass
class _Row:
    line: int
    values: dict[str, str]
    present: frozenset[str]

    def get(self, column: str) -> str:
        return self.values.get(column, "").strip()

    def has(self, column: str) -> bool:
        return column in self.present

    def required(self, column: str) -> str:
        value = self.get(column)
        if not value:
            raise _RowError(column, "a value is required")
        return value

    def choice(self, column: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.get(column).lower() or (default or "")
        if value not in choices:
            shown = f"'{self.get(column)}'" if self.get(column) else "an empty value"
            raise _RowError(column, f"{shown} is not one of {', '.join(choices)}")
        return value

    def flag(self, column: str) -> bool:
        value = self.get(column).lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise _RowError(column, f"'{self.get(column)}' is not yes or no")

    def number(self, column: str) -> float | None:
        value = self.get(column).replace(",", ".") if self.get(column).count(",") == 1 else self.get(column)
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            raise _RowError(column, f"'{self.get(column)}' is not a number") from None

    def items(self, column: str) -> list[str]:
        return [v for v in _LIST_SPLIT.split(self.get(column)) if v]


def _parse(text: str, kind: str, filename: str) -> list[_Row]:
    """The rows of the file, with their line numbers, after checking the header."""
    required, optional = COLUMNS[kind]
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFailed([f"{filename}: the file is empty (expected a header row: "
                            f"{','.join(required + optional)})"]) from None
    except csv.Error as exc:
        raise ImportFailed([f"{filename}, line 1: {exc}"]) from None
    names = [h.strip().lower().replace(" ", "_") for h in header]
    problems = []
    for index, name in enumerate(names, start=1):
        if name not in required + optional:
            problems.append(f"{filename}, line 1, column {index} ('{header[index - 1]}'): unknown column "
                            f"(expected {', '.join(required + optional)})")
        elif names.index(name) != index - 1:
            problems.append(f"{filename}, line 1, column {name}: the column appears twice")
    for name in required:
        if name not in names:
            problems.append(f"{filename}, line 1, column {name}: missing column "
                            f"(required: {', '.join(required)})")
    if problems:
        raise ImportFailed(problems)
    rows = []
    present = frozenset(names)
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            line = reader.line_num
            if len(record) > len(names):
                raise ImportFailed([f"{filename}, line {line}: {len(record)} cells but the header has "
                                    f"{len(names)} columns (quote cells that contain commas)"])
            values = dict(zip(names, record, strict=False))
            rows.append(_Row(line, values, present))
    except csv.Error as exc:
        raise ImportFailed([f"{filename}, line {reader.line_num}: {exc}"]) from None
    if not rows:
        raise ImportFailed([f"{filename}: no rows to import below the header"])
    return rows


class _Importer:
    """Applies rows of one kind; looks natural keys up once and remembers new records."""

    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.areas: dict[str, Area] = {}
        self.sites: dict[str, Site] = {}
        self.partners: dict[str, Partner] = {}
        self.topics: dict[str, Topic] = {}
        # Natural key → line, for the rows of this file (to explain a reference that failed).
        self.file_keys: dict[str, int] = {}
        self.file_table: dict[str, Any] | None = None

    async def load(self) -> None:
        s = self.session
        self.areas = {a.code: a for a in (await s.scalars(select(Area))).all()}
        self.sites = {x.code: x for x in (await s.scalars(select(Site))).all()}
        self.partners = {p.slug: p for p in (await s.scalars(select(Partner))).all()}
        self.topics = {t.slug: t for t in (await s.scalars(select(Topic))).all()}

    def _ref(self, table: dict[str, Any], row: _Row, column: str, noun: str, *, upper: bool) -> Any:
        return self._lookup(table, row.get(column), column, noun, upper=upper)

    def _lookup(self, table: dict[str, Any], key: str, column: str, noun: str, *, upper: bool) -> Any:
        if not key:
            return None
        found = table.get(key.upper() if upper else key.lower())
        if found is None:
            line = self.file_keys.get(key.upper() if upper else key.lower()) if table is self.file_table else None
            if line is not None:
                raise _RowError(column, f"{noun} '{key}' (line {line}) could not be imported first: it has "
                                        "an error, or the references go round in a circle")
            raise _RowError(column, f"unknown {noun} '{key}'")
        return found

    # Parents and escalation partners may come later in the same file: a row waits until
    # what it refers to exists (see ``_apply_in_order``).
    def area_ready(self, row: _Row) -> bool:
        return not row.get("parent") or row.get("parent").upper() in self.areas

    def partner_ready(self, row: _Row) -> bool:
        return not row.get("escalation") or row.get("escalation").lower() in self.partners

    async def area(self, row: _Row) -> None:
        code = row.required("code").upper()
        existing = self.areas.get(code)
        parent = self._ref(self.areas, row, "parent", "area", upper=True)
        if not row.has("parent") and existing is not None:
            parent_id = existing.parent_id
        else:
            parent_id = parent.id if parent else None
        area = await configuration.save_area(
            self.session, self.actor, existing.id if existing else None, code=code, name=row.required("name"),
            level=row.choice("level", AREA_LEVELS), parent_id=parent_id,
        )
        self.areas[area.code] = area

    async def site(self, row: _Row) -> None:
        code = row.required("code").upper()
        existing = self.sites.get(code)
        keep = existing is not None

        def current(column: str, attribute: str, value: Any) -> Any:
            return getattr(existing, attribute) if keep and not row.has(column) else value

        area = self._ref(self.areas, row, "area", "area", upper=True)
        languages = [lang.lower() for lang in row.items("languages")] or ["bm", "fr"]
        for lang in languages:
            if lang not in LOCALES:
                raise _RowError("languages", f"'{lang}' is not one of {', '.join(LOCALES)}")
        site = await configuration.save_site(
            self.session, self.actor, existing.id if existing else None, code=code, name=row.required("name"),
            kind=row.choice("kind", SITE_KINDS),
            area_id=current("area", "area_id", area.id if area else None),
            latitude=current("latitude", "latitude", row.number("latitude")),
            longitude=current("longitude", "longitude", row.number("longitude")),
            languages=current("languages", "languages", ",".join(languages)).split(","),
            dhis2_org_unit=current("dhis2_org_unit", "dhis2_org_unit", row.get("dhis2_org_unit") or None),
            active=current("active", "active", row.flag("active") if row.get("active") else True),
        )
        self.sites[site.code] = site

    async def partner(self, row: _Row) -> None:
        slug = row.required("slug").lower()
        existing = self.partners.get(slug)
        keep = existing is not None

        def current(column: str, attribute: str, value: Any) -> Any:
            return getattr(existing, attribute) if keep and not row.has(column) else value

        escalation = self._ref(self.partners, row, "escalation", "partner", upper=False)
        site = self._ref(self.sites, row, "site", "site", upper=True)
        partner = await configuration.save_partner(
            self.session, self.actor, existing.id if existing else None, slug=slug,
            name=row.required("name"), kind=row.choice("kind", PARTNER_KINDS),
            escalation_partner_id=current("escalation", "escalation_partner_id",
                                          escalation.id if escalation else None),
            site_id=current("site", "site_id", site.id if site else None),
            email=current("email", "email", row.get("email") or None),
            phone=current("phone", "phone", row.get("phone") or None),
            locale=current("locale", "locale", row.choice("locale", LOCALES, "fr")),
            is_default=current("default", "is_default", row.flag("default")),
            is_safeguarding=current("safeguarding", "is_safeguarding", row.flag("safeguarding")),
        )
        self.partners[partner.slug] = partner

    async def rule(self, row: _Row) -> None:
        site = None if row.get("site") in _ANY else self._ref(self.sites, row, "site", "site", upper=True)
        topic = None if row.get("topic") in _ANY else self._ref(self.topics, row, "topic", "topic", upper=False)
        partner = self._ref(self.partners, row, "partner", "partner", upper=False)
        if partner is None:
            raise _RowError("partner", "a value is required")
        site_id, topic_id = (site.id if site else None), (topic.id if topic else None)
        existing = await self.session.scalar(select(RoutingRule.id).where(
            RoutingRule.site_id.is_(None) if site_id is None else RoutingRule.site_id == site_id,
            RoutingRule.topic_id.is_(None) if topic_id is None else RoutingRule.topic_id == topic_id,
        ))
        await configuration.save_routing_rule(self.session, self.actor, existing, site_id=site_id,
                                              topic_id=topic_id, partner_id=partner.id)

    async def user(self, row: _Row) -> None:
        login = row.required("login").lower()
        existing = await self.session.scalar(select(User).where(User.login == login))
        keep = existing is not None
        role = row.choice("role", ROLES)
        partner = self._ref(self.partners, row, "partner", "partner", upper=False)
        sites = [self._lookup(self.sites, code, "sites", "site", upper=True) for code in row.items("sites")]
        password = row.get("password")
        if password and len(password) < MIN_LENGTH:
            raise _RowError("password", f"the password must have at least {MIN_LENGTH} characters")
        fields: dict[str, Any] = {
            "name": row.required("name"), "role": role,
            "partner_id": partner.id if partner else None,
            "locale": row.choice("locale", LOCALES, "fr"),
            "email": row.get("email") or None, "phone": row.get("phone") or None,
            "site_ids": [s.id for s in sites],
        }
        if keep:
            assert existing is not None
            for column, attribute in (("partner", "partner_id"), ("locale", "locale"), ("email", "email"),
                                      ("phone", "phone")):
                if not row.has(column):
                    fields[attribute] = getattr(existing, attribute)
            if not row.has("sites"):
                fields["site_ids"] = await admin.user_site_ids(self.session, existing.id)
            user = await admin.update_user(self.session, self.actor, existing.id, **fields)
        else:
            # Without a password the account has an unusable random one: an admin sends a
            # reset link (Admin → Users) before the person can sign in.
            user = await admin.create_user(self.session, self.actor, login=login, **fields)
        if password:
            await set_password(user, password)


async def _apply_in_order(
    rows: list[_Row], apply: Callable[[_Row], Any], ready: Callable[[_Row], bool] | None,
    fail: Callable[[_Row, _RowError], None], progress: Callable[[], None],
) -> None:
    """Apply rows in file order; a row that refers to a later one waits for it."""
    pending = list(rows)
    while pending:
        waiting = []
        for row in pending:
            if ready is not None and not ready(row):
                waiting.append(row)
                continue
            try:
                await apply(row)
            except _RowError as exc:
                fail(row, exc)
            progress()
        if len(waiting) == len(pending):
            # Nothing more can be applied: the references are unknown (or go round in a circle).
            for row in waiting:
                try:
                    await apply(row)
                except _RowError as exc:
                    fail(row, exc)
                progress()
            return
        pending = waiting


async def import_csv(
    session: AsyncSession, kind: str, text: str, *, filename: str = "import.csv",
    progress: ProgressFn | None = None, actor: Actor | None = None,
) -> int:
    """Import the CSV ``text`` of ``kind``; returns the number of rows imported.

    Raises ``ImportFailed`` (before the caller commits) with every problem found. The admin
    log names ``actor`` (the admin who uploaded the file) or, from the CLI, the file.
    """
    if kind not in KINDS:
        raise ImportFailed([f"{filename}: unknown kind '{kind}' (expected {', '.join(KINDS)})"])
    rows = _parse(text, kind, filename)
    key = COLUMNS[kind][0][0]
    problems: list[str] = []
    more = 0

    def report(line: int, column: str | None, message: str) -> None:
        nonlocal more
        if len(problems) >= MAX_ERRORS:
            more += 1
            return
        where = f"{filename}, line {line}" + (f", column {column}" if column else "")
        problems.append(f"{where}: {message}")

    seen: dict[tuple[str, ...], int] = {}
    unique_rows = []
    for row in rows:
        if kind == "rules":
            natural = tuple("" if row.get(c) in _ANY else row.get(c).lower() for c in ("site", "topic"))
        else:
            natural = (row.get(key).lower(),)
        if natural in seen and (kind == "rules" or natural[0]):
            report(row.line, "site" if kind == "rules" else key,
                   f"duplicate of line {seen[natural]} (each {'site and topic' if kind == 'rules' else key} "
                   "may appear once)")
            continue
        seen.setdefault(natural, row.line)
        unique_rows.append(row)

    importer = _Importer(session, actor or Actor("system", label=f"import {Path(filename).name}"[:80]))
    await importer.load()
    if kind in ("areas", "partners"):
        # These refer to their own kind (parent, escalation partner), maybe further down the file.
        upper = kind == "areas"
        importer.file_table = importer.areas if upper else importer.partners
        importer.file_keys = {(r.get(key).upper() if upper else r.get(key).lower()): r.line
                              for r in unique_rows if r.get(key)}
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress and (done % 50 == 0 or done == len(unique_rows)):
            progress(done, len(unique_rows))

    def fail(row: _Row, exc: _RowError) -> None:
        report(row.line, exc.column, exc.message)

    async def apply(row: _Row) -> None:
        try:
            await handler(row)
        except ConfigError as exc:
            column = _FIELD_COLUMNS.get(exc.field or "", exc.field)
            raise _RowError(column, str(exc).rstrip(".")) from None
        except SQLAlchemyError as exc:
            # A constraint the checks above missed: report it; the transaction is unusable now.
            cause = getattr(exc, "orig", None) or exc
            report(row.line, None, f"the database refused the row ({type(cause).__name__}: {cause})")
            raise ImportFailed(problems, more) from exc

    handler = {"areas": importer.area, "sites": importer.site, "partners": importer.partner,
               "rules": importer.rule, "users": importer.user}[kind]
    ready = {"areas": importer.area_ready, "partners": importer.partner_ready}.get(kind)
    await _apply_in_order(unique_rows, apply, ready, fail, step)
    if problems:
        problems.sort(key=_line_of)
        raise ImportFailed(problems, more)
    await session.flush()
    return len(unique_rows)


def _line_of(problem: str) -> int:
    match = re.search(r", line (\d+)", problem)
    return int(match.group(1)) if match else 0
