"""Public resolution boards (DESIGN §1, §10): national, per site, per partner, "You said, we did",
and the waiting-room display. No login; nothing personal; small counts and thin rates hidden.

Handlers read figures from ``feedback.queries.board`` (aggregates only) and apply the public
display rules here, in ``PublicRules``, so every board follows the same ones.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from feedback import charts, i18n
from feedback.domain import support
from feedback.i18n import N_, gettext, ngettext
from feedback.models import Partner, Site, utcnow
from feedback.models.items import AGE_BANDS, GENDERS
from feedback.models.taxonomy import FEEDBACK_TYPES
from feedback.queries import board as q
from feedback.queries import places
from feedback.web.ratelimit import client_address
from feedback.web.templating import number_filter, percent_filter

DEVICE_COOKIE = "device"
DEVICE_MAX_AGE = 2 * 365 * 86400
# Boards are read far more often than feedback arrives: figures may be this many seconds old.
SMALL_COUNT = 5
DISPLAY_SECONDS = 20
DISPLAY_ITEMS = 3

TYPE_LABELS = {
    "complaint": N_("Complaint"),
    "suggestion": N_("Suggestion"),
    "compliment": N_("Compliment"),
    "question": N_("Question"),
    "help_request": N_("Request for help"),
}
GENDER_LABELS = {
    "female": N_("Women"),
    "male": N_("Men"),
    "other": N_("Other"),
    "undisclosed": N_("Preferred not to say"),
    "unknown": N_("Not asked"),
}
AGE_LABELS = {
    "under_18": N_("Under 18"),
    "18_24": N_("18–24"),
    "25_34": N_("25–34"),
    "35_49": N_("35–49"),
    "50_plus": N_("50 and over"),
    "undisclosed": N_("Preferred not to say"),
    "unknown": N_("Not asked"),
}
STATUS_LABELS = {
    "received": N_("Received"),
    "acknowledged": N_("Acknowledged"),
    "in_progress": N_("In progress"),
    "resolved": N_("Resolved (by the partner)"),
    "closed": N_("Closed"),
    "referred": N_("Referred to another partner"),
    "not_actionable": N_("Not actionable"),
    "reopened": N_("Reopened"),
}
FILTER_STATUSES = ("in_progress", "resolved", "closed", "not_actionable", "reopened")


@lru_cache(maxsize=8192)
def _number(value: float, digits: int, locale: str) -> str:
    # Babel formatting is slow and boards show hundreds of numbers: remember each one.
    return number_filter(value, digits)


@lru_cache(maxsize=8192)
def _percent(value: float, locale: str) -> str:
    return percent_filter(value)


def _locale() -> str:
    return i18n.current_locale.get()


@dataclass(frozen=True)
class PublicRules:
    """DESIGN §10 for numbers: small counts as "fewer than 5", rates only on enough items."""

    min_items: int
    suppress_small: bool

    def count(self, n: int) -> str:
        if self.suppress_small and 0 < n < SMALL_COUNT:
            return gettext("fewer than 5")
        return _number(n, 0, _locale())

    def enough(self, base: int) -> bool:
        return base >= self.min_items

    def rate(self, value: float | None, base: int) -> str:
        if value is None or not self.enough(base):
            return gettext("not enough feedback yet")
        return _percent(round(value, 4), _locale())

    def days(self, value: float | None, base: int) -> str:
        if value is None or not self.enough(base):
            return gettext("not enough feedback yet")
        whole = float(value).is_integer()
        count = int(value) if whole else 2  # "1 day", "0 jour", but "1,5 days"
        text = ngettext("%(days)s day", "%(days)s days", count)
        return text % {"days": _number(value, 0 if whole else 1, _locale())}

    def mean(self, value: float | None, base: int) -> str:
        if value is None or not self.enough(base):
            return gettext("not enough feedback yet")
        return _number(value, 1, _locale())


def _period(request: Request) -> str:
    period = request.query_params.get("period", q.DEFAULT_PERIOD)
    return period if period in q.PERIODS else q.DEFAULT_PERIOD


def _month_label(month: date) -> str:
    return _formatted_month(month, i18n.current_locale.get())


@lru_cache(maxsize=512)
def _formatted_month(month: date, locale: str) -> str:
    # Babel's date formatting is slow and a board labels 24 months: remember each one.
    from babel.dates import format_date

    return format_date(month, format="MMM yy", locale=locale)


def _trend_chart(figures: q.Figures) -> Any:
    labels = [_month_label(m) for m, _ in figures.trend]
    series = [
        charts.Series("received", gettext("Received"), [c.received for _, c in figures.trend]),
        charts.Series("resolved", gettext("Resolved (claimed by partners)"), [c.resolved for _, c in figures.trend]),
        charts.Series("verified", gettext("Verified by the community"), [c.verified for _, c in figures.trend]),
    ]
    title = gettext("Feedback by month received: received, resolved and verified (last 12 months)")
    return charts.bar_chart(labels, series, title=title)


def _ordered(counts: dict[str, q.Counts], keys: tuple[str, ...]) -> list[tuple[str, q.Counts]]:
    """Rows in a fixed order (so groups sit in the same place on every board), empty ones left out."""
    return [(k, counts[k]) for k in keys if k in counts and counts[k].received]


def _context(request: Request, figures: q.Figures, rules: PublicRules, **extra: Any) -> dict[str, Any]:
    return {
        "figures": figures,
        "rules": rules,
        "period": figures.period,
        "periods": q.PERIOD_LABELS,
        "trend_chart": _trend_chart(figures),
        "month_label": _month_label,
        "TYPE_LABELS": TYPE_LABELS,
        "GENDER_LABELS": GENDER_LABELS,
        "AGE_LABELS": AGE_LABELS,
        "STATUS_LABELS": STATUS_LABELS,
        "FEEDBACK_TYPES": FEEDBACK_TYPES,
        "GENDER_KEYS": (*GENDERS, "unknown"),
        "AGE_KEYS": (*AGE_BANDS, "unknown"),
        "ordered": _ordered,
        **extra,
    }


def _rules(request: Request, *, suppress_small: bool) -> PublicRules:
    return PublicRules(request.app.state.settings.min_items_for_rates, suppress_small)


def _cache(request: Request) -> q.TTLCache:
    cache = getattr(request.app.state, "board_cache", None)
    if cache is None:
        # The aggregates make a board cheap already; the cache spares repeated views of it.
        cache = q.TTLCache(request.app.state.settings.board_cache_seconds)
        request.app.state.board_cache = cache
    return cache  # type: ignore[no-any-return]


async def _figures(
    request: Request, session: Any, scope: q.Scope, period: str, now: Any, *, rankings: bool = False
) -> q.Figures:
    """The figures of one board, from the cache when they are fresh enough."""
    cache = _cache(request)
    key = (scope, period, rankings)
    figures = cache.get(key)
    if figures is None:
        figures = await q.figures(session, scope, period, now, rankings=rankings)
        cache.put(key, figures)
    return figures  # type: ignore[no-any-return]


def _public(response: Response, seconds: int = 30) -> Response:
    # Boards are public and the same for everyone: shared caches may keep them briefly.
    response.headers.setdefault("Cache-Control", f"public, max-age={seconds}")
    response.headers["Vary"] = "HX-Request, Cookie"
    return response


async def index(request: Request) -> Response:
    """The national board: totals, trend, breakdowns, and every site and partner ranked."""
    period = _period(request)
    now = utcnow()
    cache = _cache(request)
    cached = cache.get(("national", period))
    async with request.app.state.db.read_bounded() as session:
        if cached is None:
            figures = await q.figures(session, q.Scope(), period, now, rankings=True)
            silent = await q.silent_site_ids(session, now, request.app.state.settings.kiosk_silent_days)
            cache.put(("national", period), (figures, silent))
        else:
            figures, silent = cached
        sites = await q.sites(session)
        partners = await places.partners(session)
        topics = {t.id: t for t in await q.topics(session)}
    rules = _rules(request, suppress_small=False)
    ranked_sites = _ranking(sites, figures.by_site, figures.overdue_by_site, rules)
    ranked_partners = _ranking(
        [p for p in partners if p.id in figures.by_partner], figures.by_partner, figures.overdue_by_partner, rules
    )
    return _public(request.app.state.templates.TemplateResponse(
        request, "board/index.html",
        _context(request, figures, rules, topics=topics,
                 ranked_sites=ranked_sites, ranked_partners=ranked_partners, silent=silent,
                 site_rules=_rules(request, suppress_small=True), scope_name=gettext("All health centres")),
    ))


@dataclass(frozen=True)
class Ranked:
    place: Site | Partner
    counts: q.Counts
    overdue: int
    rank: int | None


def _ranking(
    places_: Any, counts: dict[int, q.Counts], overdue: dict[int, int], rules: PublicRules
) -> list[Ranked]:
    """Places with enough feedback ranked by acknowledged-on-time rate; the rest after, unranked."""
    rows = [(p, counts.get(p.id, q.Counts()), overdue.get(p.id, 0)) for p in places_]
    ranked = sorted(
        (r for r in rows if rules.enough(r[1].acknowledged)),
        key=lambda r: (-(r[1].acknowledged_on_time_rate or 0), -(r[1].verified_rate or 0), r[0].name),
    )
    unranked = sorted((r for r in rows if not rules.enough(r[1].acknowledged)), key=lambda r: r[0].name)
    return [Ranked(p, c, o, i + 1) for i, (p, c, o) in enumerate(ranked)] + [
        Ranked(p, c, o, None) for p, c, o in unranked
    ]


async def site(request: Request) -> Response:
    """One health centre's board, with the health of its kiosks (silence is not success)."""
    period = _period(request)
    now = utcnow()
    settings = request.app.state.settings
    async with request.app.state.db.read_bounded() as session:
        place = await places.site_by_code(session, request.path_params["site_code"])
        if place is None:
            raise HTTPException(404)
        figures = await _figures(request, session, q.Scope(site_id=place.id), period, now)
        kiosks = await q.kiosk_health(session, place.id, now, settings.kiosk_silent_days)
        latest = await q.published(session, site_id=place.id, limit=3)
        topics = {t.id: t for t in await q.topics(session)}
    return _public(request.app.state.templates.TemplateResponse(
        request, "board/site.html",
        _context(request, figures, _rules(request, suppress_small=True), site=place, kiosks=kiosks,
                 latest=latest.items, topics=topics, sites={place.id: place}, scope_name=place.name,
                 silent_days=settings.kiosk_silent_days),
    ))


