"""The offline kiosk's API (``/kiosk-api/...``): register, flow texts, reserve codes, sync, heartbeat.

These paths are exempt from the CSRF middleware (``web/csrf.py``) because a kiosk sends its
queue without a page: every state-changing route authenticates with the device token
(``Authorization: Bearer ...``, 401 otherwise) except ``register``, which checks the CSRF token of
the kiosk page itself (``X-CSRF-Token``) and is rate-limited. Every call carries the page's
``X-App-Version``; another version gets 409 and reloads (``web/offline.py``). Answers are JSON.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from feedback import i18n
from feedback.domain import kiosks
from feedback.domain.intake import Invalid, submit_once
from feedback.i18n import N_, gettext
from feedback.media import MAX_VOICE_BYTES, MediaRefused, voice_note
from feedback.models import Kiosk, Site, utcnow
from feedback.queries import kiosk as kiosk_queries
from feedback.queries import places
from feedback.web import intake_flow as flow
from feedback.web import offline
from feedback.web.intake_flow import Answers
from feedback.web.kiosk import MAX_PART_BYTES, _qr_svg, _render
from feedback.web.ratelimit import client_address
from feedback.web.templating import icon_svg, versioned_static_path

# Kiosks are set up by hand, a few per site: more than this from one address is a script.
REGISTER_PER_HOUR_ADDRESS = 20
REGISTER_PER_HOUR_SITE = 60
# A kiosk back online sends its queue at once, but no faster than this.
SYNC_PER_MINUTE = 120
NO_STORE = {"Cache-Control": "no-store"}

UNAUTHORISED = N_("This kiosk is not registered, or its registration was withdrawn.")
OLD_VERSION = N_("The kiosk was updated: it reloads before it sends anything.")
BAD_REQUEST = N_("This request could not be understood")


def _json(data: dict[str, Any], status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={**NO_STORE, offline.HEADER: offline.app_version(), **headers})


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return _json({"error": gettext(message), **extra}, status, **headers)


def _old_version() -> JSONResponse:
    return _error(409, OLD_VERSION, reload=True, version=offline.app_version())


@dataclass(frozen=True)
class Device:
    id: int
    site_code: str


async def _kiosk(request: Request) -> Device | None:
    """The kiosk whose device token the request carries."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    async with request.app.state.db.read() as session:
        kiosk = await kiosks.authenticate(session, token.strip())
        if kiosk is None:
            return None
        site = await session.get_one(Site, kiosk.site_id)
    return Device(kiosk.id, site.code)


def _version_ok(request: Request) -> bool:
    return request.headers.get(offline.HEADER) == offline.app_version()


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


# --- registration ------------------------------------------------------------------------


