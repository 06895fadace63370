"""Administration: the audit trail of configuration changes, and staff accounts.

Every function here (and in ``domain.configuration``) takes the acting admin, writes one
``AdminLog`` row in the caller's transaction, and never commits.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.domain.access import Actor
from feedback.i18n import N_, gettext
from feedback.models import AdminLog, Partner, Site, User, UserSite, utcnow
from feedback.models.organisations import LOCALES, PARTNER_ROLES, ROLES
from feedback.passwords import hash_password


class ConfigError(Exception):
    """A configuration change is refused.

    ``message`` is a gettext msgid filled with ``params``; ``field`` names the form field at
    fault (None for the form as a whole).
    """

    def __init__(self, message: str, field: str | None = None, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.field = field
        self.params = params

    def translated(self) -> str:
        text = gettext(self.message)
        return text % self.params if self.params else text


def _json_safe(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    return value


def apply_changes(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Set attributes; return ``{field: [old, new]}`` for those that changed (for the log)."""
    changed: dict[str, list[Any]] = {}
    for name, new in values.items():
        old = getattr(obj, name, None)
        if old != new:
            changed[name] = [_json_safe(old), _json_safe(new)]
            setattr(obj, name, new)
    return changed


async def record(
    session: AsyncSession, actor: Actor, action: str, target: str, details: dict[str, Any] | None = None
) -> AdminLog:
    """Append one entry to the admin log (same transaction as the change)."""
    entry = AdminLog(
        user_id=actor.user_id,
        actor_label=(actor.label or actor.kind)[:80],
        created_at=utcnow(),
        action=action[:40],
        target=target[:160],
        details={k: _json_safe(v) for k, v in (details or {}).items()},
    )
    session.add(entry)
    await session.flush()
    return entry


# --- staff accounts -------------------------------------------------------------------------


async def _partner(session: AsyncSession, partner_id: int | None) -> Partner | None:
    if partner_id is None:
        return None
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise ConfigError(N_("Unknown partner."), "partner_id")
    return partner


async def _sites(session: AsyncSession, site_ids: list[int]) -> list[int]:
    if not site_ids:
        return []
    found = set((await session.scalars(select(Site.id).where(Site.id.in_(site_ids)))).all())
    if found != set(site_ids):
        raise ConfigError(N_("Unknown site."), "site_ids")
    return sorted(found)


def _check_account(role: str, partner: Partner | None, locale: str, name: str) -> None:
    if not name:
        raise ConfigError(N_("Enter a name."), "name")
    if role not in ROLES:
        raise ConfigError(N_("Choose a role from the list."), "role")
    if role in PARTNER_ROLES and partner is None:
        raise ConfigError(N_("Partner agents and managers need a partner."), "partner_id")
    if locale not in LOCALES:
        raise ConfigError(N_("Choose a language from the list."), "locale")


def _check_contact(email: str | None, phone: str | None) -> None:
    if email and ("@" not in email or len(email) > 200 or " " in email):
        raise ConfigError(N_("Enter a valid e-mail address."), "email")
    if phone and (len(phone) > 32 or not all(c.isdigit() or c in "+ -." for c in phone)):
        raise ConfigError(N_("Enter a valid phone number."), "phone")


async def _active_admins(session: AsyncSession) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.active))
        or 0
    )


async def create_user(
    session: AsyncSession,
    actor: Actor,
    *,
    login: str,
    name: str,
    role: str,
    partner_id: int | None = None,
    locale: str = "fr",
    email: str | None = None,
    phone: str | None = None,
    site_ids: list[int] | None = None,
) -> User:
    """Create a staff account with an unusable random password (send a reset link next)."""
    login = (login or "").strip().lower()
    name = (name or "").strip()
    if not login or len(login) > 80 or not all(c.isalnum() or c in "._-@" for c in login):
        raise ConfigError(N_("The login must be 1 to 80 letters, digits, dots, dashes or underscores."), "login")
    if await session.scalar(select(User.id).where(User.login == login)):
        raise ConfigError(N_("A user with the login %(login)s already exists."), "login", login=login)
    partner = await _partner(session, partner_id)
    _check_account(role, partner, locale, name)
    _check_contact(email, phone)
    sites = await _sites(session, site_ids or [])
    user = User(
        login=login, name=name, role=role, partner_id=partner.id if partner else None, locale=locale,
        email=email, phone=phone, password_hash=hash_password(secrets.token_urlsafe(32)),
    )
    session.add(user)
    await session.flush()
    for site_id in sites:
        session.add(UserSite(user_id=user.id, site_id=site_id))
    await record(session, actor, "user.create", f"user:{login}",
                 {"role": role, "partner_id": user.partner_id, "site_ids": sites})
    return user


async def user_site_ids(session: AsyncSession, user_id: int) -> list[int]:
    return sorted((await session.scalars(select(UserSite.site_id).where(UserSite.user_id == user_id))).all())


async def update_user(
    session: AsyncSession,
    actor: Actor,
    user_id: int,
    *,
    name: str,
    role: str,
    partner_id: int | None = None,
    locale: str = "fr",
    email: str | None = None,
    phone: str | None = None,
    site_ids: list[int] | None = None,
) -> User:
    """Change a user's name, role, partner, language, contact or watched sites."""
    user = await session.get(User, user_id)
    if user is None:
        raise ConfigError(N_("This user does not exist."))
    name = (name or "").strip()
    partner = await _partner(session, partner_id)
    _check_account(role, partner, locale, name)
    _check_contact(email, phone)
    if user.id == actor.user_id and role != "admin":
        raise ConfigError(N_("You cannot take the admin role away from yourself."), "role")
    sites = await _sites(session, site_ids or [])
    changed = apply_changes(user, {
        "name": name, "role": role, "partner_id": partner.id if partner else None,
        "locale": locale, "email": email, "phone": phone,
    })
    old_sites = await user_site_ids(session, user.id)
    if old_sites != sites:
        await session.execute(delete(UserSite).where(UserSite.user_id == user.id))
        for site_id in sites:
            session.add(UserSite(user_id=user.id, site_id=site_id))
        changed["site_ids"] = [old_sites, sites]
    if "role" in changed or "partner_id" in changed:
        # A new role or partner starts from a fresh sign-in.
        user.session_version += 1
    await session.flush()
    if changed:
        await record(session, actor, "user.update", f"user:{user.login}", changed)
    return user


async def set_user_active(session: AsyncSession, actor: Actor, user_id: int, active: bool) -> User:
    """Deactivate (sessions end at once) or reactivate an account; accounts are never deleted."""
    user = await session.get(User, user_id)
    if user is None:
        raise ConfigError(N_("This user does not exist."))
    if not active and user.id == actor.user_id:
        raise ConfigError(N_("You cannot deactivate your own account."))
    if not active and user.role == "admin" and user.active and await _active_admins(session) <= 1:
        raise ConfigError(N_("The last active admin cannot be deactivated."))
    if user.active != active:
        user.active = active
        user.session_version += 1
        await session.flush()
        await record(session, actor, "user.activate" if active else "user.deactivate", f"user:{user.login}")
    return user


async def record_reset_link(session: AsyncSession, actor: Actor, user: User) -> None:
    """Log that a password reset link was issued (the link itself is never logged)."""
    await record(session, actor, "user.reset_link", f"user:{user.login}")
