"""Who may see and work which item (DESIGN §5), decided here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from feedback.models import FeedbackItem, User, UserSite

STAFF_ROLES = (
    "partner_agent",
    "partner_manager",
    "moderator",
    "community_monitor",
    "safeguarding_officer",
    "admin",
)
# Roles that work items through the lifecycle (acknowledge, resolve, refer...).
WORKING_ROLES = ("partner_agent", "partner_manager", "safeguarding_officer", "admin")


@dataclass(frozen=True)
class Actor:
    """Whoever causes a change: a staff user, the submitter (by code), the community or the system."""

    kind: str  # "user", "submitter", "community", "system", "api"
    role: str | None = None
    user_id: int | None = None
    partner_id: int | None = None
    label: str | None = None
    site_ids: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def for_user(cls, user: User, site_ids: frozenset[int] = frozenset()) -> Actor:
        return cls("user", user.role, user.id, user.partner_id, user.login, site_ids)

    @property
    def transition_role(self) -> str:
        """The name this actor has in the transition table."""
        return self.role if self.kind == "user" and self.role else self.kind


SUBMITTER = Actor("submitter", label="submitter")
SYSTEM = Actor("system", label="system")


def visibility(actor: Actor) -> ColumnElement[bool]:
    """SQL condition for the items an actor may read (use in every staff query)."""
    item = FeedbackItem
    role = actor.role
    if actor.kind != "user":
        return false()
    if role == "safeguarding_officer":
        return true()
    if role == "partner_agent":
        return and_(item.partner_id == actor.partner_id, item.sensitivity.in_(("S0", "S1")))
    if role == "partner_manager":
        return or_(
            and_(item.partner_id == actor.partner_id, item.sensitivity.in_(("S0", "S1", "S2"))),
            and_(item.shared_partner_id == actor.partner_id, item.sensitivity == "S2"),
            # Escalated to this partner: its managers follow the item up (never S2/S3).
            and_(item.escalated_to_partner_id == actor.partner_id, item.sensitivity.in_(("S0", "S1"))),
        )
    if role in ("moderator", "admin"):
        return item.sensitivity.in_(("S0", "S1"))
    if role == "community_monitor":
        return and_(item.site_id.in_(sorted(actor.site_ids)), item.sensitivity.in_(("S0", "S1")))
    return false()


def can_view(actor: Actor, item: FeedbackItem) -> bool:
    """The same rule as ``visibility``, for one loaded item."""
    role = actor.role
    if actor.kind != "user":
        return False
    if role == "safeguarding_officer":
        return True
    if role == "partner_agent":
        return item.partner_id == actor.partner_id and item.sensitivity in ("S0", "S1")
    if role == "partner_manager":
        own = item.partner_id == actor.partner_id and item.sensitivity in ("S0", "S1", "S2")
        shared = item.shared_partner_id == actor.partner_id and item.sensitivity == "S2"
        escalated = item.escalated_to_partner_id == actor.partner_id and item.sensitivity in ("S0", "S1")
        return own or shared or escalated
    if role in ("moderator", "admin"):
        return item.sensitivity in ("S0", "S1")
    if role == "community_monitor":
        return item.site_id in actor.site_ids and item.sensitivity in ("S0", "S1")
    return False


def can_work(actor: Actor, item: FeedbackItem) -> bool:
    """Whether an actor may move this item through its lifecycle (besides the table's roles)."""
    if not can_view(actor, item) or actor.role not in WORKING_ROLES:
        return False
    if actor.role == "partner_manager":
        return actor.partner_id in (item.partner_id, item.escalated_to_partner_id)
    if actor.role == "partner_agent":
        return item.partner_id == actor.partner_id
    return True


def is_sensitive(item: FeedbackItem) -> bool:
    return item.sensitivity in ("S2", "S3")


async def monitor_sites(session, user_id: int) -> frozenset[int]:  # type: ignore[no-untyped-def]
    """The sites a community monitor watches."""
    rows = await session.scalars(select(UserSite.site_id).where(UserSite.user_id == user_id))
    return frozenset(rows.all())
