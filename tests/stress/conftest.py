"""A real server on the test's fresh database, and the helpers the stress tests share."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from bench import load, servers
from tests.conftest import is_postgres


@pytest.fixture
def server_factory(database_url: str, tmp_path: Path) -> Iterator[object]:
    """Start app servers (uvicorn subprocesses, rate limits off) on the test's database."""
    started: list[servers.Server] = []

    def start(url: str | None = None, *, workers: int = 1) -> servers.Server:
        server = servers.app_server(url or database_url, tmp_path, workers=workers)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL)."""
    url = make_url(database_url)
    return Path(url.database or "") if url.get_backend_name() == "sqlite" else None


def integrity_check(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]


async def scalar(database_url: str, sql: str, *params: object) -> object:
    """One value from the database (asyncpg or sqlite3), outside the app."""
    rows = await fetch(database_url, sql, *params)
    return rows[0][0] if rows else None


async def fetch(database_url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Rows of a raw query; ``?`` placeholders (rewritten to $n for PostgreSQL)."""
    if is_postgres() and not database_url.startswith("sqlite"):
        import asyncpg

        numbered = sql
        for n in range(1, sql.count("?") + 1):
            numbered = numbered.replace("?", f"${n}", 1)
        dsn = database_url.replace("postgresql+asyncpg", "postgresql")
        conn = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await conn.fetch(numbered, *params)]
        finally:
            await conn.close()
    path = sqlite_path(database_url)
    assert path is not None

    def run() -> list[tuple[object, ...]]:
        with sqlite3.connect(path, timeout=30) as conn:
            return list(conn.execute(sql, params))

    return await asyncio.to_thread(run)


async def tracked(base_url: str, codes: list[str], clients: int = 8) -> dict[str, int]:
    """GET /track/{code} for every code; returns code → status."""
    statuses: dict[str, int] = {}
    result = await load.run_load(
        base_url, load.get_path([f"/track/{c}" for c in codes]), clients=clients, count=len(codes),
        duration=300, label="track",
        on_response=lambda n, r: statuses.__setitem__(codes[n], r.status_code),
    )
    assert result.sent == len(codes)
    return statuses


def receipt_text_has(response: httpx.Response, code: str) -> bool:
    return code in response.text.replace("-", "")


class AcknowledgedLoad:
    """Kiosk submissions sent until stopped, remembering which ones got a receipt (key → code)."""

    def __init__(self, base_url: str, *, clients: int, until: int, label: str) -> None:
        self.keys = [load.new_key() for _ in range(20_000)]
        self.acknowledged: dict[str, str] = {}
        self.enough = asyncio.Event()  # set once `until` receipts came back
        self.stop = asyncio.Event()
        self._until = until
        self.task = asyncio.create_task(load.run_load(
            base_url, self._send, clients=clients, count=len(self.keys), duration=240, label=label,
            setup=load.kiosk_setup, check=load.receipt_check, on_response=self._record, stop=self.stop,
        ))

    async def _send(self, v: load.VirtualClient, n: int) -> httpx.Response:
        return await load.kiosk_submit(v, n, key=self.keys[n])

    def _record(self, n: int, response: httpx.Response) -> None:
        code = load.receipt_code(response)
        if response.status_code == 200 and code is not None:
            self.acknowledged[self.keys[n]] = code
            if len(self.acknowledged) >= self._until:
                self.enough.set()
