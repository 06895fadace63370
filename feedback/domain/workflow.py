"""The lifecycle (DESIGN §4): one table of allowed transitions, used by every code path.

UI, API, SMS and the worker all call ``apply``; it checks the table, changes the item, writes
the events, updates deadlines and board aggregates, and queues notifications, all in the
caller's transaction. A refused transition raises ``TransitionRefused`` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from feedback.domain import deadlines, notify, stats
from feedback.domain.access import WORKING_ROLES, Actor, can_view, can_work
from feedback.i18n import N_
from feedback.models import Event, FeedbackItem, Partner, utcnow
from feedback.text import fold, nfc

OPEN = ("received", "acknowledged", "in_progress", "referred", "reopened")
# Compliments and questions have a lighter flow: an answer closes them.
LIGHT_TYPES = ("compliment", "question")
MAX_PUBLIC_TEXT = 4000


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...]
    needs_public_text: bool = False
    needs_partner: bool = False


STAFF = WORKING_ROLES
TRANSITIONS: tuple[Transition, ...] = (
    Transition("acknowledge", ("received", "referred", "reopened"), "acknowledged", STAFF),
    Transition("start", ("received", "acknowledged", "referred", "reopened"), "in_progress", STAFF),
    Transition("resolve", ("received", "acknowledged", "in_progress", "referred", "reopened"), "resolved",
               STAFF, needs_public_text=True),
    Transition("not_actionable", OPEN, "not_actionable", STAFF, needs_public_text=True),
    Transition("refer", OPEN, "referred", STAFF, needs_partner=True),
    Transition("confirm", ("resolved",), "closed", ("submitter", "community_monitor")),
    Transition("dispute", ("resolved", "not_actionable"), "reopened", ("submitter", "community_monitor")),
    Transition("auto_close", ("resolved",), "closed", ("system",)),
    Transition("reopen", ("closed", "not_actionable"), "reopened", ("safeguarding_officer", "admin")),
)
TABLE: dict[str, Transition] = {t.action: t for t in TRANSITIONS}

ACTION_LABELS = {
    "acknowledge": N_("Acknowledge"),
    "start": N_("Start work"),
    "resolve": N_("Resolve"),
    "not_actionable": N_("Not actionable"),
    "refer": N_("Refer to another partner"),
    "confirm": N_("Confirm the resolution"),
    "dispute": N_("Dispute the resolution"),
    "auto_close": N_("Close without confirmation"),
    "reopen": N_("Reopen"),
}


class TransitionRefused(Exception):
    """An action that the table or the rules do not allow; ``message`` is a gettext msgid."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


def allowed_actions(item: FeedbackItem, actor: Actor) -> list[str]:
    """The actions this actor may take on this item now (for the buttons on the page)."""
    result = []
    for t in TRANSITIONS:
        try:
            check(item, t.action, actor)
        except TransitionRefused:
            continue
        result.append(t.action)
    return result


def check(item: FeedbackItem, action: str, actor: Actor) -> Transition:
    """The transition for ``action``, or ``TransitionRefused`` with the reason."""
    transition = TABLE.get(action)
    if transition is None:
        raise TransitionRefused(N_("Unknown action."))
    if actor.transition_role not in transition.roles:
        raise TransitionRefused(N_("Your role may not do this."))
    if actor.kind == "user" and actor.role in STAFF and not can_work(actor, item):
        raise TransitionRefused(N_("This item is not assigned to your organisation."))
    if actor.kind == "user" and not can_view(actor, item):
        # A community monitor verifies only the items of the sites they watch.
        raise TransitionRefused(N_("This item is not assigned to your organisation."))
    if item.status not in transition.sources:
        raise TransitionRefused(N_("This cannot be done while the item is “%(status)s”."),
                                status=item.status)
    return transition


def _event(item: FeedbackItem, kind: str, actor: Actor, now: datetime, **fields: Any) -> Event:
    return Event(
        item_id=item.id,
        kind=kind,
        created_at=now,
        actor_user_id=actor.user_id,
        actor_label=actor.label or actor.kind,
        **fields,
    )


