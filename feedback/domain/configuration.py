"""Configuration that admins edit (DESIGN §5): places, partners, taxonomy, rules, prompts.

Each ``save_*`` creates (``*_id`` None) or updates one record after checking it, logs the
change in the admin log, and never commits. Topics and codes are never deleted, only retired;
rules, holidays and mappings may be removed.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback import media
from feedback.domain.access import Actor
from feedback.domain.admin import ConfigError, apply_changes, record
from feedback.i18n import N_
from feedback.models import (
    Area,
    DeadlineRule,
    Dhis2Mapping,
    Holiday,
    Partner,
    RoutingRule,
    Site,
    Topic,
    TopicCode,
    VoicePrompt,
    utcnow,
)
from feedback.models.organisations import LOCALES, PARTNER_KINDS
from feedback.models.places import AREA_LEVELS, SITE_KINDS
from feedback.models.taxonomy import FEEDBACK_TYPES, SENSITIVITIES
from feedback.text import nfc

# The kiosk's screens that can carry a recorded voice prompt (DESIGN §7): the steps of
# web/intake_flow.KIOSK_STEPS (a test keeps the two in step) and the receipt.
PROMPT_SCREENS = (
    "language", "type", "topic", "say", "contact", "publish", "gender", "age", "review", "receipt",
)

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _text(value: str | None, field: str, max_len: int, *, required: bool = True) -> str | None:
    value = nfc(value)
    if not value:
        if required:
            raise ConfigError(N_("This field is required."), field)
        return None
    if len(value) > max_len:
        raise ConfigError(N_("At most %(max)d characters."), field, max=max_len)
    return value


def _choice(value: str | None, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise ConfigError(N_("Choose from the list."), field)
    return value


async def _exists(session: AsyncSession, model: type[Any], obj_id: int | None, field: str,
                  message: str) -> None:
    if obj_id is not None and await session.get(model, obj_id) is None:
        raise ConfigError(message, field)


async def _get(session: AsyncSession, model: type[Any], obj_id: int) -> Any:
    obj = await session.get(model, obj_id)
    if obj is None:
        raise ConfigError(N_("This record does not exist."))
    return obj


async def _save(session: AsyncSession, actor: Actor, model: type[Any], obj_id: int | None,
                values: dict[str, Any], kind: str, label: str) -> Any:
    """Create or update ``model`` with ``values`` and log it as ``kind.create|update``."""
    if obj_id is None:
        obj = model(**values)
        session.add(obj)
        await session.flush()
        await record(session, actor, f"{kind}.create", f"{kind}:{label}", values)
        return obj
    obj = await _get(session, model, obj_id)
    changed = apply_changes(obj, values)
    await session.flush()
    if changed:
        await record(session, actor, f"{kind}.update", f"{kind}:{label}", changed)
    return obj


async def _unique(session: AsyncSession, column: Any, value: Any, obj_id: int | None, field: str,
                  message: str, **params: Any) -> None:
    model = column.class_
    query = select(model.id).where(column == value)
    if obj_id is not None:
        query = query.where(model.id != obj_id)
    if await session.scalar(query):
        raise ConfigError(message, field, **params)


# --- places ---------------------------------------------------------------------------------


async def save_area(session: AsyncSession, actor: Actor, area_id: int | None = None, *, code: str,
                    name: str, level: str, parent_id: int | None = None) -> Area:
    """An administrative area; its parent chain must not loop back to itself."""
    code = (_text(code, "code", 40) or "").upper()
    if not _CODE.match(code):
        raise ConfigError(N_("Use capital letters, digits and dashes only."), "code")
    await _unique(session, Area.code, code, area_id, "code",
                  N_("An area with the code %(code)s already exists."), code=code)
    name = _text(name, "name", 120) or ""
    level = _choice(level, AREA_LEVELS, "level")
    await _exists(session, Area, parent_id, "parent_id", N_("Unknown area."))
    if parent_id is not None and area_id is not None:
        parents = dict((await session.execute(select(Area.id, Area.parent_id))).all())
        seen, current = set(), parent_id
        while current is not None and current not in seen:
            if current == area_id:
                raise ConfigError(N_("An area cannot be inside itself."), "parent_id")
            seen.add(current)
            current = parents.get(current)
    values = {"code": code, "name": name, "level": level, "parent_id": parent_id}
    return await _save(session, actor, Area, area_id, values, "area", code)  # type: ignore[no-any-return]


async def save_site(session: AsyncSession, actor: Actor, site_id: int | None = None, *, code: str,
                    name: str, kind: str, area_id: int | None = None, latitude: float | None = None,
                    longitude: float | None = None, languages: list[str] | None = None,
                    dhis2_org_unit: str | None = None, active: bool = True) -> Site:
    """A site with its public code (e.g. BKO-C4-LAF); coordinates are optional but paired."""
    code = (_text(code, "code", 24) or "").upper()
    if not _CODE.match(code):
        raise ConfigError(N_("Use capital letters, digits and dashes only."), "code")
    await _unique(session, Site.code, code, site_id, "code",
                  N_("A site with the code %(code)s already exists."), code=code)
    name = _text(name, "name", 160) or ""
    kind = _choice(kind, SITE_KINDS, "kind")
    await _exists(session, Area, area_id, "area_id", N_("Unknown area."))
    if (latitude is None) != (longitude is None):
        raise ConfigError(N_("Give both latitude and longitude, or neither."), "latitude")
    if latitude is not None and not -90 <= latitude <= 90:
        raise ConfigError(N_("The latitude must be between -90 and 90."), "latitude")
    if longitude is not None and not -180 <= longitude <= 180:
        raise ConfigError(N_("The longitude must be between -180 and 180."), "longitude")
    chosen = [lang for lang in LOCALES if lang in (languages or [])]
    if not chosen or len(chosen) != len(set(languages or [])):
        raise ConfigError(N_("Choose at least one language."), "languages")
    values = {
        "code": code, "name": name, "kind": kind, "area_id": area_id, "latitude": latitude,
        "longitude": longitude, "languages": ",".join(chosen),
        "dhis2_org_unit": _text(dhis2_org_unit, "dhis2_org_unit", 40, required=False), "active": active,
    }
    return await _save(session, actor, Site, site_id, values, "site", code)  # type: ignore[no-any-return]


# --- partners -------------------------------------------------------------------------------


async def escalation_chain(session: AsyncSession, partner_id: int) -> list[Partner]:
    """The partners an overdue item of ``partner_id`` escalates to, in order."""
    partners = {p.id: p for p in (await session.scalars(select(Partner))).all()}
    chain: list[Partner] = []
    current = partners.get(partner_id)
    seen = {partner_id}
    while current is not None and current.escalation_partner_id not in (None, *seen):
        current = partners.get(current.escalation_partner_id)  # type: ignore[arg-type]
        if current is None:
            break
        chain.append(current)
        seen.add(current.id)
    return chain


async def save_partner(session: AsyncSession, actor: Actor, partner_id: int | None = None, *,
                       slug: str, name: str, kind: str, escalation_partner_id: int | None = None,
                       site_id: int | None = None, email: str | None = None, phone: str | None = None,
                       locale: str = "fr", is_default: bool = False,
                       is_safeguarding: bool = False) -> Partner:
    """A partner and its escalation partner; the escalation chain may never loop."""
    slug = (_text(slug, "slug", 60) or "").lower()
    if not _SLUG.match(slug):
        raise ConfigError(N_("Use small letters, digits, dashes and underscores only."), "slug")
    await _unique(session, Partner.slug, slug, partner_id, "slug",
                  N_("A partner with the slug %(slug)s already exists."), slug=slug)
    name = _text(name, "name", 160) or ""
    kind = _choice(kind, PARTNER_KINDS, "kind")
    locale = _choice(locale, LOCALES, "locale")
    await _exists(session, Site, site_id, "site_id", N_("Unknown site."))
    email = _text(email, "email", 200, required=False)
    if email and ("@" not in email or " " in email):
        raise ConfigError(N_("Enter a valid e-mail address."), "email")
    phone = _text(phone, "phone", 32, required=False)
    if escalation_partner_id is not None:
        await _exists(session, Partner, escalation_partner_id, "escalation_partner_id", N_("Unknown partner."))
        if escalation_partner_id == partner_id:
            raise ConfigError(N_("A partner cannot escalate to itself."), "escalation_partner_id")
        if partner_id is not None:
            parents = dict((await session.execute(select(Partner.id, Partner.escalation_partner_id))).all())
            seen: set[int] = set()
            current: int | None = escalation_partner_id
            while current is not None and current not in seen:
                if current == partner_id:
                    raise ConfigError(
                        N_("This escalation partner would make the escalation chain go round in a circle."),
                        "escalation_partner_id",
                    )
                seen.add(current)
                current = parents.get(current)
    existing = await session.get(Partner, partner_id) if partner_id is not None else None
    # Routing needs exactly one default partner and one safeguarding focal point.
    if existing is not None and existing.is_default and not is_default:
        raise ConfigError(N_("There must be a default partner: make another partner the default instead."),
                          "is_default")
    if existing is not None and existing.is_safeguarding and not is_safeguarding:
        raise ConfigError(
            N_("There must be a safeguarding focal point: choose another partner for it instead."),
            "is_safeguarding",
        )
    values = {
        "slug": slug, "name": name, "kind": kind, "escalation_partner_id": escalation_partner_id,
        "site_id": site_id, "email": email, "phone": phone, "locale": locale,
        "is_default": is_default, "is_safeguarding": is_safeguarding,
    }
    partner: Partner = await _save(session, actor, Partner, partner_id, values, "partner", slug)
    for flag in ("is_default", "is_safeguarding"):
        if values[flag]:
            others = (await session.scalars(
                select(Partner).where(getattr(Partner, flag), Partner.id != partner.id)
            )).all()
            for other in others:
                setattr(other, flag, False)
                await record(session, actor, "partner.update", f"partner:{other.slug}", {flag: [True, False]})
    await session.flush()
    return partner


# --- taxonomy -------------------------------------------------------------------------------


def _labels(label_fr: str, label_bm: str, label_en: str) -> dict[str, str]:
    return {
        "label_fr": _text(label_fr, "label_fr", 120) or "",
        "label_bm": _text(label_bm, "label_bm", 120) or "",
        "label_en": _text(label_en, "label_en", 120) or "",
    }


async def save_topic(session: AsyncSession, actor: Actor, topic_id: int | None = None, *,
                     slug: str, icon: str, label_fr: str, label_bm: str, label_en: str,
                     sensitivity: str = "S0", position: int | None = 0, active: bool = True,
                     icons: tuple[str, ...] = ()) -> Topic:
    """A topic; any edit bumps its version so items keep the coding they were given."""
    slug = (_text(slug, "slug", 40) or "").lower()
    if not _SLUG.match(slug):
        raise ConfigError(N_("Use small letters, digits, dashes and underscores only."), "slug")
    await _unique(session, Topic.slug, slug, topic_id, "slug",
                  N_("A topic with the slug %(slug)s already exists."), slug=slug)
    if icons and icon not in icons:
        raise ConfigError(N_("Choose from the list."), "icon")
    icon = _text(icon, "icon", 40) or ""
    values = {
        "slug": slug, "icon": icon, **_labels(label_fr, label_bm, label_en),
        "sensitivity": _choice(sensitivity, SENSITIVITIES, "sensitivity"),
        "position": position or 0, "active": active,
    }
    if topic_id is None:
        return await _save(session, actor, Topic, None, values, "topic", slug)  # type: ignore[no-any-return]
    topic: Topic = await _get(session, Topic, topic_id)
    changed = apply_changes(topic, values)
    if changed:
        topic.version += 1
        changed["version"] = [topic.version - 1, topic.version]
        await session.flush()
        await record(session, actor, "topic.update", f"topic:{slug}", changed)
    return topic


async def save_code(session: AsyncSession, actor: Actor, code_id: int | None = None, *,
                    topic_id: int | None, slug: str, label_fr: str, label_bm: str, label_en: str,
                    sensitivity: str = "S0", active: bool = True) -> TopicCode:
    """A code under a topic; adding or editing one bumps the topic's version."""
    if topic_id is None:
        raise ConfigError(N_("This field is required."), "topic_id")
    topic = await session.get(Topic, topic_id)
    if topic is None:
        raise ConfigError(N_("Unknown topic."), "topic_id")
    slug = (_text(slug, "slug", 40) or "").lower()
    if not _SLUG.match(slug):
        raise ConfigError(N_("Use small letters, digits, dashes and underscores only."), "slug")
    query = select(TopicCode.id).where(TopicCode.topic_id == topic_id, TopicCode.slug == slug)
    if code_id is not None:
        query = query.where(TopicCode.id != code_id)
    if await session.scalar(query):
        raise ConfigError(N_("This topic already has a code %(slug)s."), "slug", slug=slug)
    values = {
        "topic_id": topic_id, "slug": slug, **_labels(label_fr, label_bm, label_en),
        "sensitivity": _choice(sensitivity, SENSITIVITIES, "sensitivity"), "active": active,
    }
    label = f"{topic.slug}/{slug}"
    if code_id is None:
        code: TopicCode = await _save(session, actor, TopicCode, None, values, "code", label)
    else:
        code = await _get(session, TopicCode, code_id)
        changed = apply_changes(code, values)
        if not changed:
            return code
        await record(session, actor, "code.update", f"code:{label}", changed)
    # A new or changed code is a new version of the topic's coding.
    topic.version += 1
    await session.flush()
    return code


