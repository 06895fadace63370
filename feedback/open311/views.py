"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2), mounted at ``/open311/v2``.

XML is the required format and JSON the optional one; both are chosen by the extension
(no extension means XML). Errors are the specification's list of {code, description}:
403 for a missing or wrong api_key, 404 for an unknown resource, 400 for anything else.
Only published S0 items are listed, with their moderated summary and dates by week.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feedback import codes, i18n
from feedback.domain import apikeys, intake
from feedback.i18n import gettext
from feedback.models import Event, FeedbackItem, utcnow
from feedback.models.taxonomy import FEEDBACK_TYPES
from feedback.open311 import serialise
from feedback.open311.serialise import FORMATS, TYPE_LABELS, errors, render
from feedback.queries import exports, open311
from feedback.queries.exports import Lookups, week_start
from feedback.web.ratelimit import client_address

log = logging.getLogger("feedback.open311")

MAX_DESCRIPTION = 4000
MAX_PAGE_SIZE = 1000
MAX_PAGE = 100_000
MAX_IDS = 1000
WINDOW = timedelta(days=90)
CHANGESET = "2026-01-05 00:00"
TYPE_ATTRIBUTE = "type"
CODE_ATTRIBUTE = "topic_code"


class Open311Error(Exception):
    """Answered as the specification's error list."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__(status, descriptions)
        self.status = status
        self.descriptions = descriptions


Handler = Callable[[Request, str], Awaitable[Response]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Parse the format, pick the language, and turn ``Open311Error`` into the error list."""

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        fmt = request.path_params.get("format", "xml").lower()
        token = i18n.current_locale.set(_locale(request))
        try:
            if fmt not in FORMATS:
                raise Open311Error(400, gettext("Unknown format: use .xml or .json."))
            response = await handler(request, fmt)
        except Open311Error as exc:
            return errors(fmt, exc.status, *exc.descriptions)
        finally:
            i18n.current_locale.reset(token)
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
        return response

    return wrapper


