"""The kiosk (``/kiosk/{site_code}``) and the web intake (``/submit``): one question per screen.

Each step is a POST of one form to the same URL carrying the answers so far (see
``web/intake_flow.py``); htmx swaps only the ``flow`` block. Kiosk pages are never cached
(a shared device must not show the last person's answers), and the final step stores the
submission exactly once by the idempotency key the page carried from its first screen.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feedback import i18n
from feedback.domain import reference
from feedback.domain.intake import Invalid, submit_once
from feedback.media import MAX_VOICE_BYTES, MediaRefused, voice_note
from feedback.models import Site
from feedback.queries import kiosk as kiosk_queries
from feedback.queries import places
from feedback.web import csrf, offline, qr
from feedback.web import intake_flow as flow
from feedback.web.intake_flow import Answers
from feedback.web.ratelimit import client_address
from feedback.web.templating import path_for

# Starlette's default part limit (1 MB) is below a 2-minute voice note; the body limit
# middleware still caps the whole request.
MAX_PART_BYTES = MAX_VOICE_BYTES + 64 * 1024
NO_STORE = "no-store"


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in request.headers


def _qr_svg(url: str) -> Markup:
    """The QR code of the tracking page as inline SVG (no image request, prints sharply)."""
    # segno's symbol with a fixed mask (every mask decodes; choosing the "best" of eight cost
    # 3x the whole code), built from a per-size template (web/qr.py): the same SVG, ~4x faster.
    svg = qr.svg_inline(url, scale=4, border=2, svgclass="qr-code")
    return Markup(svg)  # noqa: S704 (generated from our own URL)


def _render(
    request: Request,
    *,
    channel: str,
    step: str,
    answers: Answers,
    site: Site | None,
    context: dict[str, Any],
    status_code: int = 200,
    fragment: bool = False,
) -> Response:
    """Render one screen: the whole page, or only its ``flow`` block (for htmx, or ``fragment``)."""
    i18n.current_locale.set(answers.lang)
    steps = flow.KIOSK_STEPS if channel == "kiosk" else flow.WEB_STEPS
    settings = request.app.state.settings
    if channel == "kiosk":
        assert site is not None
        post_url = start_url = path_for(request, "kiosk:start", site_code=site.code)
    else:
        post_url = start_url = path_for(request, "submit")
    htmx = _is_htmx(request)
    values = {
        "channel": channel,
        "layout": "kiosk/_layout.html" if channel == "kiosk" else "base.html",
        "step": step,
        "steps": steps,
        "step_number": steps.index(step) + 1 if step in steps else len(steps),
        "answers": answers,
        "hidden": answers.hidden_for(step),
        "site": site,
        "post_url": post_url,
        "start_url": start_url,
        "htmx": htmx,
        "errors": {},
        "prompts": frozenset(),
        "idle_seconds": settings.kiosk_idle_seconds,
        "warning_seconds": settings.kiosk_warning_seconds,
        "HEADINGS": flow.HEADINGS,
        "TYPE_LABELS": flow.TYPE_LABELS,
        "GENDER_LABELS": flow.GENDER_LABELS,
        "GENDER_ICONS": flow.GENDER_ICONS,
        "AGE_LABELS": flow.AGE_LABELS,
        "app_version": offline.app_version(),
        **context,
    }
    # The locale may have changed with the language step: the page is rendered in it.
    values["locale"] = answers.lang
    return request.app.state.templates.TemplateResponse(
        request,
        "kiosk/flow.html",
        values,
        status_code=status_code,
        block_name="flow" if htmx or fragment else None,
        headers={"Cache-Control": NO_STORE, "Vary": "HX-Request", offline.HEADER: offline.app_version()},
    )


async def _screen(
    request: Request,
    *,
    channel: str,
    step: str,
    answers: Answers,
    site: Site | None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """Load what one screen shows, then render it."""
    context: dict[str, Any] = {"errors": errors or {}}
    async with request.app.state.db.read() as session:
        context["prompts"] = await kiosk_queries.prompt_screens(session, answers.lang)
        if step in ("topic", "review"):
            context["topics"] = await places.active_topics(session)
        if step == "site" or (step == "review" and channel == "web"):
            context["sites"] = await places.active_sites(session)
        if step == "language" and site is not None:
            context["news"] = await kiosk_queries.you_said_we_did(session, site.id)
    return _render(
        request, channel=channel, step=step, answers=answers, site=site, context=context,
        status_code=status_code,
    )


async def _site_or_404(request: Request) -> Site:
    ref = await reference.read(request.app.state.db)
    site = ref.site(request.path_params["site_code"])
    if site is None:
        raise HTTPException(404)
    return site


async def start(request: Request) -> Response:
    """The kiosk of one site: GET shows the language screen, POST answers a step."""
    site = await _site_or_404(request)
    if request.method == "GET":
        answers = Answers.fresh(i18n.current_locale.get())
        return await _screen(request, channel="kiosk", step="language", answers=answers, site=site)
    if _is_htmx(request) and offline.mismatched(request):
        # A page of another version (the kiosk was updated meanwhile): it must not get this
        # version's screens. Its offline script carries on from its own cache; without it, reload.
        return Response(status_code=409, headers={
            "HX-Refresh": "true", "Cache-Control": NO_STORE, offline.HEADER: offline.app_version()})
    return await _answer(request, channel="kiosk", site=site)


async def submit(request: Request) -> Response:
    """The same flow on the web, starting with the choice of health centre."""
    if request.method == "GET":
        answers = Answers.fresh(i18n.current_locale.get())
        code = request.query_params.get("site", "").upper()
        if code:
            answers.values["site"] = code
        return await _screen(request, channel="web", step="site", answers=answers, site=None)
    return await _answer(request, channel="web", site=None)


async def _answer(request: Request, *, channel: str, site: Site | None) -> Response:
    """One step's POST: go back, show a step to change, check and go on, or send."""
    steps = flow.KIOSK_STEPS if channel == "kiosk" else flow.WEB_STEPS
    try:
        # The form the CSRF middleware parsed when it is within these limits (web/csrf.py).
        async with csrf.form(request, max_files=2, max_fields=60, max_part_size=MAX_PART_BYTES) as form:
            answers = Answers.from_form(form, default_lang=i18n.current_locale.get())
            step = str(form.get("step", ""))
            nav = str(form.get("nav", ""))
            goto = str(form.get("goto", ""))
            upload = form.get("voice")
            voice_bytes = await upload.read(MAX_VOICE_BYTES + 1) if isinstance(upload, UploadFile) else None
    except HTTPException as exc:
        # A malformed body or a part over the limit: Starlette's English detail is not shown.
        raise HTTPException(exc.status_code) from exc
    i18n.current_locale.set(answers.lang)
    if step not in steps:
        step = steps[0]
    screen = {"request": request, "channel": channel, "answers": answers, "site": site}

    if nav == "back":
        return await _screen(step=flow.previous_step(steps, step), **screen)
    if step == "review" and goto in steps[:-1]:
        return await _screen(step=goto, **screen)

    ref = await reference.read(request.app.state.db)
    topics = set(ref.topics_by_slug)
    sites = set(ref.sites) if channel == "web" else set()
    if step != "review":
        errors = flow.check_step(step, answers, topics=topics, sites=sites)
        if errors:
            return await _screen(step=step, errors=errors, status_code=422, **screen)
        return await _screen(step=flow.next_step(steps, step), **screen)
    if nav != "send":
        return await _screen(step="review", **screen)

    problem = flow.first_error(steps[:-1], answers, topics=topics, sites=sites)
    if problem is not None:
        return await _screen(step=problem[0], errors=problem[1], status_code=422, **screen)
    return await _send(request, channel=channel, site=site, answers=answers, voice_bytes=voice_bytes)


