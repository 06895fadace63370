"""Open data downloads (DESIGN §9): HXL-tagged CSV, JSON, aggregates, DHIS2; the JSON API.

Item exports stream: rows are read in batches by id and written as they come, so a million
items never sit in memory. Only published S0 items are listed; totals hide small counts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from feedback import codes, i18n
from feedback.domain import apikeys
from feedback.i18n import N_, gettext
from feedback.models import utcnow
from feedback.openapi import openapi_document
from feedback.queries import exports, tracking
from feedback.queries.exports import ExportFilter, UnknownFilterValue, week_date
from feedback.web.ratelimit import client_address

CSV_TYPE = "text/csv; charset=utf-8"
MAX_DHIS2_MONTHS = 36
OPEN_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"}

UNKNOWN = {
    "site": N_("Unknown site code."),
    "partner": N_("Unknown partner."),
    "topic": N_("Unknown topic."),
}


def _date(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or not 1900 <= value.year <= 2999:
        raise HTTPException(400, gettext("Dates are written YYYY-MM-DD, for example 2026-03-09."))
    return value


def _month(request: Request, name: str) -> date | None:
    """``YYYY-MM`` or DHIS2's ``YYYYMM``; the first day of that month."""
    raw = request.query_params.get(name, "").strip().replace("-", "")
    if not raw:
        return None
    if len(raw) != 6 or not raw.isdigit() or not 1 <= int(raw[4:]) <= 12 or not 1900 <= int(raw[:4]) <= 2999:
        raise HTTPException(400, gettext("Months are written YYYY-MM, for example 2026-03."))
    return date(int(raw[:4]), int(raw[4:]), 1)


def parse_filter(request: Request) -> ExportFilter:
    """The export filter from ``from``, ``to``, ``site``, ``partner`` and ``topic``."""
    start, end = _date(request, "from"), _date(request, "to")
    if start and end and end < start:
        raise HTTPException(400, gettext("The end of the period is before its start."))
    params = request.query_params
    return ExportFilter(
        start=start,
        end=end,
        site_code=params.get("site", "").strip()[:40] or None,
        partner_slug=params.get("partner", "").strip()[:60] or None,
        topic_slug=params.get("topic", "").strip()[:40] or None,
    )


async def _checked(request: Request, flt: ExportFilter) -> exports.Lookups:
    async with request.app.state.db.read() as session:
        try:
            return await exports.check_filter(session, flt)
        except UnknownFilterValue as exc:
            raise HTTPException(400, gettext(UNKNOWN[exc.name])) from exc


def _stream(request: Request, flt: ExportFilter, lookups: exports.Lookups, kind: str) -> AsyncIterator[bytes]:
    db = request.app.state.db

    async def body() -> AsyncIterator[bytes]:
        # The session lives as long as the download: one consistent snapshot, read in batches.
        async with db.read() as session:
            chunks = exports.csv_chunks if kind == "csv" else exports.json_chunks
            async for chunk in chunks(session, flt, lookups):
                yield chunk.encode("utf-8")

    return body()


async def feedback_csv(request: Request) -> Response:
    """Published items as CSV with an HXL hashtag row under the header."""
    flt = parse_filter(request)
    lookups = await _checked(request, flt)
    headers = dict(OPEN_HEADERS) | {"Content-Disposition": 'attachment; filename="sauti-feedback.csv"'}
    return StreamingResponse(_stream(request, flt, lookups, "csv"), media_type=CSV_TYPE, headers=headers)


async def feedback_json(request: Request) -> Response:
    """Published items as one JSON array (streamed)."""
    flt = parse_filter(request)
    lookups = await _checked(request, flt)
    return StreamingResponse(_stream(request, flt, lookups, "json"), media_type="application/json",
                             headers=dict(OPEN_HEADERS))