async def partner(request: Request) -> Response:
    """One partner's board: how it answers the feedback assigned to it."""
    period = _period(request)
    async with request.app.state.db.read_bounded() as session:
        org = await places.partner_by_slug(session, request.path_params["partner_slug"])
        if org is None or org.is_safeguarding:
            # The safeguarding focal point handles S2/S3 only: no public board of its own.
            raise HTTPException(404)
        figures = await _figures(request, session, q.Scope(partner_id=org.id), period, utcnow())
        topics = {t.id: t for t in await q.topics(session)}
    return _public(request.app.state.templates.TemplateResponse(
        request, "board/partner.html",
        _context(request, figures, _rules(request, suppress_small=True), partner=org, topics=topics,
                 scope_name=org.name),
    ))


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise HTTPException(400, gettext("This page number is not valid."))
    return int(raw)


async def items(request: Request) -> Response:
    """ "You said, we did": published items, filterable by site, topic and status."""
    site_code = request.query_params.get("site", "").strip()
    topic_slug = request.query_params.get("topic", "").strip()
    status = request.query_params.get("status", "").strip() or None
    before = _int_param(request, "before")
    async with request.app.state.db.read_bounded() as session:
        sites = await q.sites(session)
        topics = await q.topics(session)
        by_code = {s.code: s for s in sites}
        by_slug = {t.slug: t for t in topics}
        errors = []
        if site_code and site_code.upper() not in by_code:
            errors.append(gettext("Unknown health centre."))
        if topic_slug and topic_slug not in by_slug:
            errors.append(gettext("Unknown topic."))
        if status is not None and status not in FILTER_STATUSES:
            errors.append(gettext("Unknown status."))
        chosen_site = by_code.get(site_code.upper()) if site_code else None
        chosen_topic = by_slug.get(topic_slug) if topic_slug else None
        page = q.PublishedPage([], None)
        if not errors:
            page = await q.published(
                session, site_id=chosen_site.id if chosen_site else None,
                topic_id=chosen_topic.id if chosen_topic else None, status=status, before=before,
            )
    context = {
        "page": page,
        "sites": sites,
        "sites_by_id": {s.id: s for s in sites},
        "topics": topics,
        "topics_by_id": {t.id: t for t in topics},
        "chosen_site": chosen_site,
        "chosen_topic": chosen_topic,
        "status": status if status in FILTER_STATUSES else None,
        "statuses": FILTER_STATUSES,
        "STATUS_LABELS": STATUS_LABELS,
        "TYPE_LABELS": TYPE_LABELS,
        "errors": errors,
        "supported": request.query_params.get("supported"),
    }
    htmx = request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == "results"
    response = request.app.state.templates.TemplateResponse(
        request, "board/items.html", context, status_code=400 if errors else 200,
        block_name="results" if htmx else None,
    )
    return _public(response, 15)