async def _send(
    request: Request, *, channel: str, site: Site | None, answers: Answers, voice_bytes: bytes | None
) -> Response:
    """The final step: limits, the voice note, then store exactly once and show the receipt."""
    settings = request.app.state.settings
    limiter = request.app.state.rate_limiter
    site_code = site.code if site is not None else answers.get("site").upper()
    screen = {"request": request, "channel": channel, "answers": answers, "site": site}
    allowed = limiter.hit(f"submit-client:{client_address(request)}", settings.rate_limit_client_per_minute)
    if channel == "kiosk":
        allowed = limiter.hit(f"submit-kiosk:{site_code}", settings.rate_limit_kiosk_per_minute) and allowed
    if not allowed:
        raise HTTPException(429)

    sub = answers.to_submission(site_code, channel)
    if answers.get("has_voice") == "1":
        if not voice_bytes:
            answers.values.pop("has_voice", None)
            message = i18n.N_("The voice note did not arrive. Please record it again.")
            return await _screen(step="say", errors={"voice": message}, status_code=422, **screen)
        try:
            sub.voice = voice_note(voice_bytes)
        except MediaRefused as refused:
            answers.values.pop("has_voice", None)
            return await _screen(step="say", errors={"voice": refused.message}, status_code=422, **screen)

    try:
        item, _created = await submit_once(
            request.app.state.db.write, sub, base_url=settings.base_url, weekend=settings.weekend_days
        )
    except Invalid as invalid:
        field = next(iter(invalid.errors))
        step = flow.FIELD_STEP.get(field)
        if step is None or (channel == "kiosk" and step == "site"):
            raise HTTPException(400, i18n.gettext(invalid.errors[field])) from invalid
        return await _screen(step=step, errors=invalid.errors, status_code=422, **screen)

    if site is None:
        site = (await reference.read(request.app.state.db)).site(site_code)
    track_url = settings.base_url + request.app.url_path_for("track:item", code=item.tracking_code)
    context = {
        "code": item.tracking_code,
        "spoken_code": " ".join(item.tracking_code),
        "qr_svg": _qr_svg(track_url),
        "track_url": track_url,
        "received_at": item.received_at,
    }
    return _render(request, channel=channel, step="receipt", answers=answers, site=site, context=context)


async def prompt(request: Request) -> Response:
    """The recorded voice prompt of one screen in one language (404 when none was uploaded)."""
    async with request.app.state.db.read() as session:
        recording = await kiosk_queries.prompt(
            session, request.path_params["screen"], request.path_params["locale"]
        )
    if recording is None:
        raise HTTPException(404)
    etag = f'"{recording.sha256}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(recording.content, media_type=recording.content_type, headers=headers)


routes = [
    Route("/prompts/{locale}/{screen}", prompt, name="prompt"),
    Route("/{site_code}", start, name="start", methods=["GET", "POST"]),
]

web_routes = [Route("/submit", submit, name="submit", methods=["GET", "POST"])]
