"""The partner portal (issue 6 §3–4, §6–7, §9): the inbox, the item page and its actions.

Handlers parse, call one domain function and render. Who may use each route is declared with
``@staff_only``; which items they may touch is decided by ``access`` inside the queries, so a
forbidden item is a 404 like a missing one.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from feedback import media
from feedback.domain import workflow
from feedback.domain.access import WORKING_ROLES, Actor, can_view, can_work, is_sensitive
from feedback.i18n import N_, gettext
from feedback.models import Attachment, Event, FeedbackItem, utcnow
from feedback.queries import audit as audit_queries
from feedback.queries import inbox as inbox_queries
from feedback.queries import items as item_queries
from feedback.queries import places
from feedback.text import nfc
from feedback.web.staff import staff_only

MAX_NOTE = 4000
# Refusals that are about what was typed (400); the others are about the item's state (409).
INPUT_REFUSALS = {
    N_("Please write a public response: the community will read it."),
    N_("The public response is too long (at most 4000 characters)."),
    N_("Choose the partner to refer this item to."),
    N_("The item is already with this partner."),
    N_("Unknown action."),
}
NOTE_ROLES = (*WORKING_ROLES, "moderator")
ACTION_ROLES = (*WORKING_ROLES, "community_monitor")
PHOTO_ROLES = (*WORKING_ROLES, "community_monitor")


def _templates(request: Request) -> Any:
    return request.app.state.templates


def _settings(request: Request) -> Any:
    return request.app.state.settings


def _item_id(request: Request) -> int:
    return int(request.path_params["item_id"])


@staff_only()
async def inbox(request: Request) -> Response:
    """The items this person may read, most overdue first, then newest; htmx gets the list."""
    actor: Actor = request.state.actor
    if actor.role == "moderator":
        return RedirectResponse(request.url_for("moderation:queue").path, status_code=303)
    default_sensitivity = "sensitive" if actor.role == "safeguarding_officer" else ""
    filters = inbox_queries.parse_filters(request.query_params, default_sensitivity=default_sensitivity)
    now = utcnow()
    async with request.app.state.db.read() as session:
        page = await inbox_queries.inbox_page(session, actor, filters, now)
        sites = await places.active_sites(session)
        topics = await places.active_topics(session)
    if actor.role == "community_monitor":
        sites = [s for s in sites if s.id in actor.site_ids]
    context = {
        "page": page,
        "filters": filters,
        "sites": sites,
        "topics": topics,
        "now": now,
        "statuses": list(page.counts),
        "sensitivity_choices": inbox_queries.SENSITIVITY_CHOICES,
        "feedback_types": ("complaint", "suggestion", "compliment", "question", "help_request"),
        "page_url": lambda n: _inbox_url(request, filters, page=n),
        "status_url": lambda status: _inbox_url(request, filters, status=status, page=1),
    }
    htmx = request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"
    response = _templates(request).TemplateResponse(
        request, "portal/inbox.html", context, block_name="results" if htmx else None
    )
    response.headers["Vary"] = "HX-Request"
    return response


def _inbox_url(request: Request, filters: inbox_queries.InboxFilters, **overrides: Any) -> str:
    params = filters.query_params(**overrides)
    base = request.url_for("portal:inbox").path
    return base + ("?" + urlencode(params) if params else "")


async def log_sensitive_view(request: Request, item: FeedbackItem) -> None:
    """Record who looked at a confidential or protection item (DESIGN §10)."""
    if not is_sensitive(item):
        return
    actor: Actor = request.state.actor
    async with request.app.state.db.write() as session, session.begin():
        session.add(Event(item_id=item.id, kind="viewed", created_at=utcnow(), actor_user_id=actor.user_id,
                          actor_label=actor.label, public=False, data={"page": request.url.path}))


@staff_only()
async def item_page(request: Request) -> Response:
    """One item: its text, deadlines, timeline, and the actions this person may take."""
    done = request.query_params.get("done", "")
    return await _render_item(request, _item_id(request), notice=done)


async def _render_item(
    request: Request,
    item_id: int,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
    notice: str = "",
) -> Response:
    actor: Actor = request.state.actor
    now = utcnow()
    db = request.app.state.db
    async with db.read() as session:
        item = await item_queries.item_for(session, actor, item_id)
    if item is None:
        raise HTTPException(404)
    if request.method == "GET":
        await log_sensitive_view(request, item)
    async with db.read() as session:
        events = await item_queries.timeline(session, item.id)
        files = await item_queries.attachments(session, item.id)
        actions = workflow.allowed_actions(item, actor)
        partners = await item_queries.referral_partners(session, item.partner_id) if "refer" in actions else []
    if actor.role != "safeguarding_officer":
        events = [e for e in events if e.kind != "viewed"]
    context = {
        "item": item,
        "events": events,
        "attachments": files,
        "actions": actions,
        "partners": partners,
        "error": error,
        "form": form or {},
        "notice": notice if notice in workflow.TABLE or notice in ("note", "observation", "photo") else "",
        "now": now,
        "overdue": item.due_at is not None and item.due_at < now,
        "show_contact": can_work(actor, item) and item.contact_consent,
        "can_note": actor.role in NOTE_ROLES,
        "can_observe": actor.role == "community_monitor",
        "can_photo": actor.role in PHOTO_ROLES and (actor.role == "community_monitor" or can_work(actor, item)),
        "needs_text": {t.action for t in workflow.TRANSITIONS if t.needs_public_text},
        "max_photo_mb": media.MAX_PHOTO_BYTES // (1024 * 1024),
    }
    return _templates(request).TemplateResponse(request, "portal/item.html", context, status_code=status)


@staff_only(*ACTION_ROLES)
async def act(request: Request) -> Response:
    """Take one lifecycle action (acknowledge, start, resolve, refer...) through the workflow."""
    actor: Actor = request.state.actor
    item_id = _item_id(request)
    form = await request.form()
    values = {k: str(form.get(k, "")) for k in ("action", "public_text", "note", "to_partner_id")}
    to_partner = values["to_partner_id"]
    settings = _settings(request)
    try:
        async with request.app.state.db.write() as session, session.begin():
            item = await item_queries.item_for(session, actor, item_id, for_update=True)
            if item is None:
                raise HTTPException(404)
            await workflow.apply(
                session, item, values["action"], actor,
                public_text=values["public_text"], note=values["note"],
                to_partner_id=int(to_partner) if to_partner.isdigit() else None,
                base_url=settings.base_url, weekend=settings.weekend_days,
            )
            still_visible = can_view(actor, item)
    except workflow.TransitionRefused as exc:
        message = gettext(exc.message) % exc.params if exc.params else gettext(exc.message)
        return await _render_item(request, item_id, error=message, form=values,
                                  status=400 if exc.message in INPUT_REFUSALS else 409)
    if not still_visible:
        # Referred away (or re-routed): the item is no longer this person's to see.
        return RedirectResponse(request.url_for("portal:inbox").path + "?referred=1", status_code=303)
    return RedirectResponse(
        request.url_for("portal:item", item_id=item_id).path + f"?done={values['action']}", status_code=303
    )


async def _add_event(request: Request, kind: str, field: str) -> Response:
    actor: Actor = request.state.actor
    item_id = _item_id(request)
    form = await request.form()
    body = nfc(str(form.get(field, "")))
    if not body or len(body) > MAX_NOTE:
        async with request.app.state.db.read() as session:
            if await item_queries.item_for(session, actor, item_id) is None:
                raise HTTPException(404)
        message = gettext(N_("Please write the note (at most 4000 characters)."))
        return await _render_item(request, item_id, error=message, status=400, form={field: body[:MAX_NOTE]})
    async with request.app.state.db.write() as session, session.begin():
        item = await item_queries.item_for(session, actor, item_id)
        if item is None:
            raise HTTPException(404)
        session.add(Event(item_id=item.id, kind=kind, created_at=utcnow(), actor_user_id=actor.user_id,
                          actor_label=actor.label, public=False, body=body))
    notice = "note" if kind == "internal_note" else "observation"
    return RedirectResponse(
        request.url_for("portal:item", item_id=item_id).path + f"?done={notice}#timeline", status_code=303
    )


@staff_only(*NOTE_ROLES)
async def add_note(request: Request) -> Response:
    """An internal note: staff only, never public."""
    return await _add_event(request, "internal_note", "note")


@staff_only("community_monitor")
async def add_observation(request: Request) -> Response:
    """A community monitor's observation about the item (e.g. whether the fix is visible)."""
    return await _add_event(request, "observation", "observation")