async def register(request: Request) -> Response:
    """A kiosk page registers its device: a new kiosk of the site and its token, shown once."""
    sent = request.headers.get("X-CSRF-Token", "")
    expected = request.scope.get("state", {}).get("csrf_token", "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _error(403, N_("This form has expired or did not come from this site. Please reload the page and try again."))
    if not _version_ok(request):
        return _old_version()
    limiter = request.app.state.rate_limiter
    site_code = request.path_params["site_code"].upper()
    allowed = limiter.hit(f"kiosk-register:{client_address(request)}", REGISTER_PER_HOUR_ADDRESS, 3600)
    allowed = limiter.hit(f"kiosk-register-site:{site_code}", REGISTER_PER_HOUR_SITE, 3600) and allowed
    if not allowed:
        return _error(429, N_("Too many requests: please wait a moment and try again"))
    label = str((await _json_body(request)).get("label") or "")
    async with request.app.state.db.write() as session, session.begin():
        site = await places.site_by_code(session, site_code)
        if site is None:
            return _error(404, N_("Unknown health centre."))
        done = await kiosks.register(session, site, label, utcnow(), offline.app_version())
    return _json({"kiosk_id": done.kiosk.id, "label": done.kiosk.label, "site": site.code, "token": done.token},
                 201)


# --- the flow, for rendering it on the device --------------------------------------------


def _messages() -> dict[str, str]:
    """Each check of the flow, translated, found by running the flow's own checks."""
    cases = {
        "lang": ("language", {"lang": "xx"}),
        "feedback_type": ("type", {}),
        "topic": ("topic", {}),
        "text_empty": ("say", {}),
        "text_long": ("say", {"text": "x" * 5001}),
        "contact_consent": ("contact", {}),
        "phone_invalid": ("contact", {"contact_consent": "yes", "contact_phone": "1"}),
        "phone_missing": ("contact", {"contact_consent": "yes"}),
        "publish_consent": ("publish", {}),
        "gender": ("gender", {}),
        "age_band": ("age", {}),
    }
    messages = {}
    for key, (step, values) in cases.items():
        errors = flow.check_step(step, Answers(dict(values)), topics=())
        messages[key] = gettext(next(iter(errors.values())))
    return messages


def _with_icon(icon: str, label: str) -> str:
    return str(Markup("{} {}").format(icon_svg(icon), label))


async def flow_json(request: Request) -> Response:
    """Every screen of the kiosk flow in one language, for the device to render when offline."""
    lang = request.path_params["lang"]
    if lang not in i18n.LOCALES:
        raise HTTPException(404)
    wanted = request.query_params.get("v")
    if wanted and wanted != offline.app_version():
        return _old_version()
    async with request.app.state.db.read() as session:
        site = await places.site_by_code(session, request.path_params["site_code"])
        if site is None:
            raise HTTPException(404)
        topics = await places.active_topics(session)
        prompts = await kiosk_queries.prompt_screens(session, lang)
    settings = request.app.state.settings
    answers = Answers({"lang": lang})
    context = {"topics": topics, "prompts": prompts, "errors": {}}

    def screen(step: str, extra: dict[str, Any] | None = None) -> str:
        response = _render(request, channel="kiosk", step=step, answers=answers, site=site,
                           context={**context, **(extra or {})}, fragment=True)
        return bytes(response.body).decode("utf-8")

    screens = {step: screen(step) for step in flow.KIOSK_STEPS}
    receipt = screen("receipt", {"offline": True, "code": "", "spoken_code": "", "qr_svg": "", "track_url": "",
                                 "received_at": None})
    i18n.current_locale.set(lang)  # _render set it too; the texts below are in the same language
    track = settings.base_url + request.app.url_path_for("track:item", code="CODE")
    data = {
        "version": offline.app_version(),
        "lang": lang,
        "site": site.code,
        "steps": list(flow.KIOSK_STEPS),
        "locales": list(i18n.LOCALES),
        "state_fields": list(flow.STATE_FIELDS),
        "screens": screens,
        "receipt": receipt,
        "titles": {s: f"{gettext(h)} · {site.name}" for s, h in flow.HEADINGS.items() if s != "site"},
        "topics": [t.slug for t in topics],
        "review": {
            "feedback_type": {v: _with_icon(v, gettext(label)) for v, label in flow.TYPE_LABELS.items()},
            "topic": {t.slug: _with_icon(t.icon, t.label(lang)) for t in topics},
            "gender": {v: gettext(label) for v, label in flow.GENDER_LABELS.items()},
            "age_band": {v: gettext(label) for v, label in flow.AGE_LABELS.items()},
            "publish_consent": {"yes": gettext(N_("Yes")), "no": gettext(N_("No"))},
            "contact_no": _with_icon("lock", gettext(N_("No, I stay anonymous"))),
            "contact_yes": str(icon_svg("phone")),
            "no_text": gettext(N_("No text")),
            "voice": _with_icon("mic", gettext(N_("Voice note recorded"))),
        },
        "messages": _messages(),
        "warning_icon": str(icon_svg("warning")),
        "texts": {
            "your_answer": gettext(N_("your answer")),
            "idle_title": gettext(N_("Are you still there?")),
            "idle_text": gettext(N_("To protect your privacy, the kiosk will start again in a moment.")),
            "more_time": gettext(N_("I need more time")),
            "online": gettext(N_("Connected")),
            "offline": gettext(N_("Offline")),
            "waiting": gettext(N_("%(n)s waiting")) % {"n": "{n}"},
        },
        "prompts": {s: request.app.url_path_for("kiosk:prompt", locale=lang, screen=s) for s in sorted(prompts)},
        "track_url": track,
        "status_icons": str(icon_svg("online")) + str(icon_svg("offline")),
        "urls": {
            "register": request.app.url_path_for("kiosk_api:register", site_code=site.code),
            "codes": request.app.url_path_for("kiosk_api:codes"),
            "sync": request.app.url_path_for("kiosk_api:sync"),
            "heartbeat": request.app.url_path_for("kiosk_api:heartbeat"),
            "service_worker": request.app.url_path_for("service_worker"),
            "styles": request.url_for("static", path=versioned_static_path("css/kiosk-offline.css")).path,
        },
    }
    # The service worker keeps a copy; it fetches a fresh one at every online visit.
    return JSONResponse(data, headers={"Cache-Control": "no-cache", offline.HEADER: offline.app_version()})


# --- reserved codes, sync, heartbeat (device token) --------------------------------------


async def reserve(request: Request) -> Response:
    """Top the kiosk up to a batch of reserved codes; all its usable codes, with their QR codes."""
    kiosk = await _kiosk(request)
    if kiosk is None:
        return _error(401, UNAUTHORISED)
    if not _version_ok(request):
        return _old_version()
    now = utcnow()
    async with request.app.state.db.write() as session, session.begin():
        held = await kiosks.reserve_codes(session, await session.get_one(Kiosk, kiosk.id), now)
    settings = request.app.state.settings
    data = []
    for reserved in held:
        track_url = settings.base_url + request.app.url_path_for("track:item", code=reserved.code)
        data.append({"code": reserved.code, "expires_at": reserved.expires_at.isoformat(),
                     "qr": str(_qr_svg(track_url))})
    return _json({"codes": data})


def _submitted_at(raw: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.astimezone(UTC) if value.tzinfo else None


def _refused(errors: dict[str, str]) -> JSONResponse:
    """422: the server will never accept this submission as it is; the kiosk keeps it aside."""
    translated = {field: gettext(message) for field, message in errors.items()}
    return _json({"error": next(iter(translated.values())), "errors": translated}, 422)


async def sync(request: Request) -> Response:
    """One queued submission: the final step's fields, its reserved code, device time and key.

    Stored exactly once (by the idempotency key); 201 when stored now, 200 when it was already.
    """
    kiosk = await _kiosk(request)
    if kiosk is None:
        return _error(401, UNAUTHORISED)
    if not _version_ok(request):
        return _old_version()
    settings = request.app.state.settings
    if not request.app.state.rate_limiter.hit(f"kiosk-sync:{kiosk.id}", SYNC_PER_MINUTE):
        return _error(429, N_("Too many requests: please wait a moment and try again"))
    try:
        async with request.form(max_files=2, max_fields=40, max_part_size=MAX_PART_BYTES) as form:
            raw_key = str(form.get("idempotency_key") or "")
            answers = Answers.from_form(form, default_lang=settings.default_locale)
            submitted_raw = str(form.get("submitted_at") or "")
            reserved_code = str(form.get("reserved_code") or "").strip()
            upload = form.get("voice")
            voice_bytes = await upload.read(MAX_VOICE_BYTES + 1) if isinstance(upload, UploadFile) else None
    except HTTPException:
        return _error(400, BAD_REQUEST)
    if answers.get("idempotency_key") != raw_key:
        return _refused({"idempotency_key": N_("This form is not valid any more. Please start again.")})
    submitted_at = _submitted_at(submitted_raw)
    if submitted_at is None:
        return _refused({"submitted_at": N_("The time of submission is missing or not a valid time.")})
    async with request.app.state.db.read() as session:
        topics = {t.slug for t in await places.active_topics(session)}
    problem = flow.first_error(flow.KIOSK_STEPS[:-1], answers, topics=topics)
    if problem is not None:
        return _refused(problem[1])

    sub = answers.to_submission(kiosk.site_code, "kiosk")
    sub.kiosk_id = kiosk.id
    sub.reserved_code = reserved_code or None
    sub.submitted_at = submitted_at
    if answers.get("has_voice") == "1":
        if not voice_bytes:
            return _refused({"voice": N_("The voice note did not arrive. Please record it again.")})
        try:
            sub.voice = voice_note(voice_bytes)
        except MediaRefused as refused:
            return _refused({"voice": refused.message})
    try:
        item, created = await submit_once(request.app.state.db.write, sub, base_url=settings.base_url,
                                          weekend=settings.weekend_days)
    except Invalid as invalid:
        return _refused(invalid.errors)
    async with request.app.state.db.write() as session, session.begin():
        await kiosks.touch(session, kiosk.id, utcnow())
    return _json({"tracking_code": item.tracking_code, "created": created}, 201 if created else 200)


async def heartbeat(request: Request) -> Response:
    """The kiosk reports its queue and version; an old version is recorded, then told to reload."""
    kiosk = await _kiosk(request)
    if kiosk is None:
        return _error(401, UNAUTHORISED)
    data = await _json_body(request)
    version = request.headers.get(offline.HEADER, "")
    async with request.app.state.db.write() as session, session.begin():
        record = await session.get_one(Kiosk, kiosk.id)
        left = await kiosks.heartbeat(session, record, utcnow(), queued=data.get("queued_count"),
                                      rejected=data.get("rejected_count"), app_version=version)
        label = record.label
    if not _version_ok(request):
        return _old_version()
    return _json({"version": offline.app_version(), "codes_left": left, "label": label})


routes = [
    Route("/{site_code}/register", register, methods=["POST"], name="register"),
    Route("/{site_code}/flow.{lang}.json", flow_json, name="flow"),
    Route("/codes", reserve, methods=["POST"], name="codes"),
    Route("/submissions", sync, methods=["POST"], name="sync"),
    Route("/heartbeat", heartbeat, methods=["POST"], name="heartbeat"),
]
