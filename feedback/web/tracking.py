"""Tracking by code (DESIGN §6): status, public timeline and responses; confirm, dispute, rate.

The page shows only what ``queries.tracking`` hands it (never the original text, contact or
voice note). Looking codes up is rate-limited per client, so codes cannot be guessed in bulk.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from feedback import codes
from feedback.domain import tracking as actions
from feedback.i18n import N_, gettext
from feedback.models import utcnow
from feedback.queries import tracking as q
from feedback.web.board import STATUS_LABELS, TYPE_LABELS
from feedback.web.ratelimit import client_address

DONE_MESSAGES = {
    "confirm": N_("Thank you: you confirmed the resolution."),
    "dispute": N_("Thank you: the item is reopened and the partner must answer again."),
    "rate": N_("Thank you for rating the response."),
}
EVENT_LABELS = {
    "submitted": N_("Feedback received"),
    "routed": N_("Sent to the partner responsible"),
    "acknowledged": N_("Acknowledged by the partner"),
    "status_changed": N_("Status changed"),
    "public_response": N_("Response from the partner"),
    "referred": N_("Referred to another partner"),
    "escalated": N_("Overdue: escalated to the next level"),
    "published": N_("Summary published on the results page"),
    "confirmed": N_("Resolution confirmed"),
    "disputed": N_("Resolution disputed: reopened"),
    "rated": N_("Response rated"),
}
FACES = ((3, "face_happy", N_("Happy")), (2, "face_neutral", N_("So-so")), (1, "face_sad", N_("Unhappy")))


def code_problem(raw: str) -> str | None:
    """Why a typed code cannot be right (a gettext msgid), or None when it is well formed."""
    code = codes.normalise(raw)
    if not code:
        return N_("Please type the tracking code from your receipt.")
    if len(code) != codes.BODY_LENGTH + 1:
        return N_("A tracking code has 9 characters (for example K7M-4PX-2RC). Please check your receipt.")
    if any(c not in codes.ALPHABET for c in code):
        return N_("This code contains a character that tracking codes never use. Please check your receipt.")
    if not codes.is_valid(code):
        return N_("This code has a typo: one character is wrong or two are swapped. Please check each character.")
    return None


def _limit(request: Request) -> None:
    settings = request.app.state.settings
    if not request.app.state.rate_limiter.hit(f"track:{client_address(request)}", settings.rate_limit_track_per_minute):
        raise HTTPException(429)


def _form(request: Request, *, code: str = "", error: str | None = None, status: int = 200) -> Response:
    response = request.app.state.templates.TemplateResponse(
        request, "track/form.html", {"code": code, "error": gettext(error) if error else None}, status_code=status
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def form(request: Request) -> Response:
    """Enter a code; ``?code=`` checks it and goes to its page."""
    raw = request.query_params.get("code")
    if raw is None:
        return _form(request)
    raw = raw[:40]
    problem = code_problem(raw)
    if problem:
        return _form(request, code=raw, error=problem, status=400)
    _limit(request)
    code = codes.normalise(raw)
    async with request.app.state.db.read() as session:
        item = await q.item_by_code(session, code)
    if item is None:
        return _form(request, code=raw, error=N_("We found no feedback with this code. Please check it: it is on your receipt or in the SMS you received."), status=404)
    return RedirectResponse(request.url_for("track:item", code=code).path, status_code=303)


async def _load(request: Request, session) -> tuple[str, object]:  # type: ignore[no-untyped-def]
    raw = request.path_params["code"][:40]
    problem = code_problem(raw)
    if problem:
        raise HTTPException(404, gettext(problem))
    code = codes.normalise(raw)
    item = await q.item_by_code(session, code)
    if item is None:
        raise HTTPException(404, gettext("We found no feedback with this code."))
    return code, item


async def item(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    """The tracking page of one item."""
    _limit(request)
    async with request.app.state.db.read() as session:
        code, found = await _load(request, session)
        if request.path_params["code"] != code:
            # One address per item: K7M-4px-2rc → K7M4PX2RC.
            return RedirectResponse(request.url_for("track:item", code=code).path, status_code=301)
        view = await q.tracked(session, found)  # type: ignore[arg-type]
        available = await actions.available_actions(session, found)  # type: ignore[arg-type]
    done = request.query_params.get("done")
    context = {
        "item": view,
        "available": available,
        "now": utcnow(),
        "done": gettext(DONE_MESSAGES[done]) if done in DONE_MESSAGES else None,
        "error": gettext(error) if error else None,
        "STATUS_LABELS": STATUS_LABELS,
        "TYPE_LABELS": TYPE_LABELS,
        "EVENT_LABELS": EVENT_LABELS,
        "FACES": FACES,
        "max_reason": actions.MAX_REASON,
    }
    response = request.app.state.templates.TemplateResponse(request, "track/item.html", context, status_code=status)
    # The code is the key to this page: keep it out of shared caches.
    response.headers["Cache-Control"] = "no-store"
    return response


async def _act(request: Request, action: str) -> Response:
    _limit(request)
    settings = request.app.state.settings
    form_data = await request.form()
    rating = 0
    if action == "rate":
        try:
            rating = actions.parse_rating(str(form_data.get("satisfaction", "")))
        except actions.ActionRefused as exc:
            return await item(request, error=exc.message, status=400)
    try:
        async with request.app.state.db.write() as session, session.begin():
            code, found = await _load(request, session)
            if action == "confirm":
                await actions.confirm(session, found, base_url=settings.base_url, weekend=settings.weekend_days)  # type: ignore[arg-type]
            elif action == "dispute":
                reason = str(form_data.get("reason", ""))
                await actions.dispute(session, found, reason, base_url=settings.base_url,  # type: ignore[arg-type]
                                      weekend=settings.weekend_days)
            else:
                await actions.rate(session, found, rating)  # type: ignore[arg-type]
    except actions.ActionRefused as exc:
        return await item(request, error=exc.message, status=409)
    target = request.url_for("track:item", code=code).path + f"?done={action}"
    return RedirectResponse(target, status_code=303)


async def confirm(request: Request) -> Response:
    """The submitter confirms the partner's resolution (the item becomes verified)."""
    return await _act(request, "confirm")


async def dispute(request: Request) -> Response:
    """The submitter disputes the resolution (the item is reopened), with an optional reason."""
    return await _act(request, "dispute")


async def rate(request: Request) -> Response:
    """The submitter rates the response with one of three faces."""
    return await _act(request, "rate")


routes = [
    Route("/", form, name="form", methods=["GET"]),
    Route("/{code}", item, name="item", methods=["GET"]),
    Route("/{code}/confirm", confirm, name="confirm", methods=["POST"]),
    Route("/{code}/dispute", dispute, name="dispute", methods=["POST"]),
    Route("/{code}/rate", rate, name="rate", methods=["POST"]),
]