@staff_only(*PHOTO_ROLES)
async def add_photo(request: Request) -> Response:
    """Attach a photo as evidence (JPEG, PNG or WebP, checked by its bytes, at most 2 MB)."""
    actor: Actor = request.state.actor
    item_id = _item_id(request)
    async with request.form(max_files=1, max_fields=5, max_part_size=media.MAX_PHOTO_BYTES + 1024) as form:
        upload = form.get("photo")
        data = await upload.read(media.MAX_PHOTO_BYTES + 1) if isinstance(upload, UploadFile) else b""
    async with request.app.state.db.read() as session:
        item = await item_queries.item_for(session, actor, item_id)
    if item is None:
        raise HTTPException(404)
    if actor.role != "community_monitor" and not can_work(actor, item):
        message = gettext(N_("This item is not assigned to your organisation."))
        return await _render_item(request, item_id, error=message, status=403)
    try:
        if not data:
            raise media.MediaRefused(N_("Choose a photo to attach."))
        photo = media.photo(data)
    except media.MediaRefused as exc:
        return await _render_item(request, item_id, error=gettext(exc.message), status=400)
    async with request.app.state.db.write() as session, session.begin():
        now = utcnow()
        attachment = Attachment(item_id=item_id, kind="photo", content_type=photo.content_type, size=len(data),
                                sha256=photo.sha256, content=data, uploaded_by=actor.user_id, created_at=now)
        session.add(attachment)
        await session.flush()
        session.add(Event(item_id=item_id, kind="attachment_added", created_at=now, actor_user_id=actor.user_id,
                          actor_label=actor.label, public=False,
                          data={"attachment_id": attachment.id, "kind": "photo"}))
    return RedirectResponse(
        request.url_for("portal:item", item_id=item_id).path + "?done=photo", status_code=303
    )


