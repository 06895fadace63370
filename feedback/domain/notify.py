"""Notifications, written to the outbox in the same transaction as their cause.

Staff messages carry no feedback text or contact details, only the code and a link: e-mail
and SMS leave the platform. Each message is in its recipient's language.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback import codes
from feedback.domain.reference import NOTIFIED_ROLES, NOTIFIED_ROLES_SENSITIVE
from feedback.i18n import N_, translate
from feedback.models import FeedbackItem, OutboxMessage, Partner, User, utcnow
from feedback.models.items import AnyItem

STATUS_LABELS = {
    "received": N_("received"),
    "acknowledged": N_("acknowledged"),
    "in_progress": N_("in progress"),
    "resolved": N_("resolved"),
    "closed": N_("closed"),
    "referred": N_("referred to another partner"),
    "not_actionable": N_("not actionable"),
    "reopened": N_("reopened"),
}


def message_row(
    *,
    channel: str,
    recipient: str,
    body: str,
    purpose: str,
    locale: str,
    item: AnyItem | None = None,
    subject: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The columns of one outbox message (inserted one by one, or many at once by intake)."""
    return {
        "channel": channel,
        "recipient": recipient,
        "subject": subject,
        "body": body,
        "purpose": purpose,
        "locale": locale,
        "item_id": item.id if item is not None else None,
        "next_attempt_at": now or utcnow(),
        "message_key": uuid.uuid4().hex,
    }


def enqueue(session: AsyncSession, **fields: Any) -> OutboxMessage:
    """Add one message to the outbox (the caller's transaction commits it)."""
    message = OutboxMessage(**message_row(**fields))
    session.add(message)
    return message


SENSITIVE = ("S2", "S3")


async def _partner_recipients(
    session: AsyncSession, partner_id: int, *, sensitive: bool = False
) -> list[tuple[str, str]]:
    """(e-mail, locale) of a partner's active staff with an address, else the partner's own.

    For a sensitive (S2/S3) item only managers and safeguarding officers are told: agents may
    not open such items, so a message would only tell them one exists.
    """
    roles = NOTIFIED_ROLES_SENSITIVE if sensitive else NOTIFIED_ROLES
    users = (
        await session.execute(
            select(User.email, User.locale).where(
                User.partner_id == partner_id,
                User.active,
                User.email.is_not(None),
                User.role.in_(roles),
            ).order_by(User.id)
        )
    ).all()
    if users:
        return [(email, locale) for email, locale in users]
    partner = await session.get(Partner, partner_id)
    if partner is not None and partner.email:
        return [(partner.email, partner.locale)]
    return []


def _item_url(base_url: str, item: AnyItem) -> str:
    return f"{base_url}/portal/items/{item.id}"


async def notify_assignment(
    session: AsyncSession, item: FeedbackItem, partner_id: int, base_url: str, purpose: str = "assigned"
) -> None:
    """Tell a partner's staff that an item is now theirs."""
    recipients = await _partner_recipients(session, partner_id, sensitive=item.sensitivity in SENSITIVE)
    for row in assignment_messages(item, recipients, base_url, purpose):
        session.add(OutboxMessage(**row))


def assignment_messages(
    item: AnyItem, recipients: list[tuple[str, str]], base_url: str, purpose: str = "assigned"
) -> list[dict[str, Any]]:
    """The outbox rows telling ``recipients`` (e-mail, locale) that an item is theirs."""
    rows = []
    for email, locale in recipients:
        subject = translate("New feedback to answer: %(code)s", locale) % {"code": codes.display(item.tracking_code)}
        body = translate(
            "New feedback %(code)s has been assigned to your organisation. "
            "Please acknowledge it before %(deadline)s: %(url)s",
            locale,
        ) % {
            "code": codes.display(item.tracking_code),
            "deadline": item.acknowledge_by.strftime("%Y-%m-%d %H:%M") if item.acknowledge_by else "-",
            "url": _item_url(base_url, item),
        }
        rows.append(message_row(channel="email", recipient=email, subject=subject, body=body,
                                purpose=purpose, locale=locale, item=item))
    return rows


async def notify_escalation(
    session: AsyncSession, item: FeedbackItem, partner_id: int | None, base_url: str
) -> None:
    """Tell the next partner up the chain, and the admins, that an item is overdue.

    Admins may not open sensitive items, so S2/S3 escalations go to the safeguarding officers
    instead; an S3 item is never announced to a partner that runs the facility concerned.
    """
    sensitive = item.sensitivity in SENSITIVE
    recipients: list[tuple[str, str]] = []
    if partner_id:
        partner = await session.get(Partner, partner_id)
        concerned = item.sensitivity == "S3" and partner is not None and partner.site_id == item.site_id
        if not concerned:
            recipients = await _partner_recipients(session, partner_id, sensitive=sensitive)
    overseers = (
        await session.execute(
            select(User.email, User.locale)
            .where(
                User.role == ("safeguarding_officer" if sensitive else "admin"),
                User.active,
                User.email.is_not(None),
            )
            .order_by(User.id)
        )
    ).all()
    seen = set()
    for email, locale in [*recipients, *overseers]:
        if email in seen:
            continue
        seen.add(email)
        subject = translate("Overdue feedback: %(code)s", locale) % {"code": codes.display(item.tracking_code)}
        body = translate(
            "Feedback %(code)s is overdue and has been escalated to you. Please follow it up: %(url)s",
            locale,
        ) % {"code": codes.display(item.tracking_code), "url": _item_url(base_url, item)}
        enqueue(session, channel="email", recipient=email, subject=subject, body=body,
                purpose="escalated", locale=locale, item=item)


def notify_submitter(session: AsyncSession, item: FeedbackItem, base_url: str) -> None:
    """A message to a submitter who agreed to be contacted, with the new status.

    By SMS when they gave a phone number, otherwise by e-mail. The text names only the code
    and the status: a shared phone must not reveal what the feedback was about.
    """
    if not item.contact_consent or item.contact_erased_at is not None:
        return
    if not (item.contact_phone or item.contact_email):
        return
    locale = item.language if item.language in ("fr", "bm", "en") else "fr"
    body = translate("Your feedback %(code)s is now: %(status)s. Details: %(url)s", locale) % {
        "code": codes.display(item.tracking_code),
        "status": translate(STATUS_LABELS[item.status], locale),
        "url": f"{base_url}/track/{item.tracking_code}",
    }
    if item.contact_phone:
        enqueue(session, channel="sms", recipient=item.contact_phone, body=body,
                purpose="status_update", locale=locale, item=item)
    else:
        assert item.contact_email is not None
        subject = translate("News about your feedback %(code)s", locale) % {
            "code": codes.display(item.tracking_code)}
        enqueue(session, channel="email", recipient=item.contact_email, subject=subject, body=body,
                purpose="status_update", locale=locale, item=item)