def _device(request: Request) -> tuple[str, bool]:
    token = request.cookies.get(DEVICE_COOKIE, "")
    if 20 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum():
        return token, False
    return secrets.token_urlsafe(24), True


async def me_too(request: Request) -> Response:
    """Add a "me too" to a published item: once per device, rate-limited per client."""
    settings = request.app.state.settings
    item_id = request.path_params["item_id"]
    limiter = request.app.state.rate_limiter
    if not limiter.hit(f"me_too:{client_address(request)}", settings.rate_limit_client_per_minute):
        raise HTTPException(429)
    token, fresh = _device(request)
    device = support.device_hash(settings.secret_key, token)
    try:
        async with request.app.state.db.write() as session, session.begin():
            count, added = await support.add_support(session, item_id, device)
    except support.NotSupportable as exc:
        raise HTTPException(404) from exc
    if request.headers.get("HX-Request") == "true":
        async with request.app.state.db.read_bounded() as session:
            item = await q.published_item(session, item_id)
        response: Response = request.app.state.templates.TemplateResponse(
            request, "board/_me_too.html", {"item": item, "just_added": added, "already": not added},
        )
    else:
        form = await request.form()
        back = str(form.get("next", ""))
        target = request.url_for("board:items").path
        if back.startswith(target):
            target = back
        marker = "supported=" + str(item_id)
        response = RedirectResponse(f"{target}{'&' if '?' in target else '?'}{marker}#item-{item_id}", status_code=303)
    response.headers["Vary"] = "HX-Request"
    response.headers["Cache-Control"] = "no-store"
    if fresh:
        response.set_cookie(DEVICE_COOKIE, token, max_age=DEVICE_MAX_AGE, httponly=True, samesite="lax",
                            secure=settings.secure_cookies)
    return response


