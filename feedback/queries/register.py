"""The register of processing (DESIGN §10; Mali, Loi n°2013-015, regulator APDP).

Built from the platform's real configuration each time it is asked for, so it says what the
installation actually does: who receives data, how long contact details are kept, which
outside services are configured.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.i18n import gettext as _
from feedback.models import ApiKey, Dhis2Mapping, Partner, Site, Topic, TopicCode, User, utcnow
from feedback.settings import Settings


@dataclass(frozen=True)
class Processing:
    """One processing of personal data, with the entries the APDP register asks for."""

    name: str
    purpose: str
    legal_basis: str
    data_categories: str
    people_categories: str
    recipients: str
    retention: str
    security: str
    transfers: str


@dataclass(frozen=True)
class Register:
    generated_at: datetime
    controller: str
    base_url: str
    processings: list[Processing]


def column_titles() -> list[str]:
    return [
        _("Processing"), _("Purpose"), _("Legal basis"), _("Categories of data"),
        _("Categories of people"), _("Recipients"), _("Retention"), _("Security measures"),
        _("Transfers"),
    ]


async def _count(session: AsyncSession, query: object) -> int:
    return int(await session.scalar(query) or 0)  # type: ignore[arg-type]


async def build_register(session: AsyncSession, settings: Settings) -> Register:
    """The register for this installation, in the current request's language."""
    sites = await _count(session, select(func.count()).select_from(Site).where(Site.active))
    partners = await _count(session, select(func.count()).select_from(Partner))
    users_by_role = dict(
        (await session.execute(select(User.role, func.count()).where(User.active).group_by(User.role))).all()
    )
    sensitive_topics = (await session.scalars(
        select(Topic.label_fr).where(Topic.sensitivity.in_(("S2", "S3")), Topic.active)
    )).all()
    sensitive_codes = (await session.scalars(
        select(TopicCode.label_fr).where(TopicCode.sensitivity.in_(("S2", "S3")), TopicCode.active)
    )).all()
    safeguarding = (await session.scalars(select(Partner.name).where(Partner.is_safeguarding))).all()
    default_partner = (await session.scalars(select(Partner.name).where(Partner.is_default))).all()
    dhis2 = await _count(session, select(func.count()).select_from(Dhis2Mapping))
    keys = await _count(session, select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None)))

    retention = settings.contact_retention_days
    sms = (
        _("SMS gateway at %(host)s (HTTP adapter)") % {"host": urlsplit(settings.sms_gateway_url).netloc}
        if settings.sms_sender != "log" and settings.sms_gateway_url
        else _("no SMS gateway configured (messages are only written to the log)")
    )
    mail = (
        _("mail server %(host)s") % {"host": settings.smtp_host}
        if settings.mail_sender != "log" else _("no mail server configured (messages are only written to the log)")
    )
    database = _("SQLite file on the server") if settings.is_sqlite else _("PostgreSQL database")
    security = "; ".join([
        _("staff passwords hashed with Argon2id"),
        _("signed HttpOnly session cookies with idle (%(idle)d min) and absolute (%(abs)d h) expiry")
        % {"idle": settings.session_idle_minutes, "abs": settings.session_absolute_hours},
        _("HTTPS-only cookies and HSTS") if settings.secure_cookies else _("cookies not restricted to HTTPS (development setting)"),
        _("CSRF tokens on every form"),
        _("sign-in throttling"),
        _("access by role and partner, checked on every read; sensitive items (S2/S3) only for the safeguarding officer and, for S2, the partner's managers"),
        _("every view of an S2/S3 item is logged"),
        _("audit log of staff and admin actions"),
        _("data stored in: %(db)s") % {"db": database},
    ])
    roles = ", ".join(f"{role}: {n}" for role, n in sorted(users_by_role.items()))
    sensitive = ", ".join([*sensitive_topics, *sensitive_codes]) or _("none")
    no_transfer = _("None outside Mali by the platform itself; check where the server is hosted.")

    processings = [
        Processing(
            name=_("Community feedback (kiosk, web, SMS, API, paper)"),
            purpose=_("Receive feedback on health services at %(sites)d active sites, route it to the partner responsible, answer it and account for it publicly.") % {"sites": sites},
            legal_basis=_("Consent of the person for contact details and publication; mission of public interest (health service quality) for the anonymous feedback."),
            data_categories=_("Feedback text and voice notes, site, topic, type, date; optional phone number with consent; optional gender and age band; possibly health data and reports of abuse (sensitive topics: %(topics)s).") % {"topics": sensitive},
            people_categories=_("Patients, their families and community members who give feedback; staff who may be named in it."),
            recipients=_("%(partners)d partners through the routing rules (default: %(default)s); moderators; the safeguarding focal point (%(safeguarding)s) for sensitive items; the public sees only moderated summaries and totals.") % {
                "partners": partners, "default": ", ".join(default_partner) or "—",
                "safeguarding": ", ".join(safeguarding) or "—"},
            retention=_("Contact details erased %(days)d days after the item is closed; unconfirmed resolutions close after %(close)d days; anonymous feedback is kept for statistics.") % {
                "days": retention, "close": settings.auto_close_days},
            security=security,
            transfers=no_transfer,
        ),
        Processing(
            name=_("Status messages to submitters"),
            purpose=_("Tell people who asked for it what happened to their feedback."),
            legal_basis=_("Consent of the person (explicit, at submission)."),
            data_categories=_("Phone number or e-mail address, tracking code, status."),
            people_categories=_("Submitters who left a contact."),
            recipients=_("Delivery services: %(sms)s; %(mail)s.") % {"sms": sms, "mail": mail},
            retention=_("Contact details erased %(days)d days after the item is closed; delivered messages are kept with the item.") % {"days": retention},
            security=security,
            transfers=_("To the configured SMS and mail operators only."),
        ),
        Processing(
            name=_("Safeguarding case handling (S2/S3)"),
            purpose=_("Handle reports of fraud, exploitation, abuse and threats to life, as the survivor decides."),
            legal_basis=_("Vital interest of the person and consent of the survivor for any further step."),
            data_categories=_("The report, its follow-up notes, and the log of who viewed it."),
            people_categories=_("Survivors, witnesses, and persons reported."),
            recipients=_("The safeguarding focal point (%(safeguarding)s); for S2 also the managers of the partner concerned; never the public or the facility concerned for S3.") % {
                "safeguarding": ", ".join(safeguarding) or "—"},
            retention=_("As for community feedback; contact details erased %(days)d days after closing.") % {"days": retention},
            security=security,
            transfers=no_transfer,
        ),
        Processing(
            name=_("Staff accounts and audit"),
            purpose=_("Let partners, moderators and admins sign in and keep track of who did what."),
            legal_basis=_("Contract or mandate of the staff member with the organisation."),
            data_categories=_("Name, login, role, partner, e-mail and phone (optional), password hash, sign-in times and failed attempts with network address, audit log."),
            people_categories=_("Staff accounts by role: %(roles)s.") % {"roles": roles or "—"},
            recipients=_("Administrators of the platform."),
            retention=_("Accounts are deactivated, not deleted, so the audit trail stays readable; failed sign-in attempts are purged after the throttle window."),
            security=security,
            transfers=no_transfer,
        ),
        Processing(
            name=_("Open data, Open311 and DHIS2"),
            purpose=_("Publish resolution boards and open data; report monthly aggregates to the health information system."),
            legal_basis=_("Mission of public interest (transparency and accountability)."),
            data_categories=_("No personal data: moderated summaries of S0 items, totals with small counts hidden, monthly aggregates (%(mappings)d DHIS2 mappings).") % {"mappings": dhis2},
            people_categories=_("None (aggregated and moderated data only)."),
            recipients=_("The public; %(keys)d Open311 API keys in use; the national DHIS2.") % {"keys": keys},
            retention=_("As long as the boards are published."),
            security=_("Only published, non-sensitive items; counts under 5 shown as \"fewer than 5\"; dates of single items by week."),
            transfers=_("None of personal data."),
        ),
    ]
    return Register(
        generated_at=utcnow(),
        controller=", ".join(default_partner) or "—",
        base_url=settings.base_url,
        processings=processings,
    )


def register_csv(register: Register) -> str:
    """The register as CSV (UTF-8 with a byte-order mark, so spreadsheet programs read accents)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(column_titles())
    for processing in register.processings:
        writer.writerow([getattr(processing, f.name) for f in fields(Processing)])
    return "\ufeff" + buffer.getvalue()
