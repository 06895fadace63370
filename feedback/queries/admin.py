"""Reading configuration for the admin pages (never item content)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload, undefer

from feedback.models import (
    AdminLog,
    ApiKey,
    Area,
    DeadlineRule,
    Dhis2Mapping,
    Holiday,
    Partner,
    RoutingRule,
    Site,
    Topic,
    TopicCode,
    User,
    VoicePrompt,
)


async def counts(session: AsyncSession) -> dict[str, int]:
    """How many records each section of the admin holds (for the index page)."""
    result = {}
    for key, model in (
        ("areas", Area), ("sites", Site), ("partners", Partner), ("users", User), ("topics", Topic),
        ("routing_rules", RoutingRule), ("deadline_rules", DeadlineRule), ("holidays", Holiday),
        ("voice_prompts", VoicePrompt), ("dhis2_mappings", Dhis2Mapping), ("api_keys", ApiKey),
    ):
        result[key] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    return result


async def areas(session: AsyncSession) -> Sequence[Area]:
    return (await session.scalars(select(Area).options(selectinload(Area.parent)).order_by(Area.code))).all()


async def sites(session: AsyncSession) -> Sequence[Site]:
    return (await session.scalars(select(Site).options(selectinload(Site.area)).order_by(Site.code))).all()


async def partners(session: AsyncSession) -> Sequence[Partner]:
    return (
        await session.scalars(
            select(Partner).options(selectinload(Partner.escalation_partner)).order_by(Partner.name)
        )
    ).all()


async def users(session: AsyncSession) -> Sequence[User]:
    return (
        await session.scalars(
            select(User).options(selectinload(User.partner)).order_by(User.active.desc(), User.login)
        )
    ).all()


@dataclass(frozen=True)
class TopicRow:
    topic: Topic
    codes: Sequence[TopicCode]


async def topics(session: AsyncSession) -> list[TopicRow]:
    all_topics = (await session.scalars(select(Topic).order_by(Topic.position, Topic.id))).all()
    all_codes = (await session.scalars(select(TopicCode).order_by(TopicCode.slug))).all()
    by_topic: dict[int, list[TopicCode]] = {}
    for code in all_codes:
        by_topic.setdefault(code.topic_id, []).append(code)
    return [TopicRow(t, by_topic.get(t.id, [])) for t in all_topics]


@dataclass(frozen=True)
class RuleRow:
    id: int
    site: str | None
    topic: str | None
    partner: str | None
    extra: dict[str, Any]


async def routing_rules(session: AsyncSession) -> list[RuleRow]:
    query = (
        select(RoutingRule.id, Site.code, Topic.slug, Partner.name)
        .join(Site, RoutingRule.site_id == Site.id, isouter=True)
        .join(Topic, RoutingRule.topic_id == Topic.id, isouter=True)
        .join(Partner, RoutingRule.partner_id == Partner.id)
        .order_by(Site.code.is_(None), Site.code, Topic.slug.is_(None), Topic.slug)
    )
    return [RuleRow(i, s, t, p, {}) for i, s, t, p in (await session.execute(query)).all()]


async def deadline_rules(session: AsyncSession) -> list[RuleRow]:
    query = (
        select(DeadlineRule, Topic.slug)
        .join(Topic, DeadlineRule.topic_id == Topic.id, isouter=True)
        .order_by(Topic.slug.is_(None), Topic.slug, DeadlineRule.feedback_type)
    )
    return [
        RuleRow(rule.id, None, slug, None, {"feedback_type": rule.feedback_type,
                                              "acknowledge_working_days": rule.acknowledge_working_days,
                                              "resolve_days": rule.resolve_days})
        for rule, slug in (await session.execute(query)).all()
    ]


async def holidays(session: AsyncSession) -> Sequence[Holiday]:
    return (await session.scalars(select(Holiday).order_by(Holiday.day))).all()


async def dhis2_mappings(session: AsyncSession) -> Sequence[Dhis2Mapping]:
    return (await session.scalars(select(Dhis2Mapping).order_by(Dhis2Mapping.indicator))).all()


async def voice_prompts(session: AsyncSession) -> dict[tuple[str, str], VoicePrompt]:
    """The recordings by (screen, locale), without their bytes."""
    rows = (await session.scalars(select(VoicePrompt))).all()
    return {(p.screen, p.locale): p for p in rows}


async def voice_prompt_audio(session: AsyncSession, screen: str, locale: str) -> VoicePrompt | None:
    return await session.scalar(
        select(VoicePrompt)
        .options(undefer(VoicePrompt.content))
        .where(VoicePrompt.screen == screen, VoicePrompt.locale == locale)
    )


async def api_keys(session: AsyncSession) -> list[tuple[ApiKey, str | None]]:
    query = (
        select(ApiKey, Partner.name)
        .join(Partner, ApiKey.partner_id == Partner.id, isouter=True)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
    )
    return list((await session.execute(query)).all())


@dataclass(frozen=True)
class LogPage:
    entries: Sequence[AdminLog]
    page: int
    has_next: bool


async def admin_log(session: AsyncSession, *, login: str | None = None, since: date | None = None,
                    until: date | None = None, page: int = 1, per_page: int = 50) -> LogPage:
    """The admin log, newest first, filtered by who and by date (inclusive, UTC days)."""
    query = select(AdminLog)
    if login:
        query = query.where(AdminLog.actor_label == login)
    if since:
        query = query.where(AdminLog.created_at >= datetime.combine(since, time.min, UTC))
    if until:
        query = query.where(AdminLog.created_at < datetime.combine(until + timedelta(days=1), time.min, UTC))
    page = max(page, 1)
    rows = (
        await session.scalars(
            query.order_by(AdminLog.created_at.desc(), AdminLog.id.desc())
            .offset((page - 1) * per_page).limit(per_page + 1)
        )
    ).all()
    return LogPage(rows[:per_page], page, len(rows) > per_page)


async def log_actors(session: AsyncSession) -> Sequence[str]:
    return (await session.scalars(select(AdminLog.actor_label).distinct().order_by(AdminLog.actor_label))).all()


# Choices for the forms' lists ----------------------------------------------------------------


async def area_choices(session: AsyncSession) -> list[tuple[str, str]]:
    rows = (await session.execute(select(Area.id, Area.code, Area.name).order_by(Area.code)))
    return [(str(i), f"{code} — {name}") for i, code, name in rows]


async def site_choices(session: AsyncSession) -> list[tuple[str, str]]:
    rows = (await session.execute(select(Site.id, Site.code, Site.name).order_by(Site.code)))
    return [(str(i), f"{code} — {name}") for i, code, name in rows]


async def partner_choices(session: AsyncSession) -> list[tuple[str, str]]:
    rows = (await session.execute(select(Partner.id, Partner.name).order_by(Partner.name)))
    return [(str(i), name) for i, name in rows]


async def topic_choices(session: AsyncSession, locale: str) -> list[tuple[str, str]]:
    rows = (await session.scalars(select(Topic).order_by(Topic.position, Topic.id))).all()
    return [(str(t.id), t.label(locale)) for t in rows]


async def escalation_names(session: AsyncSession) -> dict[int, list[str]]:
    """Each partner's full escalation chain, by name (cycles are refused on save)."""
    rows = (await session.execute(select(Partner.id, Partner.name, Partner.escalation_partner_id))).all()
    by_id = {i: (name, up) for i, name, up in rows}
    chains: dict[int, list[str]] = {}
    for partner_id in by_id:
        chain, seen, current = [], {partner_id}, by_id[partner_id][1]
        while current is not None and current not in seen and current in by_id:
            chain.append(by_id[current][0])
            seen.add(current)
            current = by_id[current][1]
        chains[partner_id] = chain
    return chains