# --- rules ----------------------------------------------------------------------------------


async def save_routing_rule(session: AsyncSession, actor: Actor, rule_id: int | None = None, *,
                            site_id: int | None = None, topic_id: int | None = None,
                            partner_id: int | None) -> RoutingRule:
    """(site or any, topic or any) → partner; one rule per pair."""
    await _exists(session, Site, site_id, "site_id", N_("Unknown site."))
    await _exists(session, Topic, topic_id, "topic_id", N_("Unknown topic."))
    if partner_id is None:
        raise ConfigError(N_("This field is required."), "partner_id")
    await _exists(session, Partner, partner_id, "partner_id", N_("Unknown partner."))
    query = select(RoutingRule.id).where(
        RoutingRule.site_id.is_(None) if site_id is None else RoutingRule.site_id == site_id,
        RoutingRule.topic_id.is_(None) if topic_id is None else RoutingRule.topic_id == topic_id,
    )
    if rule_id is not None:
        query = query.where(RoutingRule.id != rule_id)
    if await session.scalar(query):
        raise ConfigError(N_("A rule for this site and topic already exists: edit it instead."), "site_id")
    values = {"site_id": site_id, "topic_id": topic_id, "partner_id": partner_id}
    label = f"{site_id or '*'}/{topic_id or '*'}"
    return await _save(session, actor, RoutingRule, rule_id, values, "routing_rule", label)  # type: ignore[no-any-return]