@staff_only()
async def attachment(request: Request) -> Response:
    """The bytes of a voice note or photo, for staff who may read the item; never cached."""
    actor: Actor = request.state.actor
    async with request.app.state.db.read() as session:
        found = await item_queries.attachment_for(
            session, actor, _item_id(request), int(request.path_params["attachment_id"])
        )
    if found is None:
        raise HTTPException(404)
    return Response(
        found.content,
        media_type=found.content_type,
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'inline; filename="{found.kind}-{found.id}"',
        },
    )


@staff_only("admin")
async def audit(request: Request) -> Response:
    """Read-only log of every staff action on items, by user and date."""
    params = request.query_params
    user_id = inbox_queries.parse_int(params.get("user"))
    date_from = inbox_queries.parse_date(params.get("from"))
    date_to = inbox_queries.parse_date(params.get("to"))
    page = inbox_queries.parse_int(params.get("page")) or 1
    async with request.app.state.db.read() as session:
        result = await audit_queries.staff_events(
            session, user_id=user_id, date_from=date_from, date_to=date_to, page=page
        )
        users = await audit_queries.staff_users(session)

    def page_url(n: int) -> str:
        query = {"user": str(user_id or ""), "from": _iso(date_from), "to": _iso(date_to), "page": str(n)}
        return request.url_for("portal:audit").path + "?" + urlencode({k: v for k, v in query.items() if v})

    return _templates(request).TemplateResponse(
        request, "portal/audit.html",
        {"result": result, "users": users, "user_id": user_id, "date_from": _iso(date_from),
         "date_to": _iso(date_to), "page_url": page_url},
    )


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


routes = [
    Route("/", inbox, name="inbox", methods=["GET"]),
    Route("/items/{item_id:int}", item_page, name="item", methods=["GET"]),
    Route("/items/{item_id:int}/actions", act, name="act", methods=["POST"]),
    Route("/items/{item_id:int}/notes", add_note, name="note", methods=["POST"]),
    Route("/items/{item_id:int}/observations", add_observation, name="observation", methods=["POST"]),
    Route("/items/{item_id:int}/photos", add_photo, name="photo", methods=["POST"]),
    Route("/items/{item_id:int}/attachments/{attachment_id:int}", attachment, name="attachment", methods=["GET"]),
    Route("/audit", audit, name="audit", methods=["GET"]),
]