async def aggregates_csv(request: Request) -> Response:
    """Counts per site × month × topic × status (all items; S3 national only; "<5")."""
    start, end = _month(request, "from"), _month(request, "to")
    if start and end and end < start:
        raise HTTPException(400, gettext("The end of the period is before its start."))
    async with request.app.state.db.read() as session:
        rows = await exports.aggregate_rows(session, start, end)
    headers = dict(OPEN_HEADERS) | {"Content-Disposition": 'attachment; filename="sauti-aggregates.csv"'}
    return Response(exports.aggregate_csv(rows), media_type=CSV_TYPE, headers=headers)


def _months_back(today: date, months: int) -> date:
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


async def dhis2_data_value_sets(request: Request) -> Response:
    """Monthly counts per site and indicator as a DHIS2 ``dataValueSets`` document."""
    today = utcnow().date()
    end = _month(request, "to") or date(today.year, today.month, 1)
    start = _month(request, "from") or _months_back(end, 11)
    if end < start:
        raise HTTPException(400, gettext("The end of the period is before its start."))
    if (end.year * 12 + end.month) - (start.year * 12 + start.month) >= MAX_DHIS2_MONTHS:
        raise HTTPException(400, gettext("Ask for at most 36 months at once."))
    key = request.headers.get("x-api-key") or request.query_params.get("api_key")
    async with request.app.state.db.read() as session:
        # Exact small counts only for key holders (partners, the health information team).
        exact = bool(key) and await apikeys.check_api_key(session, key) is not None
        values = await exports.dhis2_data_values(session, start, end, exact=exact)
    headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "private, no-store" if exact else "public, max-age=300"}
    return JSONResponse({"dataValues": values}, headers=headers)


# -- the JSON API -----------------------------------------------------------------------------


async def openapi(request: Request) -> Response:
    """The OpenAPI 3.1 document of the JSON endpoints."""
    document = openapi_document(request.app.state.settings.base_url)
    return Response(json.dumps(document, ensure_ascii=False), media_type="application/json",
                    headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"})


async def track_json(request: Request) -> Response:
    """The public view of one item by its tracking code (what the tracking page shows)."""
    settings = request.app.state.settings
    if not request.app.state.rate_limiter.hit(f"track-api:{client_address(request)}", settings.rate_limit_track_per_minute):
        raise HTTPException(429)
    code = codes.normalise(request.path_params["code"])
    if not codes.is_valid(code):
        raise HTTPException(404)
    async with request.app.state.db.read() as session:
        item = await tracking.item_by_code(session, code)
        if item is None:
            raise HTTPException(404)
        view = await tracking.tracked(session, item)
    locale = i18n.current_locale.get()
    now = utcnow()
    document = {
        "tracking_code": view.tracking_code,
        "status": view.status,
        "open": view.status in ("received", "acknowledged", "in_progress", "referred", "reopened"),
        "feedback_type": view.feedback_type,
        "topic": {"code": view.topic.slug, "name": view.topic.label(locale)} if view.topic is not None else None,
        "site": {"code": view.site.code, "name": view.site.name},
        "partner": view.partner_name,
        "verification": view.verification,
        "public_response": view.public_response,
        "me_too_count": view.me_too_count,
        "week_received": week_date(view.received_at),
        "deadlines": {
            "acknowledge_by_week": week_date(view.acknowledge_by),
            "resolve_by_week": week_date(view.resolve_by),
            "overdue": view.due_at is not None and view.due_at < now,
        },
        "events": [
            {
                "kind": e.kind,
                "week": week_date(e.created_at),
                "to_status": e.to_status,
                "partner": e.partner_name,
                "body": e.body,
            }
            for e in view.timeline
        ],
    }
    return JSONResponse(document, headers={"Cache-Control": "no-store"})


routes = [
    Route("/feedback.csv", feedback_csv, name="feedback_csv"),
    Route("/feedback.json", feedback_json, name="feedback_json"),
    Route("/aggregates.csv", aggregates_csv, name="aggregates_csv"),
    Route("/dhis2/dataValueSets.json", dhis2_data_value_sets, name="dhis2"),
]

api_routes = [
    Route("/api/openapi.json", openapi, name="openapi"),
    Route("/api/track/{code}", track_json, name="api_track"),
]