async def save_deadline_rule(session: AsyncSession, actor: Actor, rule_id: int | None = None, *,
                             topic_id: int | None = None, feedback_type: str | None = None,
                             acknowledge_working_days: int | None, resolve_days: int | None) -> DeadlineRule:
    """Deadlines for (topic or any) × (type or any)."""
    await _exists(session, Topic, topic_id, "topic_id", N_("Unknown topic."))
    if feedback_type is not None:
        _choice(feedback_type, FEEDBACK_TYPES, "feedback_type")
    if acknowledge_working_days is None or not 0 <= acknowledge_working_days <= 60:
        raise ConfigError(N_("Enter a number of days between %(low)d and %(high)d."),
                          "acknowledge_working_days", low=0, high=60)
    if resolve_days is None or not 1 <= resolve_days <= 365:
        raise ConfigError(N_("Enter a number of days between %(low)d and %(high)d."), "resolve_days",
                          low=1, high=365)
    query = select(DeadlineRule.id).where(
        DeadlineRule.topic_id.is_(None) if topic_id is None else DeadlineRule.topic_id == topic_id,
        DeadlineRule.feedback_type.is_(None) if feedback_type is None else DeadlineRule.feedback_type == feedback_type,
    )
    if rule_id is not None:
        query = query.where(DeadlineRule.id != rule_id)
    if await session.scalar(query):
        raise ConfigError(N_("A rule for this topic and type already exists: edit it instead."), "topic_id")
    values = {"topic_id": topic_id, "feedback_type": feedback_type,
              "acknowledge_working_days": acknowledge_working_days, "resolve_days": resolve_days}
    label = f"{topic_id or '*'}/{feedback_type or '*'}"
    return await _save(session, actor, DeadlineRule, rule_id, values, "deadline_rule", label)  # type: ignore[no-any-return]