async def apply(
    session: AsyncSession,
    item: FeedbackItem,
    action: str,
    actor: Actor,
    *,
    public_text: str | None = None,
    note: str | None = None,
    to_partner_id: int | None = None,
    calendar: deadlines.Calendar | None = None,
    base_url: str = "",
    weekend: tuple[int, ...] = (5, 6),
    now: datetime | None = None,
) -> FeedbackItem:
    """Carry out one lifecycle action (see the module docstring)."""
    transition = check(item, action, actor)
    now = now or utcnow()
    public_text = nfc(public_text)
    note = nfc(note)
    if transition.needs_public_text and not public_text:
        raise TransitionRefused(N_("Please write a public response: the community will read it."))
    if len(public_text) > MAX_PUBLIC_TEXT:
        raise TransitionRefused(N_("The public response is too long (at most 4000 characters)."))
    target_partner: Partner | None = None
    if transition.needs_partner:
        target_partner = await session.get(Partner, to_partner_id) if to_partner_id else None
        if target_partner is None:
            raise TransitionRefused(N_("Choose the partner to refer this item to."))
        if target_partner.id == item.partner_id:
            raise TransitionRefused(N_("The item is already with this partner."))
        if item.sensitivity == "S3" and target_partner.site_id is not None and target_partner.site_id == item.site_id:
            # DESIGN §3: a protection report never goes to the facility concerned.
            raise TransitionRefused(N_("A protection report cannot be referred to the facility concerned."))

    before = stats.snapshot(item)
    source = item.status
    target = transition.target
    if action == "resolve" and item.feedback_type in LIGHT_TYPES:
        target = "closed"
    item.status = target
    item.updated_at = now
    events: list[Event] = []

    if action in ("acknowledge", "start") and item.acknowledged_at is None:
        item.acknowledged_at = now
        item.acknowledged_on_time = item.acknowledge_by is None or now <= item.acknowledge_by
    if action in ("resolve", "not_actionable"):
        if item.acknowledged_at is None:
            item.acknowledged_at = now
            item.acknowledged_on_time = item.acknowledge_by is None or now <= item.acknowledge_by
        if action == "resolve":
            item.resolved_at = now
            item.resolved_on_time = item.resolve_by is None or now <= item.resolve_by
        item.public_response = public_text
        item.search_text = _search_text(item)
    if target == "closed":
        item.closed_at = now
    if action == "confirm":
        item.verification = "verified"
        item.verified_at = now
    elif action == "auto_close":
        item.verification = "unconfirmed"
    elif action == "dispute":
        item.verification = "disputed"
        item.closed_at = None
    if action in ("dispute", "reopen"):
        item.closed_at = None
        # Back to work: the earlier resolution no longer counts as one (nor as verified).
        item.resolved_at = None
        item.resolved_on_time = None
        if action == "reopen":
            item.verification = None
            item.verified_at = None
        # Back to work: a fresh answer deadline from now.
        calendar = calendar or await deadlines.load_calendar(session, weekend)
        deadlines.set_deadlines(item, calendar, now)
        item.escalated_for = None
    if action == "refer":
        assert target_partner is not None
        events.append(_event(item, "referred", actor, now, partner_id=target_partner.id, public=True,
                             from_status=source, to_status=target,
                             data={"from_partner_id": item.partner_id}))
        item.partner_id = target_partner.id
        item.escalation_level = 0
        item.escalated_to_partner_id = None
        item.escalated_for = None
        calendar = calendar or await deadlines.load_calendar(session, weekend)
        # The new partner receives it as new: fresh deadlines from now.
        deadlines.set_deadlines(item, calendar, now)
        await notify.notify_assignment(session, item, target_partner.id, base_url, purpose="referred")
    deadlines.update_due(item)

    kind = {"acknowledge": "acknowledged", "confirm": "confirmed", "dispute": "disputed"}.get(action)
    if action != "refer":
        events.append(_event(item, kind or "status_changed", actor, now, public=True,
                             from_status=source, to_status=target,
                             data={"action": action}))
    if public_text and transition.needs_public_text:
        events.append(_event(item, "public_response", actor, now, public=True, body=public_text,
                             partner_id=item.partner_id))
    if note:
        # Internal notes (and a submitter's dispute reason, unreviewed) are never public.
        events.append(_event(item, "internal_note", actor, now, public=False, body=note))
    session.add_all(events)
    await stats.record(session, before, item)
    if target in ("acknowledged", "resolved", "closed", "not_actionable", "reopened") and action != "confirm":
        notify.notify_submitter(session, item, base_url)
    return item


def _search_text(item: FeedbackItem) -> str:
    parts = [item.text, item.public_summary, item.transcript, item.translation, item.public_response]
    return fold(" ".join(p for p in parts if p))
