"""One set of Alembic migrations for both databases: it round-trips and matches the models.

Runs on SQLite, and on PostgreSQL too when FEEDBACK_TEST_DATABASE_URL is set (in a scratch
database of its own).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

import feedback.models  # noqa: F401  (registers every table)
from feedback import migrate
from feedback.db import Base, Database, create_engine
from feedback.models.stats import COUNTERS
from tests.conftest import _pg_admin_url, _pg_execute, is_postgres


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it (not even the tables)."""
    if is_postgres():
        name = f"feedback_mig_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
        yield _pg_admin_url(name)
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


async def _run(url: str, fn: Any) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
    return list(compare_metadata(context, Base.metadata))


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    model_tables = set(Base.metadata.tables)
    migrate.upgrade(empty_database)
    assert asyncio.run(_run(empty_database, _tables)) == model_tables | {"alembic_version"}
    migrate.downgrade(empty_database)
    assert asyncio.run(_run(empty_database, _tables)) <= {"alembic_version"}
    # The comparison used below does see differences when there are some.
    assert len(asyncio.run(_run(empty_database, _differences))) >= len(model_tables)
    migrate.upgrade(empty_database)
    assert asyncio.run(_run(empty_database, _tables)) == model_tables | {"alembic_version"}


def test_models_and_migrations_agree(empty_database: str) -> None:
    """What `alembic check` does: autogenerate finds nothing to change after upgrading."""
    migrate.upgrade(empty_database)
    assert asyncio.run(_run(empty_database, _differences)) == []


def test_models_and_migrations_agree_through_alembic_check(empty_database: str) -> None:
    from alembic import command

    migrate.upgrade(empty_database)
    command.check(migrate.alembic_config(empty_database))  # raises when anything differs


@pytest.mark.skipif(is_postgres(), reason="SQLite connection settings")
async def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        for maker in (db.read, db.write, db.read_bounded):
            async with maker() as session:
                pragmas = {
                    name: (await session.execute(text(f"PRAGMA {name}"))).scalar()
                    for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
                }
            assert pragmas["journal_mode"] == "wal"
            assert pragmas["foreign_keys"] == 1
            # The writer waits for the lock without blocking the event loop (sqlite_inline),
            # so SQLite's own busy handler is off there.
            # The inline connections wait for a lock with asyncio.sleep, not inside SQLite.
            assert pragmas["busy_timeout"] == (10000 if maker is db.read else 0)
            assert pragmas["synchronous"] == 1  # NORMAL
    finally:
        await db.dispose()


async def _generate_items(url: str) -> None:
    from feedback import bulk
    from feedback.seed import ensure_taxonomy, seed_places_and_partners

    db = Database(url)
    try:
        async with db.write() as session, session.begin():
            await ensure_taxonomy(session)
            await seed_places_and_partners(session, datetime.now(UTC).date())
        await bulk.generate_items(db.write, 1500, batch_size=500, seed=3)
    finally:
        await db.dispose()


ROLL_UPS = (
    "stat_place", "stat_national_topic", "stat_national_equity", "stat_national_duration", "stat_due_month",
    "stat_site_topic", "stat_site_equity", "stat_site_duration",
)


def _roll_up_rows(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    result = {}
    for table in ROLL_UPS:
        columns = [c["name"] for c in inspect(conn).get_columns(table) if c["name"] != "id"]
        counters = [i for i, name in enumerate(columns) if name in COUNTERS or name == "count"]
        listed = ", ".join(columns)  # names read from the schema, not from input
        rows = conn.execute(text(f"SELECT {listed} FROM {table}")).all()  # noqa: S608
        # Rows whose counters are all zero carry no figure; the live code may leave them behind.
        result[table] = sorted(tuple(str(v) for v in row) for row in rows if any(row[i] for i in counters))
    return result


def test_upgrading_an_existing_database_fills_the_roll_ups(empty_database: str) -> None:
    """0002 and 0003 add the national and per-site roll-ups and fill them with what the live
    code would have written."""
    migrate.upgrade(empty_database)
    asyncio.run(_generate_items(empty_database))
    written_live = asyncio.run(_run(empty_database, _roll_up_rows))
    assert all(written_live[table] for table in ROLL_UPS)
    migrate.downgrade(empty_database, "0001")
    assert not set(ROLL_UPS) & asyncio.run(_run(empty_database, _tables))
    migrate.upgrade(empty_database)
    assert asyncio.run(_run(empty_database, _roll_up_rows)) == written_live
