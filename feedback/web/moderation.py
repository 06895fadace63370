"""Moderation (issue 6 §5): the review queue and the moderation page of one item.

The moderator sees the original text with personal data highlighted (cut into segments in
Python, marked up by the template: user text is never trusted as HTML), writes the public
summary, sets sensitivity and criticality, transcribes voice notes and publishes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from feedback.domain import moderation
from feedback.domain.access import Actor, can_view
from feedback.i18n import gettext
from feedback.models.items import CRITICALITIES
from feedback.models.taxonomy import SENSITIVITIES
from feedback.queries import inbox as inbox_queries
from feedback.queries import items as item_queries
from feedback.web.portal import log_sensitive_view
from feedback.web.staff import staff_only

ROLES = moderation.MODERATING_ROLES


def _names(request: Request) -> tuple[str, ...]:
    return tuple(getattr(request.app.state.settings, "redact_names", ()))


@staff_only(*ROLES)
async def queue(request: Request) -> Response:
    """Items waiting for review, oldest first (or the published ones, to take one down)."""
    actor: Actor = request.state.actor
    view = "published" if request.query_params.get("view") == "published" else "waiting"
    page = inbox_queries.parse_int(request.query_params.get("page")) or 1
    async with request.app.state.db.read() as session:
        rows, total, page, pages = await inbox_queries.moderation_queue(session, actor, view=view, page=page)
    base = request.url_for("moderation:queue").path

    def page_url(n: int) -> str:
        return base + "?" + urlencode({"view": view, "page": n})

    return request.app.state.templates.TemplateResponse(
        request, "moderation/queue.html",
        {"items": rows, "total": total, "page": page, "pages": pages, "view": view, "page_url": page_url,
         "notice": request.query_params.get("notice", "")},
    )


@staff_only(*ROLES)
async def item_page(request: Request) -> Response:
    """The moderation form of one item."""
    return await _render(request, int(request.path_params["item_id"]),
                         notice=request.query_params.get("done", ""))


async def _render(
    request: Request, item_id: int, *, error: str | None = None, status: int = 200,
    form: dict[str, Any] | None = None, notice: str = "",
) -> Response:
    actor: Actor = request.state.actor
    names = _names(request)
    async with request.app.state.db.read() as session:
        item = await item_queries.item_for(session, actor, item_id)
        if item is None:
            raise HTTPException(404)
        files = await item_queries.attachments(session, item.id)
    if request.method == "GET":
        await log_sensitive_view(request, item)
    summary = form["public_summary"] if form else moderation.suggested_summary(item, names)
    summary_spans = moderation.find_personal_data(summary, names)
    context = {
        "item": item,
        "attachments": files,
        "text_segments": moderation.segments(item.text, moderation.find_personal_data(item.text, names)),
        "transcript_segments": moderation.segments(
            item.transcript, moderation.find_personal_data(item.transcript, names)
        ),
        "summary": summary,
        "summary_segments": moderation.segments(summary, summary_spans),
        "summary_kinds": sorted({s.kind for s in summary_spans}),
        "form": form or {},
        "error": error,
        "notice": notice if notice in ("saved", "published", "unpublished") else "",
        "sensitivities": SENSITIVITIES,
        "criticalities": CRITICALITIES,
    }
    return request.app.state.templates.TemplateResponse(request, "moderation/item.html", context, status_code=status)


@staff_only(*ROLES)
async def save(request: Request) -> Response:
    """Save the review; with "publish", also publish, all in one transaction or not at all."""
    actor: Actor = request.state.actor
    item_id = int(request.path_params["item_id"])
    raw = await request.form()
    form = {k: str(raw.get(k, "")) for k in
            ("public_summary", "sensitivity", "criticality", "transcript", "translation", "intent")}
    form["override"] = raw.get("override") == "1"
    settings = request.app.state.settings
    changes = moderation.Changes(
        public_summary=form["public_summary"],
        sensitivity=form["sensitivity"] or None,
        criticality=form["criticality"] or None,
        transcript=form["transcript"] if "transcript" in raw else None,
        translation=form["translation"] if "translation" in raw else None,
    )
    try:
        async with request.app.state.db.write() as session, session.begin():
            item = await item_queries.item_for(session, actor, item_id, for_update=True)
            if item is None:
                raise HTTPException(404)
            await moderation.moderate(session, item, actor, changes, base_url=settings.base_url,
                                      weekend=settings.weekend_days)
            if form["intent"] == "publish":
                await moderation.publish(session, item, actor, override=bool(form["override"]),
                                         names=_names(request))
            still_visible = can_view(actor, item)
    except moderation.ModerationRefused as exc:
        message = gettext(exc.message) % exc.params if exc.params else gettext(exc.message)
        return await _render(request, item_id, error=message, status=409, form=form)
    if not still_visible:
        # Raised to S2/S3: it now belongs to the safeguarding officer alone.
        return RedirectResponse(request.url_for("moderation:queue").path + "?notice=safeguarding", status_code=303)
    done = "published" if form["intent"] == "publish" else "saved"
    return RedirectResponse(
        request.url_for("moderation:item", item_id=item_id).path + f"?done={done}", status_code=303
    )


@staff_only(*ROLES)
async def unpublish(request: Request) -> Response:
    """Take an item off the public pages (with an internal reason)."""
    actor: Actor = request.state.actor
    item_id = int(request.path_params["item_id"])
    raw = await request.form()
    try:
        async with request.app.state.db.write() as session, session.begin():
            item = await item_queries.item_for(session, actor, item_id, for_update=True)
            if item is None:
                raise HTTPException(404)
            await moderation.unpublish(session, item, actor, reason=str(raw.get("reason", "")))
    except moderation.ModerationRefused as exc:
        return await _render(request, item_id, error=gettext(exc.message), status=409)
    return RedirectResponse(
        request.url_for("moderation:item", item_id=item_id).path + "?done=unpublished", status_code=303
    )


routes = [
    Route("/", queue, name="queue", methods=["GET"]),
    Route("/items/{item_id:int}", item_page, name="item", methods=["GET"]),
    Route("/items/{item_id:int}", save, name="save", methods=["POST"]),
    Route("/items/{item_id:int}/unpublish", unpublish, name="unpublish", methods=["POST"]),
]