def _locale(request: Request) -> str:
    """``?lang=``, then Accept-Language, then the language the middleware chose (default fr)."""
    if request.query_params.get("lang"):
        return i18n.pick_locale(request.query_params["lang"], default=request.state.locale)
    header = request.headers.get("accept-language", "")
    ranked: list[tuple[float, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0 and math.isfinite(quality):
            ranked.append((-quality + position * 1e-6, tag))
    candidates = [tag for _q, tag in sorted(ranked)]
    return i18n.pick_locale(*candidates, default=request.state.locale)


async def _lookups(request: Request) -> Lookups:
    async with request.app.state.db.read() as session:
        return await exports.load_lookups(session)


def _cache(response: Response, seconds: int = 60) -> Response:
    response.headers["Cache-Control"] = f"public, max-age={seconds}"
    return response


# -- discovery and services -----------------------------------------------------------------


@endpoint
async def discovery(request: Request, fmt: str) -> Response:
    """Where the API lives, what it speaks and how to get a key."""
    settings = request.app.state.settings
    base = settings.base_url.rstrip("/")
    document = {
        "changeset": CHANGESET,
        "contact": gettext("Write to the platform administrators through the partner organisation."),
        "key_service": gettext("API keys are issued by the platform administrators to partners and integrators."),
        "endpoints": [
            {
                "specification": serialise.SPECIFICATION,
                "url": base + request.app.url_path_for("open311:discovery", format="xml").rsplit("/", 1)[0],
                "changeset": CHANGESET,
                "type": "production" if settings.production else "test",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return _cache(render(fmt, "discovery", document), 3600)


@endpoint
async def services(request: Request, fmt: str) -> Response:
    """One service per active topic; its attributes are in the service definition."""
    locale = i18n.current_locale.get()
    lookups = await _lookups(request)
    topics = open311.active_topics(lookups)
    async with request.app.state.db.read() as session:
        codes_by_topic = await open311.topic_codes(session, [t.id for t in topics])
    value = [
        {
            "service_code": topic.slug,
            "service_name": topic.label(locale),
            "description": ", ".join(c.label(locale) for c in codes_by_topic.get(topic.id, [])) or topic.label(locale),
            "metadata": True,
            "type": "realtime",
            "keywords": ", ".join(c.slug for c in codes_by_topic.get(topic.id, [])),
            "group": "health",
        }
        for topic in topics
    ]
    return _cache(render(fmt, "services", value), 300)


@endpoint
async def service_definition(request: Request, fmt: str) -> Response:
    """The attributes of one service: the feedback type and the topic's codes."""
    locale = i18n.current_locale.get()
    lookups = await _lookups(request)
    topic = lookups.topic_by_slug(request.path_params["service_code"])
    if topic is None or not topic.active:
        raise Open311Error(404, gettext("Unknown service_code."))
    async with request.app.state.db.read() as session:
        topic_codes = (await open311.topic_codes(session, [topic.id]))[topic.id]
    attributes: list[dict[str, Any]] = [
        {
            "variable": True,
            "code": TYPE_ATTRIBUTE,
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": gettext("Complaint when not given."),
            "order": 1,
            "description": gettext("What kind of feedback is this?"),
            "values": [{"key": t, "name": gettext(TYPE_LABELS[t])} for t in FEEDBACK_TYPES],
        }
    ]
    if topic_codes:
        attributes.append(
            {
                "variable": True,
                "code": CODE_ATTRIBUTE,
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": None,
                "order": 2,
                "description": gettext("What exactly is it about?"),
                "values": [{"key": c.slug, "name": c.label(locale)} for c in topic_codes],
            }
        )
    value = {"service_code": topic.slug, "attributes": attributes}
    return _cache(render(fmt, "service_definition", value), 300)


# -- reading requests -------------------------------------------------------------------------


def parse_w3c(raw: str, name: str) -> datetime:
    """A W3C datetime (a zone is expected; none means UTC). Raises ``Open311Error`` 400."""
    text = raw.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise Open311Error(
            400, gettext("%(name)s is not a W3C datetime such as 2026-03-09T08:15:30+00:00.") % {"name": name}
        ) from exc


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise Open311Error(
            400, gettext("%(name)s must be a whole number from %(low)s to %(high)s.") % {"name": name, "low": low, "high": high}
        )
    return value


def _split(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def request_query(request: Request, lookups: Lookups, now: datetime) -> open311.RequestQuery:
    """Validate GET requests' parameters (400 on anything malformed)."""
    params = request.query_params
    page = _int_param(request, "page", 1, 1, MAX_PAGE)
    page_size = _int_param(request, "page_size", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    offset, limit = (page - 1) * page_size, page_size
    ids = _split(params.get("service_request_id"))
    if ids:
        if len(ids) > MAX_IDS:
            raise Open311Error(400, gettext("At most 1000 service_request_id at once."))
        return open311.RequestQuery(codes=tuple(codes.normalise(i) for i in ids), offset=offset, limit=limit)
    topic_ids = []
    for slug in _split(params.get("service_code")):
        topic = lookups.topic_by_slug(slug)
        if topic is None:
            raise Open311Error(400, gettext("Unknown service_code: %(code)s.") % {"code": slug[:60]})
        topic_ids.append(topic.id)
    statuses = {s.lower() for s in _split(params.get("status"))}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, gettext("status must be open or closed."))
    start = parse_w3c(params["start_date"], "start_date") if params.get("start_date") else None
    end = parse_w3c(params["end_date"], "end_date") if params.get("end_date") else None
    if start is None and end is None:
        end = now
        start = now - WINDOW
    elif start is None:
        assert end is not None
        start = end - WINDOW
    elif end is None:
        end = start + WINDOW
    if end < start:
        raise Open311Error(400, gettext("end_date is before start_date."))
    if end - start > WINDOW:
        raise Open311Error(400, gettext("start_date and end_date may not span more than 90 days."))
    # Whole weeks, like the dates shown: a filter never narrows an item down to a day.
    lower = week_start(start)
    upper = week_start(end)
    assert lower is not None and upper is not None
    return open311.RequestQuery(
        topic_ids=tuple(topic_ids),
        start=lower,
        until=upper + timedelta(days=7),
        status=statuses.pop() if len(statuses) == 1 else None,
        offset=offset,
        limit=limit,
    )


@endpoint
async def requests(request: Request, fmt: str) -> Response:
    """GET: published requests matching the filters; POST: create a request (api_key)."""
    if request.method == "POST":
        return await create_request(request, fmt)
    lookups = await _lookups(request)
    try:
        query = request_query(request, lookups, utcnow())
    except OverflowError as exc:
        raise Open311Error(400, gettext("start_date or end_date is out of range.")) from exc
    async with request.app.state.db.read() as session:
        items = await open311.find_requests(session, lookups, query)
    locale = i18n.current_locale.get()
    value = [serialise.service_request(item, locale) for item in items]
    return _cache(render(fmt, "service_requests", value))


@endpoint
async def request_detail(request: Request, fmt: str) -> Response:
    """One published request by its id (the tracking code)."""
    code = codes.normalise(request.path_params["request_id"])
    lookups = await _lookups(request)
    async with request.app.state.db.read() as session:
        item = await open311.find_request(session, lookups, code) if codes.is_valid(code) else None
    if item is None:
        raise Open311Error(404, gettext("Unknown service_request_id."))
    return _cache(render(fmt, "service_requests", [serialise.service_request(item, i18n.current_locale.get())]))


@endpoint
async def token(request: Request, fmt: str) -> Response:
    """Requests are created at once, so a token is simply the request id (the tracking code)."""
    limiter = request.app.state.rate_limiter
    if not limiter.hit(f"open311-token:{client_address(request)}", request.app.state.settings.rate_limit_track_per_minute):
        raise Open311Error(400, gettext("Too many requests: please wait a moment and try again."))
    code = codes.normalise(request.path_params["token"])
    found = False
    if codes.is_valid(code):
        async with request.app.state.db.read() as session:
            found = await open311.code_exists(session, code)
    if not found:
        raise Open311Error(404, gettext("Unknown token."))
    return render(fmt, "service_requests", [{"service_request_id": code, "token": code}],
                  headers={"Cache-Control": "no-store"})


# -- creating requests ------------------------------------------------------------------------


async def _form(request: Request) -> FormData:
    try:
        return await request.form(max_files=0, max_fields=100)
    except Exception as exc:  # noqa: BLE001 (any malformed body is a bad request)
        raise Open311Error(400, gettext("The request body could not be read: send it form-encoded.")) from exc


def _field(form: FormData, name: str, limit: int = 200) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    value = serialise.clean(value).strip()
    if len(value) > limit:
        raise Open311Error(400, gettext("%(name)s is too long.") % {"name": name})
    return value


def _coordinate(form: FormData, name: str, bound: float) -> float | None:
    raw = _field(form, name, 40)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.inf
    if not math.isfinite(value) or abs(value) > bound:
        raise Open311Error(400, gettext("%(name)s is not a valid coordinate.") % {"name": name})
    return value


def parse_new_request(form: FormData, lookups: Lookups, locale: str) -> intake.Submission:
    """Check the POST fields and build the intake submission (400 on the first problems)."""
    problems: list[str] = []
    service_code = _field(form, "service_code", 60)
    topic = lookups.topic_by_slug(service_code) if service_code else None
    if topic is None or not topic.active:
        problems.append(gettext("service_code is missing or unknown."))
    site = None
    address_id = _field(form, "address_id", 40)
    lat, lon = _coordinate(form, "lat", 90), _coordinate(form, "long", 180)
    if address_id:
        site = lookups.site_by_code(address_id)
        if site is None or not site.active:
            problems.append(gettext("address_id is not the code of a health centre."))
    elif lat is not None and lon is not None:
        site = open311.nearest_site(lookups, lat, lon)
        if site is None:
            problems.append(gettext("No health centre is near this location."))
    else:
        problems.append(gettext("Give the location as address_id (a health centre code) or lat and long."))
    description = _field(form, "description", 10 * MAX_DESCRIPTION)
    if not description:
        problems.append(gettext("description is required."))
    elif len(description) > MAX_DESCRIPTION:
        problems.append(gettext("description is too long: at most 4000 characters."))
    feedback_type = _field(form, f"attribute[{TYPE_ATTRIBUTE}]", 40) or "complaint"
    if feedback_type not in FEEDBACK_TYPES:
        problems.append(gettext("attribute[type] must be one of: %(types)s.") % {"types": ", ".join(FEEDBACK_TYPES)})
    code_slug = _field(form, f"attribute[{CODE_ATTRIBUTE}]", 40) or None
    email = _field(form, "email", 200) or None
    if email is not None and ("@" not in email or " " in email):
        problems.append(gettext("email is not a valid e-mail address."))
    phone = _field(form, "phone", 32) or None
    name = " ".join(p for p in (_field(form, "first_name", 80), _field(form, "last_name", 80)) if p) or None
    if problems:
        raise Open311Error(400, *problems)
    assert topic is not None and site is not None
    consent = bool(phone or email)
    return intake.Submission(
        site_code=site.code,
        channel="api",
        feedback_type=feedback_type,
        topic_slug=topic.slug,
        text=description,
        language=locale,
        contact_phone=phone if consent else None,
        contact_email=email if consent else None,
        contact_name=name if consent else None,
        contact_consent=consent,
        publish_consent=None,
        code_slug=code_slug,
    )


async def create_request(request: Request, fmt: str) -> Response:
    """POST requests: form-encoded, with an api_key; the item goes through intake and routing."""
    form = await _form(request)
    raw_key = form.get("api_key")
    # An absurdly long key is simply a wrong key (403), like any other.
    key = raw_key.strip() if isinstance(raw_key, str) else ""
    settings = request.app.state.settings
    db = request.app.state.db
    if not key:
        raise Open311Error(403, gettext("api_key is missing."))
    async with db.read() as session:
        if await apikeys.check_api_key(session, key) is None:
            raise Open311Error(403, gettext("api_key is not valid."))
        lookups = await exports.load_lookups(session)
    submission = parse_new_request(form, lookups, i18n.current_locale.get())
    item: FeedbackItem | None = None
    for _attempt in range(3):
        try:
            async with db.write() as session, session.begin():
                api_key = await apikeys.check_api_key(session, key)
                if api_key is None:
                    raise Open311Error(403, gettext("api_key is not valid."))
                await apikeys.touch(session, api_key)
                item = await intake.store(session, submission, base_url=settings.base_url, weekend=settings.weekend_days)
                session.add(Event(item_id=item.id, kind="internal_note", actor_label=f"api:{api_key.name}"[:80],
                                  public=False, body=f"Open311 API key {api_key.prefix}…"))
            break
        except intake.Invalid as exc:
            raise Open311Error(400, *(gettext(message) for message in exc.errors.values())) from exc
        except IntegrityError:
            # The same random tracking code was drawn twice (very rare): try again.
            log.warning("tracking code collision on Open311 POST; retrying")
    if item is None:
        raise Open311Error(400, gettext("The request could not be stored; please send it again."))
    track_url = settings.base_url.rstrip("/") + request.app.url_path_for("track:item", code=item.tracking_code)
    notice = gettext(
        "Received. A moderator reviews every request before anything is published; "
        "follow it with its tracking code at %(url)s"
    ) % {"url": track_url}
    value = [{"service_request_id": item.tracking_code, "service_notice": notice, "account_id": None}]
    return render(fmt, "service_requests", value, headers={"Cache-Control": "no-store"})


def _not_found_format(request: Request) -> str:
    path = request.url.path
    return "json" if path.endswith(".json") else "xml"


async def fallback(request: Request) -> Response:
    """Any other path under /open311/v2: the specification's 404 in the path's format."""
    return errors(_not_found_format(request), 404, gettext("Unknown resource."))


READ = ["GET"]
BOTH = ["GET", "POST"]

routes = [
    Route("/discovery.{format}", discovery, methods=READ, name="discovery"),
    Route("/discovery", discovery, methods=READ, name="discovery_xml"),
    Route("/services.{format}", services, methods=READ, name="services"),
    Route("/services", services, methods=READ, name="services_xml"),
    Route("/services/{service_code}.{format}", service_definition, methods=READ, name="service_definition"),
    Route("/services/{service_code}", service_definition, methods=READ, name="service_definition_xml"),
    # A widely used client asks for the singular form.
    Route("/service/{service_code}.{format}", service_definition, methods=READ, name="service_definition_alias"),
    Route("/requests.{format}", requests, methods=BOTH, name="requests"),
    Route("/requests", requests, methods=BOTH, name="requests_xml"),
    Route("/requests/{request_id}.{format}", request_detail, methods=READ, name="request"),
    Route("/requests/{request_id}", request_detail, methods=READ, name="request_xml"),
    Route("/tokens/{token}.{format}", token, methods=READ, name="token"),
    Route("/tokens/{token}", token, methods=READ, name="token_xml"),
    Route("/{rest:path}", fallback, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], name="fallback"),
]
