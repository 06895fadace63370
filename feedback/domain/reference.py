"""The configuration intake reads on every submission, loaded once and kept until it changes.

Sites, topics and their codes, routing rules, deadline rules, holidays and who is told about
new items change a few times a month; submissions arrive many times a second. Reading them
from the database on every submission made the write transaction long (DESIGN §12), so they
are kept in memory as one immutable ``Reference``.

When it is reloaded: a session that commits a change to one of these tables bumps this
process's generation (listeners below), so the next submission in this process sees the
change at once. Changes made by other processes (a second app worker, the CLI) are read again
after ``MAX_AGE`` seconds, by one task beside the requests (``read``); until then a new item
may be routed by the rules of a few seconds ago, exactly as if it had arrived a few seconds
earlier.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from feedback.models import (
    DeadlineRule,
    Holiday,
    Partner,
    RoutingRule,
    Site,
    Topic,
    TopicCode,
    User,
)

MAX_AGE = 5.0
log = logging.getLogger(__name__)
REFERENCE_MODELS: tuple[type, ...] = (Site, Topic, TopicCode, RoutingRule, Partner, DeadlineRule, Holiday, User)
_TABLES = frozenset(model.__tablename__ for model in REFERENCE_MODELS)  # type: ignore[attr-defined]
# Roles told about a new item; for S2/S3 only those who may open it (DESIGN §9).
NOTIFIED_ROLES = ("partner_manager", "partner_agent", "safeguarding_officer")
NOTIFIED_ROLES_SENSITIVE = ("partner_manager", "safeguarding_officer")


@dataclass(frozen=True)
class StaffAddress:
    partner_id: int
    role: str
    email: str
    locale: str


@dataclass(frozen=True)
class Reference:
    """One consistent reading of the configuration (detached ORM rows: read, never change)."""

    sites: dict[str, Site]
    topics: tuple[Topic, ...]
    codes: dict[tuple[int, str], TopicCode]
    rules: tuple[RoutingRule, ...]
    default_partner_id: int | None
    safeguarding_partner_id: int | None
    deadline_rules: tuple[DeadlineRule, ...]
    holidays: frozenset[date]
    partners: dict[int, Partner]
    staff: tuple[StaffAddress, ...]

    def site(self, code: str) -> Site | None:
        """An active site by its code (any case)."""
        return self.sites.get(code.upper())

    def topic(self, slug: str) -> Topic | None:
        """An active topic by its slug."""
        return self.topics_by_slug.get(slug)

    @property
    def topics_by_slug(self) -> dict[str, Topic]:
        return self._slugs

    def __post_init__(self) -> None:
        object.__setattr__(self, "_slugs", {t.slug: t for t in self.topics})
        object.__setattr__(self, "_rules_for", {})

    def rules_for(self, site_id: int, topic_id: int) -> tuple[RoutingRule, ...]:
        """The routing rules that may apply to an item of this site and topic (the few of all)."""
        cached: dict[tuple[int, int], tuple[RoutingRule, ...]] = self._rules_for  # type: ignore[attr-defined]
        rules = cached.get((site_id, topic_id))
        if rules is None:
            rules = cached[(site_id, topic_id)] = tuple(
                r for r in self.rules if r.site_id in (None, site_id) and r.topic_id in (None, topic_id)
            )
        return rules

    def recipients(self, partner_id: int, *, sensitive: bool) -> list[tuple[str, str]]:
        """(e-mail, locale) told about an item of this partner (see ``notify``)."""
        roles = NOTIFIED_ROLES_SENSITIVE if sensitive else NOTIFIED_ROLES
        staff = [(s.email, s.locale) for s in self.staff if s.partner_id == partner_id and s.role in roles]
        if staff:
            return staff
        partner = self.partners.get(partner_id)
        return [(partner.email, partner.locale)] if partner is not None and partner.email else []


async def load(session: AsyncSession) -> Reference:
    """Read the whole configuration in the session's transaction."""
    sites = (await session.scalars(select(Site).where(Site.active))).all()
    topics = (await session.scalars(select(Topic).where(Topic.active).order_by(Topic.position, Topic.id))).all()
    codes = (await session.scalars(select(TopicCode))).all()
    rules = (await session.scalars(select(RoutingRule).order_by(RoutingRule.id))).all()
    partners = (await session.scalars(select(Partner).order_by(Partner.id))).all()
    deadline_rules = (await session.scalars(select(DeadlineRule).order_by(DeadlineRule.id))).all()
    holidays = (await session.scalars(select(Holiday.day))).all()
    staff = (
        await session.execute(
            select(User.partner_id, User.role, User.email, User.locale)
            .where(User.active, User.email.is_not(None), User.partner_id.is_not(None))
            .order_by(User.id)
        )
    ).all()
    return Reference(
        sites={s.code.upper(): s for s in sites},
        topics=tuple(topics),
        codes={(c.topic_id, c.slug): c for c in codes},
        rules=tuple(rules),
        default_partner_id=_first(p.id for p in partners if p.is_default),
        safeguarding_partner_id=_first(p.id for p in partners if p.is_safeguarding),
        deadline_rules=tuple(deadline_rules),
        holidays=frozenset(holidays),
        partners={p.id: p for p in partners},
        staff=tuple(StaffAddress(*row) for row in staff),
    )