async def display(request: Request) -> Response:
    """The waiting-room screen: large type, one slide at a time, in the site's languages.

    Each slide asks for the next one (htmx polling every 20 s; a meta refresh without JS).
    """
    now = utcnow()
    settings = request.app.state.settings
    slide = _int_param(request, "slide") or 0
    async with request.app.state.db.read_bounded() as session:
        place = await places.site_by_code(session, request.path_params["site_code"])
        if place is None:
            raise HTTPException(404)
        figures = await _figures(request, session, q.Scope(site_id=place.id), "month", now)
        kiosks = await q.kiosk_health(session, place.id, now, settings.kiosk_silent_days)
        latest = await q.published(session, site_id=place.id, resolved_only=True, limit=DISPLAY_ITEMS)
        topics = {t.id: t for t in await q.topics(session)}
    languages = [lang for lang in (place.languages or "").split(",") if lang.strip() in i18n.LOCALES]
    languages = [lang.strip() for lang in languages] or [settings.default_locale]
    slides = [(lang, "figures", None) for lang in languages]
    for entry in latest.items:
        slides.extend((lang, "item", entry) for lang in languages)
    index = slide % len(slides)
    language, kind, entry = slides[index]
    context = {
        "site": place,
        "figures": figures,
        "rules": _rules(request, suppress_small=True),
        "kind": kind,
        "entry": entry,
        "topics": topics,
        "kiosk_silent": any(k.silent for k in kiosks),
        "next_slide": (index + 1) % len(slides),
        "seconds": DISPLAY_SECONDS,
        "slide_locale": language,
        "STATUS_LABELS": STATUS_LABELS,
    }
    htmx = request.headers.get("HX-Request") == "true"
    # Render in the slide's language (the page chrome too: nobody interacts with this screen).
    token = i18n.current_locale.set(language)
    try:
        response = request.app.state.templates.TemplateResponse(
            request, "board/display.html", context | {"locale": language},
            block_name="slide" if htmx else None,
        )
    finally:
        i18n.current_locale.reset(token)
    response.headers["Vary"] = "HX-Request"
    response.headers["Cache-Control"] = "no-store"
    return response


routes = [
    Route("/", index, name="index", methods=["GET"]),
    Route("/sites/{site_code}", site, name="site", methods=["GET"]),
    Route("/partners/{partner_slug}", partner, name="partner", methods=["GET"]),
    Route("/display/{site_code}", display, name="display", methods=["GET"]),
    Route("/items", items, name="items", methods=["GET"]),
    Route("/items/{item_id:int}/me-too", me_too, name="me_too", methods=["POST"]),
]
