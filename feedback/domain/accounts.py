"""Staff accounts: creation, password changes and resets."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.models import Partner, Site, User, UserSite
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
    sites = []
    for code in site_codes or []:
        site = await session.scalar(select(Site).where(Site.code == code.upper()))
        if site is None:
            raise AccountError(f"unknown site {code!r}")
        sites.append(site)
    user = User(login=login, name=name, role=role, password_hash=hash_password(password),
                partner_id=partner.id if partner else None, locale=locale, email=email)
    session.add(user)
    await session.flush()
    for site in sites:
        session.add(UserSite(user_id=user.id, site_id=site.id))
    return user
