"""Admin pages that are not plain records: the index, users' actions, voice prompts, API keys,
CSV import, the register of processing, the admin log and the sites' QR posters."""

from __future__ import annotations

from datetime import date
from typing import Any

import segno
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from feedback.domain import admin as admin_domain
from feedback.domain import apikeys
from feedback.domain import auth as auth_domain
from feedback.domain import configuration as config
from feedback.domain.admin import ConfigError
from feedback.i18n import LOCALES, N_, gettext
from feedback.models import ApiKey, Partner, Site, User
from feedback.queries import admin as queries
from feedback.queries import register as register_queries
from feedback.web.admin.crud import actor, conflict_message, render, url
from feedback.web.staff import staff_only

IMPORT_KINDS = ("areas", "sites", "partners", "rules", "users")
MAX_CSV_BYTES = 2 * 1024 * 1024


@staff_only("admin")
async def index(request: Request) -> Response:
    """The sections of the administration, with how much each holds."""
    async with request.app.state.db.read() as session:
        counts = await queries.counts(session)
    return render(request, "admin/index.html", {"counts": counts})


# --- users: reset links and (de)activation ------------------------------------------------


@staff_only("admin")
async def user_reset(request: Request) -> Response:
    """Issue a signed, single-use reset link for a user, shown once to the admin."""
    user_id = request.path_params["user_id"]
    async with request.app.state.db.write() as session, session.begin():
        user = await session.get(User, user_id)
        if user is None:
            raise HTTPException(404)
        if not user.active:
            return RedirectResponse(url(request, "user_edit", user_id=user_id) + "?done=inactive", status_code=303)
        token = auth_domain.reset_token(request.app.state.settings.secret_key, user)
        await admin_domain.record_reset_link(session, actor(request), user)
    link = request.app.state.settings.base_url + str(request.url_for("reset", token=token).path)
    return render(request, "admin/user_reset.html", {"user": user, "link": link})


@staff_only("admin")
async def user_active(request: Request) -> Response:
    """Deactivate (sessions end at once) or reactivate an account."""
    user_id = request.path_params["user_id"]
    async with request.form() as form:
        active = form.get("active") == "1"
    try:
        async with request.app.state.db.write() as session, session.begin():
            await admin_domain.set_user_active(session, actor(request), user_id, active)
    except ConfigError as exc:
        async with request.app.state.db.read() as session:
            user = await session.get(User, user_id)
        if user is None:
            raise HTTPException(404) from None
        return render(request, "admin/message.html", {
            "title": gettext(N_("Edit user")), "error": exc.translated(),
            "back": url(request, "user_edit", user_id=user_id)}, status=400)
    done = "activated" if active else "deactivated"
    return RedirectResponse(url(request, "user_edit", user_id=user_id) + f"?done={done}", status_code=303)


# --- voice prompts ------------------------------------------------------------------------