async def save_holiday(session: AsyncSession, actor: Actor, holiday_id: int | None = None, *,
                       day: date | None, name: str) -> Holiday:
    """A public holiday (not a working day for acknowledgement deadlines)."""
    if day is None:
        raise ConfigError(N_("This field is required."), "day")
    await _unique(session, Holiday.day, day, holiday_id, "day",
                  N_("This day is already a holiday."))
    values = {"day": day, "name": _text(name, "name", 120)}
    return await _save(session, actor, Holiday, holiday_id, values, "holiday", day.isoformat())  # type: ignore[no-any-return]


async def save_dhis2_mapping(session: AsyncSession, actor: Actor, mapping_id: int | None = None, *,
                             indicator: str, data_element: str,
                             category_option_combo: str | None = None) -> Dhis2Mapping:
    """Which DHIS2 data element receives a platform indicator."""
    indicator = _text(indicator, "indicator", 60) or ""
    await _unique(session, Dhis2Mapping.indicator, indicator, mapping_id, "indicator",
                  N_("This indicator is already mapped."))
    values = {
        "indicator": indicator, "data_element": _text(data_element, "data_element", 60),
        "category_option_combo": _text(category_option_combo, "category_option_combo", 60, required=False),
    }
    return await _save(session, actor, Dhis2Mapping, mapping_id, values, "dhis2_mapping", indicator)  # type: ignore[no-any-return]