def _first(ids: Iterable[int]) -> int | None:
    return next(iter(ids), None)


# --- the cache -------------------------------------------------------------------------------

_generation = 0
_cache: dict[str, tuple[int, float, Reference | None]] = {}
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def _key(session: AsyncSession) -> str:
    bind: Any = session.get_bind()
    engine = getattr(bind, "engine", bind)
    return engine.url.render_as_string(hide_password=True)


async def current(session: AsyncSession) -> Reference:
    """The configuration as this session may use it: cached, or read when it may have changed.

    A session that has itself changed the configuration (not yet committed) always reads it
    afresh, and what it reads is not kept: it may still be rolled back.
    """
    if session.sync_session.info.get(_CHANGED):
        return await load(session)
    key = _key(session)
    reference, fresh = _cached(key)
    if reference is not None and (fresh or key in _refreshing):
        # Only older than MAX_AGE, and already being read again: that reading is on its way.
        return reference
    return await _reload(session, key)


async def _reload(session: AsyncSession, key: str) -> Reference:
    # One reload at a time: when the reading expires under load, the requests in flight would
    # otherwise all read the configuration at once, each through the read pool.
    locks = _locks.setdefault(asyncio.get_running_loop(), {})
    async with locks.setdefault(key, asyncio.Lock()):
        reference, fresh = _cached(key)
        if reference is None or not fresh:
            seen = _generation
            reference = await load(session)
            _cache[key] = (seen, time.monotonic(), reference)
    return reference


def _cached(key: str) -> tuple[Reference | None, bool]:
    """The reading kept for ``key`` (None when there is none, or this process changed the
    configuration since), and whether it is younger than MAX_AGE."""
    generation, loaded_at, reference = _cache.get(key, (-1, 0.0, None))
    if reference is None or generation != _generation:
        return None, False
    return reference, time.monotonic() - loaded_at < MAX_AGE


_refreshing: set[str] = set()
_tasks: set[asyncio.Task[None]] = set()


async def read(db: Any) -> Reference:
    """The configuration through a ``Database``, opening a read session only to reload it.

    A reading only older than MAX_AGE (changes made by other processes) is still used while one
    task reads the configuration again beside the requests: under load, reading it in the
    requests' way stalled every request in flight for tens of milliseconds, every MAX_AGE. A
    change committed by this process is read before the next request uses the configuration.
    """
    key = db.engine.url.render_as_string(hide_password=True)
    reference, fresh = _cached(key)
    if reference is not None:
        if not fresh and key not in _refreshing:
            _refreshing.add(key)
            task = asyncio.get_running_loop().create_task(_refresh(db, key))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)
        return reference
    async with db.read() as session:
        return await current(session)


async def _refresh(db: Any, key: str) -> None:
    try:
        async with db.read() as session:
            await _reload(session, key)
    except Exception:  # noqa: BLE001 (the next request tries again; requests never see this)
        log.exception("reading the configuration again failed")
    finally:
        _refreshing.discard(key)


def forget() -> None:
    """Drop every cached reading (tests that reset a database under the app call this)."""
    global _generation
    _generation += 1
    _cache.clear()


# --- noticing changes --------------------------------------------------------------------------

_CHANGED = "reference_changed"


def _touches_reference(objects: Sequence[object]) -> bool:
    return any(isinstance(obj, REFERENCE_MODELS) for obj in objects)


@event.listens_for(Session, "before_flush")
def _note_changed_objects(session: Session, _ctx: Any, _instances: Any) -> None:
    if _touches_reference([*session.new, *session.dirty, *session.deleted]):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_changed_statements(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _TABLES:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    global _generation
    if session.info.pop(_CHANGED, False):
        _generation += 1


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_CHANGED, None)
