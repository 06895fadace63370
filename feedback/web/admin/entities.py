"""The configuration records the admin pages edit, declared for ``crud``."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback import i18n
from feedback.domain import admin as admin_domain
from feedback.domain import configuration as config
from feedback.domain.access import Actor
from feedback.i18n import N_, gettext
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
    User,
)
from feedback.queries import admin as queries
from feedback.web.admin.crud import Choices, Entity
from feedback.web.admin.forms import Field
from feedback.web.templating import STATIC_DIR

LABELS: dict[str, dict[str, str]] = {
    "level": {"region": N_("Region"), "cercle": N_("Cercle / district"), "commune": N_("Commune"),
              "quartier": N_("Quartier / village")},
    "site_kind": {"cscom": N_("CSCOM"), "csref": N_("CSRef"), "community": N_("Community"), "other": N_("Other")},
    "partner_kind": {"asaco": N_("ASACO"), "cscom": N_("CSCOM management"), "csref": N_("CSRef management"),
                     "district": N_("District health team"), "ngo": N_("NGO"),
                     "chw_programme": N_("Community health worker programme"),
                     "safeguarding": N_("Safeguarding"), "other": N_("Other")},
    "role": {"partner_agent": N_("Partner agent"), "partner_manager": N_("Partner manager"),
             "moderator": N_("Moderator"), "community_monitor": N_("Community monitor"),
             "safeguarding_officer": N_("Safeguarding officer"), "admin": N_("Administrator")},
    "sensitivity": {"S0": N_("S0 public"), "S1": N_("S1 restricted"), "S2": N_("S2 confidential"),
                    "S3": N_("S3 protection")},
    "feedback_type": {"complaint": N_("Complaint"), "suggestion": N_("Suggestion"),
                      "compliment": N_("Compliment"), "question": N_("Question"),
                      "help_request": N_("Request for help")},
}


def constant_choices(kind: str) -> list[tuple[str, str]]:
    return [(value, gettext(label)) for value, label in LABELS[kind].items()]


def locale_choices() -> list[tuple[str, str]]:
    return list(i18n.LANGUAGE_NAMES.items())


@cache
def icon_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in (STATIC_DIR / "icons").glob("*.svg")))


# --- areas and sites ------------------------------------------------------------------------

AREA_FIELDS = (
    Field("code", N_("Code"), required=True, hint=N_("Capital letters, digits and dashes, e.g. ML-BKO-C4.")),
    Field("name", N_("Name"), required=True),
    Field("level", N_("Level"), "select", choices="level", required=True),
    Field("parent_id", N_("Inside area"), "id", choices="areas", blank=N_("(none: top level)")),
)


async def area_choices(session: AsyncSession) -> Choices:
    return {"level": constant_choices("level"), "areas": await queries.area_choices(session)}


async def save_area(session: AsyncSession, actor: Actor, obj_id: int | None, values: dict[str, Any]) -> Any:
    return await config.save_area(session, actor, obj_id, **values)


SITE_FIELDS = (
    Field("code", N_("Public code"), required=True, hint=N_("Short and printed on posters, e.g. BKO-C4-LAF.")),
    Field("name", N_("Name"), required=True),
    Field("kind", N_("Kind"), "select", choices="site_kind", required=True),
    Field("area_id", N_("Area"), "id", choices="areas", blank=N_("(none)")),
    Field("latitude", N_("Latitude"), "decimal", hint=N_("Decimal degrees, e.g. 12.6430 (optional).")),
    Field("longitude", N_("Longitude"), "decimal", hint=N_("Decimal degrees, e.g. -8.0400 (optional).")),
    Field("languages", N_("Languages of the waiting-room display"), "multi", choices="locales"),
    Field("dhis2_org_unit", N_("DHIS2 organisation unit")),
    Field("active", N_("Active (shown on the home page and boards)"), "checkbox"),
)


async def site_choices(session: AsyncSession) -> Choices:
    return {"site_kind": constant_choices("site_kind"), "areas": await queries.area_choices(session),
            "locales": locale_choices()}


async def site_values(session: AsyncSession, site: Site) -> dict[str, Any]:
    values = {f.name: getattr(site, f.name) for f in SITE_FIELDS}
    values["languages"] = [lang for lang in site.languages.split(",") if lang]
    return values


async def save_site(session: AsyncSession, actor: Actor, obj_id: int | None, values: dict[str, Any]) -> Any:
    return await config.save_site(session, actor, obj_id, **values)


# --- partners and users ---------------------------------------------------------------------

PARTNER_FIELDS = (
    Field("slug", N_("Slug"), required=True, hint=N_("Small letters, digits and dashes; used in the board's address.")),
    Field("name", N_("Name"), required=True),
    Field("kind", N_("Kind"), "select", choices="partner_kind", required=True),
    Field("escalation_partner_id", N_("Escalates to"), "id", choices="partners", blank=N_("(nobody: top of the chain)"),
          hint=N_("Overdue items go up to this partner, then to its own escalation partner, and so on.")),
    Field("site_id", N_("Facility it runs"), "id", choices="sites", blank=N_("(none)"),
          hint=N_("S3 items about this site never go to this partner.")),
    Field("email", N_("E-mail address")),
    Field("phone", N_("Phone")),
    Field("locale", N_("Language of its messages"), "select", choices="locales", required=True),
    Field("is_default", N_("Default partner (receives what no rule routes)"), "checkbox"),
    Field("is_safeguarding", N_("Safeguarding focal point (receives S2/S3 items)"), "checkbox"),
)


async def partner_choices(session: AsyncSession) -> Choices:
    return {"partner_kind": constant_choices("partner_kind"), "partners": await queries.partner_choices(session),
            "sites": await queries.site_choices(session), "locales": locale_choices()}


async def save_partner(session: AsyncSession, actor: Actor, obj_id: int | None, values: dict[str, Any]) -> Any:
    return await config.save_partner(session, actor, obj_id, **values)


async def partner_extra(session: AsyncSession, partner: Partner) -> dict[str, Any]:
    return {"chain": [p.name for p in await config.escalation_chain(session, partner.id)]}


async def partners_rows(session: AsyncSession) -> dict[str, Any]:
    return {"partners": await queries.partners(session), "chains": await queries.escalation_names(session)}


USER_FIELDS = (
    Field("login", N_("Login"), required=True, create_only=True),
    Field("name", N_("Name"), required=True),
    Field("role", N_("Role"), "select", choices="role", required=True),
    Field("partner_id", N_("Partner"), "id", choices="partners", blank=N_("(none)"),
          hint=N_("Required for partner agents and managers.")),
    Field("locale", N_("Language"), "select", choices="locales", required=True),
    Field("email", N_("E-mail address")),
    Field("phone", N_("Phone")),
    Field("site_ids", N_("Sites watched (community monitors)"), "multi_id", choices="sites"),
)


async def user_choices(session: AsyncSession) -> Choices:
    return {"role": constant_choices("role"), "partners": await queries.partner_choices(session),
            "sites": await queries.site_choices(session), "locales": locale_choices()}


async def user_values(session: AsyncSession, user: User) -> dict[str, Any]:
    values = {f.name: getattr(user, f.name, None) for f in USER_FIELDS}
    values["site_ids"] = await admin_domain.user_site_ids(session, user.id)
    return values


async def save_user(session: AsyncSession, actor: Actor, obj_id: int | None, values: dict[str, Any]) -> Any:
    values = {**values, "site_ids": values.get("site_ids") or []}
    if obj_id is None:
        return await admin_domain.create_user(session, actor, **values)
    values.pop("login", None)
    return await admin_domain.update_user(session, actor, obj_id, **values)


async def user_extra(session: AsyncSession, user: User) -> dict[str, Any]:
    return {"user": user}


# --- taxonomy -------------------------------------------------------------------------------

LABEL_FIELDS = (
    Field("label_fr", N_("Label in French"), required=True),
    Field("label_bm", N_("Label in Bamanankan"), required=True),
    Field("label_en", N_("Label in English"), required=True),
)
TOPIC_FIELDS = (
    Field("slug", N_("Slug"), required=True, create_only=True),
    *LABEL_FIELDS,
    Field("icon", N_("Pictogram"), "select", choices="icons", required=True),
    Field("sensitivity", N_("Minimum sensitivity"), "select", choices="sensitivity", required=True,
          hint=N_("S2 and S3 topics go to the safeguarding focal point only.")),
    Field("position", N_("Position on the kiosk"), "int"),
    Field("active", N_("Active (offered on the kiosk); retire a topic instead of deleting it"), "checkbox"),
)


async def topic_choices(session: AsyncSession) -> Choices:
    return {"icons": [(name, name) for name in icon_names()], "sensitivity": constant_choices("sensitivity")}


async def save_topic(session: AsyncSession, actor: Actor, obj_id: int | None, values: dict[str, Any]) -> Any:
    if obj_id is not None and "slug" not in values:
        topic = await session.get(Topic, obj_id)
        values = {**values, "slug": topic.slug if topic else ""}
    return await config.save_topic(session, actor, obj_id, icons=icon_names(), **values)


async def topic_extra(session: AsyncSession, topic: Topic) -> dict[str, Any]:
    codes = (await session.scalars(select(TopicCode).where(TopicCode.topic_id == topic.id).order_by(TopicCode.slug))).all()
    return {"codes": codes}


CODE_FIELDS = (
    Field("topic_id", N_("Topic"), "id", choices="topics", required=True),
    Field("slug", N_("Slug"), required=True),
    *LABEL_FIELDS,
    Field("sensitivity", N_("Sensitivity"), "select", choices="sensitivity", required=True),
    Field("active", N_("Active; retire a code instead of deleting it"), "checkbox"),
)


async def code_choices(session: AsyncSession) -> Choices:
    return {"topics": await queries.topic_choices(session, i18n.current_locale.get()),
            "sensitivity": constant_choices("sensitivity")}


async def save_code(session: AsyncSession, actor: Actor, obj_id: int | None, values: dict[str, Any]) -> Any:
    return await config.save_code(session, actor, obj_id, **values)


# --- rules, holidays, DHIS2 -----------------------------------------------------------------

ROUTING_FIELDS = (
    Field("site_id", N_("Site"), "id", choices="sites", blank=N_("(any site)")),
    Field("topic_id", N_("Topic"), "id", choices="topics", blank=N_("(any topic)")),
    Field("partner_id", N_("Partner who answers"), "id", choices="partners", required=True),
)


async def routing_choices(session: AsyncSession) -> Choices:
    return {"sites": await queries.site_choices(session),
            "topics": await queries.topic_choices(session, i18n.current_locale.get()),
            "partners": await queries.partner_choices(session)}


async def save_routing(session: AsyncSession, actor: Actor, obj_id: int | None, values: dict[str, Any]) -> Any:
    return await config.save_routing_rule(session, actor, obj_id, **values)


DEADLINE_FIELDS = (
    Field("topic_id", N_("Topic"), "id", choices="topics", blank=N_("(any topic)")),
    Field("feedback_type", N_("Type of feedback"), "select", choices="feedback_type", blank=N_("(any type)")),
    Field("acknowledge_working_days", N_("Acknowledge within (working days)"), "int", required=True),
    Field("resolve_days", N_("Answer within (days)"), "int", required=True),
)


async def deadline_choices(session: AsyncSession) -> Choices:
    return {"topics": await queries.topic_choices(session, i18n.current_locale.get()),
            "feedback_type": constant_choices("feedback_type")}


async def save_deadline(session: AsyncSession, actor: Actor, obj_id: int | None, values: dict[str, Any]) -> Any:
    return await config.save_deadline_rule(session, actor, obj_id, **values)


HOLIDAY_FIELDS = (
    Field("day", N_("Day"), "date", required=True, hint=N_("YYYY-MM-DD")),
    Field("name", N_("Name"), required=True),
)


async def save_holiday(session: AsyncSession, actor: Actor, obj_id: int | None, values: dict[str, Any]) -> Any:
    return await config.save_holiday(session, actor, obj_id, **values)


DHIS2_FIELDS = (
    Field("indicator", N_("Platform indicator"), required=True,
          hint=N_("e.g. received, resolved, verified, overdue, or received.complaint")),
    Field("data_element", N_("DHIS2 data element (code or id)"), required=True),
    Field("category_option_combo", N_("Category option combo (optional)")),
)


async def save_dhis2(session: AsyncSession, actor: Actor, obj_id: int | None, values: dict[str, Any]) -> Any:
    return await config.save_dhis2_mapping(session, actor, obj_id, **values)


ENTITIES = (
    Entity("area", "areas", N_("Areas"), N_("New area"), N_("Edit area"), Area, AREA_FIELDS, queries.areas,
           save_area, "admin/areas.html", area_choices),
    Entity("site", "sites", N_("Sites"), N_("New site"), N_("Edit site"), Site, SITE_FIELDS, queries.sites,
           save_site, "admin/sites.html", site_choices, values_of=site_values,
           defaults={"kind": "cscom", "languages": ["bm", "fr"], "active": True}, after_create="edit"),
    Entity("partner", "partners", N_("Partners"), N_("New partner"), N_("Edit partner"), Partner, PARTNER_FIELDS,
           partners_rows, save_partner, "admin/partners.html", partner_choices,
           defaults={"kind": "asaco", "locale": "fr"}, edit_extra=partner_extra),
    Entity("user", "users", N_("Users"), N_("New user"), N_("Edit user"), User, USER_FIELDS, queries.users,
           save_user, "admin/users.html", user_choices, values_of=user_values,
           defaults={"role": "partner_agent", "locale": "fr"}, after_create="edit", edit_extra=user_extra),
    Entity("topic", "topics", N_("Topics and codes"), N_("New topic"), N_("Edit topic"), Topic, TOPIC_FIELDS,
           queries.topics, save_topic, "admin/topics.html", topic_choices,
           defaults={"sensitivity": "S0", "active": True, "icon": "other"}, edit_extra=topic_extra),
    Entity("code", "codes", N_("Codes"), N_("New code"), N_("Edit code"), TopicCode, CODE_FIELDS,
           queries.topics, save_code, "admin/topics.html", code_choices,
           defaults={"sensitivity": "S0", "active": True}),
    Entity("routing_rule", "routing_rules", N_("Routing rules"), N_("New routing rule"), N_("Edit routing rule"),
           RoutingRule, ROUTING_FIELDS, queries.routing_rules, save_routing, "admin/routing_rules.html",
           routing_choices, delete_kind="routing_rule"),
    Entity("deadline_rule", "deadline_rules", N_("Deadlines"), N_("New deadline rule"), N_("Edit deadline rule"),
           DeadlineRule, DEADLINE_FIELDS, queries.deadline_rules, save_deadline, "admin/deadline_rules.html",
           deadline_choices, defaults={"acknowledge_working_days": 2, "resolve_days": 10},
           delete_kind="deadline_rule"),
    Entity("holiday", "holidays", N_("Holidays"), N_("New holiday"), N_("Edit holiday"), Holiday, HOLIDAY_FIELDS,
           queries.holidays, save_holiday, "admin/holidays.html", delete_kind="holiday"),
    Entity("dhis2_mapping", "dhis2_mappings", N_("DHIS2 mappings"), N_("New DHIS2 mapping"),
           N_("Edit DHIS2 mapping"), Dhis2Mapping, DHIS2_FIELDS, queries.dhis2_mappings, save_dhis2,
           "admin/dhis2_mappings.html", delete_kind="dhis2_mapping"),
)
