"""Routing (DESIGN §2): which partner answers an item.

Precedence, most specific first: (site, topic) → (any site, topic) → (site, any topic) →
(any, any) → the platform default partner. A topic rule says who is responsible for a kind of
problem everywhere; a site rule says who answers by default at that place. S2 and S3 items go
to the safeguarding focal point whatever the rules say.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.models import FeedbackItem, Partner, RoutingRule
from feedback.models.items import AnyItem

SENSITIVE = ("S2", "S3")


class RoutingError(Exception):
    """No partner could be found: the platform has no default partner."""


def rank(rule: RoutingRule) -> int:
    return (2 if rule.topic_id is not None else 0) + (1 if rule.site_id is not None else 0)


def pick_rule(rules: Iterable[RoutingRule], site_id: int, topic_id: int) -> RoutingRule | None:
    """The most specific matching rule, or None."""
    matching = [
        r for r in rules if r.site_id in (None, site_id) and r.topic_id in (None, topic_id)
    ]
    return max(matching, key=rank, default=None)


def reason_for(item: AnyItem) -> str:
    """Why the item went where it went, as its routed event says."""
    return "sensitive" if item.sensitivity in SENSITIVE else "rule"


def choose(
    item: AnyItem,
    rules: Iterable[RoutingRule],
    *,
    default_partner_id: int | None,
    safeguarding_partner_id: int | None,
) -> tuple[int, int | None, str]:
    """(partner, shared partner, reason) for an item, from the rules and the special partners."""
    rules = tuple(rules)
    rule = pick_rule(rules, item.site_id, item.topic_id)
    by_rule = rule.partner_id if rule is not None else default_partner_id
    if item.sensitivity in SENSITIVE:
        if safeguarding_partner_id is None:
            raise RoutingError("no safeguarding partner is configured")
        # Managers of the partner concerned may read S2; S3 never reaches the facility.
        return safeguarding_partner_id, by_rule if item.sensitivity == "S2" else None, reason_for(item)
    if by_rule is None:
        raise RoutingError("no routing rule matches and no default partner is configured")
    return by_rule, None, reason_for(item)


async def route(session: AsyncSession, item: FeedbackItem) -> tuple[int, str]:
    """Choose the item's partner; returns (partner id, reason for the routed event)."""
    rules = (
        await session.scalars(
            select(RoutingRule).where(
                or_(RoutingRule.site_id == item.site_id, RoutingRule.site_id.is_(None)),
                or_(RoutingRule.topic_id == item.topic_id, RoutingRule.topic_id.is_(None)),
            )
        )
    ).all()
    default = await session.scalar(select(Partner.id).where(Partner.is_default).order_by(Partner.id).limit(1))
    safeguarding = await session.scalar(
        select(Partner.id).where(Partner.is_safeguarding).order_by(Partner.id).limit(1)
    )
    partner_id, item.shared_partner_id, reason = choose(
        item, rules, default_partner_id=default, safeguarding_partner_id=safeguarding
    )
    return partner_id, reason