async def _prompts_page(request: Request, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    async with request.app.state.db.read() as session:
        prompts = await queries.voice_prompts(session)
    return render(request, "admin/voice_prompts.html", {
        "screens": config.PROMPT_SCREENS, "locales": LOCALES, "prompts": prompts, "errors": errors or {},
        "done": request.query_params.get("done"),
    }, status=status)


@staff_only("admin")
async def voice_prompts(request: Request) -> Response:
    """Every kiosk screen × language: play the recording, upload or replace it."""
    return await _prompts_page(request)


@staff_only("admin")
async def voice_prompt_upload(request: Request) -> Response:
    screen = request.path_params["screen"]
    locale = request.path_params["locale"]
    if screen not in config.PROMPT_SCREENS or locale not in LOCALES:
        raise HTTPException(404)
    async with request.form(max_part_size=4 * 1024 * 1024) as form:
        upload = form.get("file")
        data = await upload.read() if upload is not None and not isinstance(upload, str) else b""
    try:
        async with request.app.state.db.write() as session, session.begin():
            await config.save_voice_prompt(session, actor(request), screen=screen, locale=locale, data=data)
    except ConfigError as exc:
        return await _prompts_page(request, {f"{screen}/{locale}": exc.translated()}, status=400)
    except IntegrityError:
        return await _prompts_page(request, {f"{screen}/{locale}": conflict_message()}, status=400)
    return RedirectResponse(url(request, "voice_prompts") + "?done=saved", status_code=303)


@staff_only("admin")
async def voice_prompt_delete(request: Request) -> Response:
    screen = request.path_params["screen"]
    locale = request.path_params["locale"]
    try:
        async with request.app.state.db.write() as session, session.begin():
            await config.delete_voice_prompt(session, actor(request), screen=screen, locale=locale)
    except ConfigError:
        raise HTTPException(404) from None
    return RedirectResponse(url(request, "voice_prompts") + "?done=deleted", status_code=303)


@staff_only("admin")
async def voice_prompt_audio(request: Request) -> Response:
    """Play back a recording (bytes as stored; the type was sniffed at upload)."""
    async with request.app.state.db.read() as session:
        prompt = await queries.voice_prompt_audio(session, request.path_params["screen"], request.path_params["locale"])
    if prompt is None:
        raise HTTPException(404)
    return Response(prompt.content, media_type=prompt.content_type,
                    headers={"Content-Disposition": "inline", "X-Content-Type-Options": "nosniff"})


# --- Open311 API keys ---------------------------------------------------------------------


async def _keys_page(request: Request, *, error: str | None = None, new_key: str | None = None,
                     name: str = "", partner_id: str = "", status: int = 200) -> Response:
    async with request.app.state.db.read() as session:
        keys = await queries.api_keys(session)
        partners = await queries.partner_choices(session)
    return render(request, "admin/api_keys.html", {
        "keys": keys, "partners": partners, "error": error, "new_key": new_key, "name": name,
        "partner_id": partner_id, "done": request.query_params.get("done"),
    }, status=status)


@staff_only("admin")
async def api_keys(request: Request) -> Response:
    """Open311 API keys: who has one, when it was last used; create and revoke."""
    return await _keys_page(request)


@staff_only("admin")
async def api_key_new(request: Request) -> Response:
    async with request.form() as form:
        name = str(form.get("name") or "").strip()
        partner_raw = str(form.get("partner_id") or "").strip()
    if not name or len(name) > 120:
        return await _keys_page(request, error=gettext(N_("Give the key a name (who it is for), at most 120 characters.")),
                                name=name, partner_id=partner_raw, status=400)
    partner_slug = None
    async with request.app.state.db.write() as session, session.begin():
        if partner_raw:
            partner = await session.get(Partner, int(partner_raw)) if partner_raw.isdigit() else None
            if partner is None:
                return await _keys_page(request, error=gettext(N_("Unknown partner.")), name=name, status=400)
            partner_slug = partner.slug
        try:
            key = await apikeys.create_api_key(session, name=name, partner_slug=partner_slug)
        except apikeys.ApiKeyError:
            return await _keys_page(request, error=gettext(N_("The key could not be created.")), name=name, status=400)
        await admin_domain.record(session, actor(request), "api_key.create", f"api_key:{key[:apikeys.PREFIX_LENGTH]}",
                                  {"name": name, "partner": partner_slug})
    # The key is shown once, here, and never again (only its hash is kept).
    return await _keys_page(request, new_key=key)


@staff_only("admin")
async def api_key_revoke(request: Request) -> Response:
    key_id = request.path_params["key_id"]
    async with request.app.state.db.write() as session, session.begin():
        key = await session.get(ApiKey, key_id)
        if key is None or not await apikeys.revoke(session, key_id):
            raise HTTPException(404)
        await admin_domain.record(session, actor(request), "api_key.revoke", f"api_key:{key.prefix}", {"name": key.name})
    return RedirectResponse(url(request, "api_keys") + "?done=revoked", status_code=303)


# --- CSV import ---------------------------------------------------------------------------


@staff_only("admin")
async def csv_import(request: Request) -> Response:
    """Upload a CSV of areas, sites, partners, routing rules or users (as ``feedback import``)."""
    context: dict[str, Any] = {"kinds": IMPORT_KINDS, "kind": "sites", "error": None, "imported": None,
                               "problems": []}
    if request.method == "GET":
        return render(request, "admin/import.html", context)
    async with request.form(max_part_size=MAX_CSV_BYTES + 1) as form:
        kind = str(form.get("kind") or "")
        upload = form.get("file")
        data = await upload.read() if upload is not None and not isinstance(upload, str) else b""
        filename = getattr(upload, "filename", None) or "upload.csv"
    context["kind"] = kind
    error = None
    if kind not in IMPORT_KINDS:
        error = gettext(N_("Choose what the file contains."))
    elif not data:
        error = gettext(N_("Choose a CSV file to upload."))
    elif len(data) > MAX_CSV_BYTES:
        error = gettext(N_("The file is too large: at most 2 MB."))
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            error = gettext(N_("The file is not UTF-8 text. Save it as \"CSV UTF-8\" and try again."))
    if error is None:
        from feedback.domain import imports

        try:
            async with request.app.state.db.write() as session, session.begin():
                count = await imports.import_csv(session, kind, text, filename=filename, actor=actor(request))
                await admin_domain.record(session, actor(request), "import", f"import:{kind}",
                                          {"file": filename[:120], "count": count})
        except imports.ImportFailed as exc:
            error = gettext(N_("Nothing was imported. Correct the file and upload it again."))
            # Each problem names the line and column (in English, as the CLI prints them).
            context["problems"] = str(exc).splitlines()
        except IntegrityError:
            error = conflict_message()
        else:
            context["imported"] = count
    context["error"] = error
    return render(request, "admin/import.html", context, status=400 if error else 200)


# --- register of processing ---------------------------------------------------------------


@staff_only("admin")
async def register(request: Request) -> Response:
    """The register of processing, printable (HTML) or as CSV with ``?format=csv``."""
    async with request.app.state.db.read() as session:
        built = await register_queries.build_register(session, request.app.state.settings)
    if request.query_params.get("format") == "csv":
        filename = f"register-of-processing-{built.generated_at:%Y-%m-%d}.csv"
        return Response(register_queries.register_csv(built), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "no-store"})
    return render(request, "admin/register.html", {"register": built, "titles": register_queries.column_titles()})


