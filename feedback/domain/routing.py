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


async def rule_partner_id(session: AsyncSession, site_id: int, topic_id: int) -> int:
    """The partner the rules choose for a site and topic (the default partner otherwise)."""
    rules = (
        await session.scalars(
            select(RoutingRule).where(
                or_(RoutingRule.site_id == site_id, RoutingRule.site_id.is_(None)),
                or_(RoutingRule.topic_id == topic_id, RoutingRule.topic_id.is_(None)),
            )
        )
    ).all()
    rule = pick_rule(rules, site_id, topic_id)
    if rule is not None:
        return rule.partner_id
    default = await session.scalar(select(Partner.id).where(Partner.is_default).order_by(Partner.id).limit(1))
    if default is None:
        raise RoutingError("no routing rule matches and no default partner is configured")
    return default


async def safeguarding_partner_id(session: AsyncSession) -> int:
    partner = await session.scalar(
        select(Partner.id).where(Partner.is_safeguarding).order_by(Partner.id).limit(1)
    )
    if partner is None:
        raise RoutingError("no safeguarding partner is configured")
    return partner


async def route(session: AsyncSession, item: FeedbackItem) -> tuple[int, str]:
    """Choose the item's partner; returns (partner id, reason for the routed event)."""
    if item.sensitivity in SENSITIVE:
        partner_id = await safeguarding_partner_id(session)
        if item.sensitivity == "S2":
            # Managers of the partner concerned may read S2; S3 never reaches the facility.
            item.shared_partner_id = await rule_partner_id(session, item.site_id, item.topic_id)
        else:
            item.shared_partner_id = None
        return partner_id, "sensitive"
    item.shared_partner_id = None
    return await rule_partner_id(session, item.site_id, item.topic_id), "rule"
