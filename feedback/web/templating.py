"""Jinja2 set-up: autoescape, gettext, versioned static URLs, date and code filters."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2_fragments.starlette import Jinja2Blocks
from markupsafe import Markup

from feedback import codes, i18n
from feedback.settings import PROJECT_ROOT

TEMPLATE_DIR = PROJECT_ROOT / "templates"
STATIC_DIR = PROJECT_ROOT / "static"


@cache
def static_hash(path: str) -> str:
    """First 10 hex digits of a static file's SHA-256 (its version in the URL)."""
    return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]


def versioned_static_path(path: str) -> str:
    """``css/app.css`` → ``css/app.<hash>.css`` (served with a year-long cache)."""
    stem, dot, suffix = path.rpartition(".")
    return f"{stem}.{static_hash(path)}.{suffix}" if dot else path


@cache
def icon_svg(name: str) -> Markup:
    """A pictogram inlined from ``static/icons`` (decorative: the label carries the meaning)."""
    file = STATIC_DIR / "icons" / f"{Path(name).name}.svg"
    if not file.is_file():
        # An admin-entered icon name that does not exist shows the neutral pictogram.
        file = STATIC_DIR / "icons" / "other.svg"
    return Markup(file.read_text(encoding="utf-8").strip())  # noqa: S704 (our own files)


def _babel_locale() -> str:
    return i18n.current_locale.get()


def date_filter(value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return _formatted_date(value.date() if isinstance(value, datetime) else value, fmt, _babel_locale())


@lru_cache(maxsize=1024)
def _formatted_date(day: date, fmt: str, locale: str) -> str:
    # Babel's formatting costs more than the rest of a receipt's line; a day's text is fixed.
    return format_date(day, format=fmt, locale=locale)


def datetime_filter(value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value, format=fmt, tzinfo="Africa/Bamako", locale=_babel_locale())


def week_filter(value: datetime | None) -> str:
    """Public dates of single items are shown by week, never by the minute (DESIGN §10)."""
    if value is None:
        return ""
    monday = value.date().toordinal() - value.weekday()
    start = datetime.fromordinal(monday)
    return i18n.gettext("week of %(date)s") % {
        "date": format_date(start, format="d MMM yyyy", locale=_babel_locale())
    }


def number_filter(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=_babel_locale())


def percent_filter(value: float | None) -> str:
    if value is None:
        return "—"
    return format_percent(value, locale=_babel_locale())


def build_environment(*, auto_reload: bool = True) -> Environment:
    """The one Jinja2 environment of the app (``auto_reload`` checks files on every render)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        auto_reload=auto_reload,
        autoescape=select_autoescape(("html", "xml", "svg"), default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext, npgettext=i18n.npgettext
    )
    env.globals.update(
        icon=icon_svg,
        LANGUAGE_NAMES=i18n.LANGUAGE_NAMES,
        LOCALES=i18n.LOCALES,
        display_code=codes.display,
    )
    env.filters.update(
        date=date_filter,
        datetime=datetime_filter,
        week=week_filter,
        number=number_filter,
        percent=percent_filter,
        code=codes.display,
    )
    return env


def app_root(request: Any) -> str:
    """The application's own prefix (behind a proxy), not that of the mount serving the page."""
    scope = request.scope
    return str(scope.get("app_root_path", scope.get("root_path", "")))


def path_for(request: Any, name: str, /, **params: Any) -> str:
    """``request.url_for(name, **params).path`` without building the absolute URL first."""
    return app_root(request) + str(request.app.url_path_for(name, **params))


def _request_context(request: Any) -> dict[str, Any]:
    """What every page may use: its language, the CSRF token, the signed-in user."""

    def static(path: str) -> str:
        return app_root(request) + _static_url(request.app, path)

    state = request.scope.get("state", {})
    return {
        "static": static,
        "path_for": partial(path_for, request),
        "locale": i18n.current_locale.get(),
        "csrf_token": state.get("csrf_token", ""),
        "current_user": state.get("user"),
        "settings": request.app.state.settings,
    }


@cache
def _static_url(app: Any, path: str) -> str:
    # Looked up once per file: the route table walk showed in every page's profile.
    return str(app.url_path_for("static", path=versioned_static_path(path)))


def build_templates(*, auto_reload: bool = True) -> Jinja2Blocks:
    """Starlette templates (with block rendering for htmx fragments)."""
    return Jinja2Blocks(env=build_environment(auto_reload=auto_reload), context_processors=[_request_context])