DELETABLE: dict[str, type[Any]] = {
    "routing_rule": RoutingRule,
    "deadline_rule": DeadlineRule,
    "holiday": Holiday,
    "dhis2_mapping": Dhis2Mapping,
}


async def delete_record(session: AsyncSession, actor: Actor, kind: str, obj_id: int) -> None:
    """Remove a rule, holiday or mapping (topics, codes, places and partners are only retired)."""
    model = DELETABLE[kind]
    obj = await _get(session, model, obj_id)
    details = {c.key: getattr(obj, c.key) for c in model.__table__.columns if c.key != "created_at"}
    await session.delete(obj)
    await session.flush()
    await record(session, actor, f"{kind}.delete", f"{kind}:{obj_id}", details)


# --- voice prompts --------------------------------------------------------------------------


async def save_voice_prompt(session: AsyncSession, actor: Actor, *, screen: str, locale: str,
                            data: bytes) -> VoicePrompt:
    """Store (or replace) the recording for one kiosk screen in one language."""
    screen = _choice(screen, PROMPT_SCREENS, "screen")
    locale = _choice(locale, LOCALES, "locale")
    if not data:
        raise ConfigError(N_("Choose a recording to upload."), "file")
    try:
        audio = media.voice_note(data)
    except media.MediaRefused as exc:
        raise ConfigError(exc.message, "file") from exc
    prompt = await session.scalar(
        select(VoicePrompt).where(VoicePrompt.screen == screen, VoicePrompt.locale == locale)
    )
    if prompt is None:
        prompt = VoicePrompt(screen=screen, locale=locale)
        session.add(prompt)
    prompt.content_type = audio.content_type
    prompt.size = len(data)
    prompt.sha256 = audio.sha256
    prompt.content = data
    prompt.uploaded_at = utcnow()
    await session.flush()
    await record(session, actor, "voice_prompt.upload", f"voice_prompt:{screen}/{locale}",
                 {"content_type": audio.content_type, "size": len(data), "sha256": audio.sha256})
    return prompt


async def delete_voice_prompt(session: AsyncSession, actor: Actor, *, screen: str, locale: str) -> None:
    prompt = await session.scalar(
        select(VoicePrompt).where(VoicePrompt.screen == screen, VoicePrompt.locale == locale)
    )
    if prompt is None:
        raise ConfigError(N_("This record does not exist."))
    await session.delete(prompt)
    await session.flush()
    await record(session, actor, "voice_prompt.delete", f"voice_prompt:{screen}/{locale}")