# --- admin log ----------------------------------------------------------------------------


def _date(raw: str | None) -> tuple[date | None, bool]:
    if not raw:
        return None, True
    try:
        return date.fromisoformat(raw), True
    except ValueError:
        return None, False


@staff_only("admin")
async def admin_log(request: Request) -> Response:
    """Who changed which configuration, when; filter by user and by date."""
    params = request.query_params
    login = (params.get("user") or "").strip()[:80] or None
    since, ok_since = _date(params.get("since"))
    until, ok_until = _date(params.get("until"))
    page = int(params["page"]) if params.get("page", "").isdigit() else 1
    error = None if ok_since and ok_until else gettext(N_("Enter a date as YYYY-MM-DD."))
    async with request.app.state.db.read() as session:
        result = await queries.admin_log(session, login=login, since=since, until=until, page=min(page, 10_000))
        actors = await queries.log_actors(session)
    return render(request, "admin/log.html", {
        "log": result, "actors": actors, "user": login or "", "since": params.get("since", "") if ok_since else "",
        "until": params.get("until", "") if ok_until else "", "error": error,
    }, status=400 if error else 200)


# --- sites: QR posters ---------------------------------------------------------------------


def qr_svg(target: str) -> Markup:
    """An inline SVG QR code (our own markup, made from a URL we built)."""
    svg = segno.make(target, error="m").svg_inline(scale=6, border=2, omitsize=True)
    return Markup(svg)  # noqa: S704


@staff_only("admin")
async def site_poster(request: Request) -> Response:
    """A printable A4 poster with QR codes to the site's kiosk and to its public board."""
    async with request.app.state.db.read() as session:
        site = await session.get(Site, request.path_params["site_id"])
    if site is None:
        raise HTTPException(404)
    base = request.app.state.settings.base_url
    kiosk_url = base + str(request.url_for("kiosk:start", site_code=site.code).path)
    board_url = base + str(request.url_for("board:site", site_code=site.code).path)
    return render(request, "admin/poster.html", {
        "site": site, "kiosk_url": kiosk_url, "board_url": board_url,
        "kiosk_qr": qr_svg(kiosk_url), "board_qr": qr_svg(board_url),
    })
