"""Staff accounts: creation, password changes and resets."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.domain import admin
from feedback.domain.access import Actor
from feedback.i18n import translate
from feedback.models import Partner, Site, User
from feedback.models.organisations import PARTNER_ROLES, ROLES
from feedback.passwords import MIN_LENGTH, hash_password


class AccountError(Exception):
    """An account cannot be created or changed as asked (a one-line reason)."""


async def create_user(
    session: AsyncSession,
    *,
    login: str,
    name: str,
    role: str,
    password: str,
    partner_slug: str | None = None,
    site_codes: list[str] | None = None,
    locale: str = "fr",
    email: str | None = None,
) -> User:
    """Create a staff account; partner roles need a partner, monitors their sites."""
    login = login.strip().lower()
    if not login or len(login) > 80:
        raise AccountError("the login must be 1 to 80 characters")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if len(password) < MIN_LENGTH:
        raise AccountError(f"the password must have at least {MIN_LENGTH} characters")
    if await session.scalar(select(User.id).where(User.login == login)):
        raise AccountError(f"a user with login {login!r} already exists")
    partner = None
    if partner_slug:
        partner = await session.scalar(select(Partner).where(Partner.slug == partner_slug))
        if partner is None:
            raise AccountError(f"unknown partner {partner_slug!r}")
    if role in PARTNER_ROLES and partner is None:
        raise AccountError(f"the role {role} needs --partner")
    site_ids = []
    for code in site_codes or []:
        site = await session.scalar(select(Site).where(Site.code == code.upper()))
        if site is None:
            raise AccountError(f"unknown site {code!r}")
        site_ids.append(site.id)
    # The same creation as the admin pages (checks, admin log), then the chosen password.
    try:
        user = await admin.create_user(
            session, Actor("system", label="cli"), login=login, name=name, role=role,
            partner_id=partner.id if partner else None, locale=locale, email=email, site_ids=site_ids,
        )
    except admin.ConfigError as exc:
        raise AccountError(translate(exc.message, "en") % exc.params) from exc
    user.password_hash = hash_password(password)
    return user
