"""Shared fixtures: a fresh real database per test (SQLite file or PostgreSQL), the app, a client.

Set FEEDBACK_TEST_DATABASE_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test) to run
the same suite on PostgreSQL; each test then gets its own database cloned from a template.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from feedback import migrate
from feedback.app import create_app
from feedback.db import Database
from feedback.models import utcnow
from feedback.settings import Settings, load_settings

PG_URL = os.environ.get("FEEDBACK_TEST_DATABASE_URL", "")
SECRET = "test-secret-key-0123456789abcdef0123456789"


def is_postgres() -> bool:
    return PG_URL.startswith("postgresql")


def _pg_admin_url(database: str) -> str:
    base = PG_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


async def _pg_execute(sql: str) -> None:
    import asyncpg

    dsn = _pg_admin_url(PG_URL.rsplit("/", 1)[1]).replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def seed_base(url: str) -> None:
    """Taxonomy, Bamako places, partners, rules, demo users and kiosks; no items."""
    from feedback.seed import ensure_taxonomy, seed_kiosks, seed_places_and_partners

    db = Database(url)
    try:
        async with db.write() as session, session.begin():
            await ensure_taxonomy(session)
            await seed_places_and_partners(session, utcnow().date())
            await seed_kiosks(session, utcnow())
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, seeded database that each test copies."""
    if is_postgres():
        name = f"feedback_tmpl_{os.getpid()}"
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
        url = _pg_admin_url(name)
        migrate.upgrade(url)
        asyncio.run(seed_base(url))
        yield name
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite+aiosqlite:///{path}"
        migrate.upgrade(url)
        asyncio.run(seed_base(url))
        yield str(path)


class PgSnapshot:
    """The seeded rows of every table, restored before each test (much faster than cloning)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.rows: dict[str, tuple[list[str], list[tuple[object, ...]]]] = {}

    def _tables(self) -> list[str]:
        import feedback.models  # noqa: F401
        from feedback.db import Base

        return [t.name for t in Base.metadata.sorted_tables]

    async def capture(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            for table in self._tables():
                records = await conn.fetch(f'SELECT * FROM "{table}"')
                columns = list(records[0].keys()) if records else []
                self.rows[table] = (columns, [tuple(r.values()) for r in records])
        finally:
            await conn.close()

    async def restore(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            tables = self._tables()
            async with conn.transaction():
                quoted = ", ".join(f'"{t}"' for t in tables)
                await conn.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
                for table in tables:
                    columns, records = self.rows.get(table, ([], []))
                    if records:
                        await conn.copy_records_to_table(table, records=records, columns=columns)
                        if "id" in columns:
                            await conn.execute(
                                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                f'(SELECT max(id) FROM "{table}"))'
                            )
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def pg_work_database(template_database: str) -> Iterator[tuple[str, PgSnapshot]]:
    """One PostgreSQL database for the session, reset to the seeded state before each test."""
    name = f"feedback_work_{os.getpid()}"
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    url = _pg_admin_url(name)
    snapshot = PgSnapshot(url.replace("postgresql+asyncpg", "postgresql"))
    asyncio.run(snapshot.capture())
    yield url, snapshot
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(request: pytest.FixtureRequest, template_database: str, tmp_path: Path) -> Iterator[str]:
    """A database in the seeded state for one test (a file copy on SQLite, a reset on PostgreSQL)."""
    from feedback.domain import reference

    reference.forget()  # the same URL may now hold other data (PostgreSQL is reset in place)
    if is_postgres():
        url, snapshot = request.getfixturevalue("pg_work_database")
        asyncio.run(snapshot.restore())
        yield url
    else:
        path = tmp_path / "feedback.db"
        shutil.copy(template_database, path)
        yield f"sqlite+aiosqlite:///{path}"


def make_settings(database_url: str, data_dir: Path, **overrides: str) -> Settings:
    env = {
        "FEEDBACK_ENV": "test",
        "FEEDBACK_DATA_DIR": str(data_dir),
        "FEEDBACK_DATABASE_URL": database_url,
        "FEEDBACK_SECRET_KEY": SECRET,
        "FEEDBACK_SMS_SECRET": "sms-test-secret",
        "FEEDBACK_BASE_URL": "http://testserver",
    }
    env.update(overrides)
    return load_settings(env)


@pytest.fixture(autouse=True)
def source_language() -> Iterator[None]:
    """Domain code called directly by tests speaks the source language (English)."""
    from feedback import i18n

    token = i18n.current_locale.set("en")
    yield
    i18n.current_locale.reset(token)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest_asyncio.fixture
async def app(settings: Settings) -> AsyncIterator[object]:
    application = create_app(settings)
    yield application
    await application.state.db.dispose()


@pytest_asyncio.fixture
async def db(app: object) -> Database:
    """The app's own database handle (read/write session makers)."""
    return app.state.db  # type: ignore[attr-defined,no-any-return]


@pytest_asyncio.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4711))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


_TOKEN = re.compile(r'"X-CSRF-Token": "([0-9a-f]{64})"')


async def csrf_token(client: httpx.AsyncClient, path: str = "/") -> str:
    """Load a page and return its CSRF token (the client keeps the cookie)."""
    response = await client.get(path)
    match = _TOKEN.search(response.text)
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


async def login(client: httpx.AsyncClient, login_name: str, password: str | None = None) -> httpx.Response:
    """Sign in as a demo account."""
    from feedback.seed import DEMO_PASSWORD

    # Staff pages in the source language, so assertions read as the code does.
    client.cookies.set("lang", "en")
    token = await csrf_token(client, "/login")
    response = await client.post(
        "/login", data={"login": login_name, "password": password or DEMO_PASSWORD, "csrf_token": token}
    )
    assert response.status_code in (302, 303), response.text[:500]
    return response


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run browser journeys last.

    Playwright's sync API keeps an event loop running in the main thread while a browser is
    open, which the asyncio-based tests cannot share; putting the journeys at the end keeps the
    two apart without slowing either.
    """
    items.sort(key=lambda item: "tests/browser/" in str(item.path).replace("\\", "/"))
