"""A SQLite connection for the one writer, run on the event loop's own thread.

aiosqlite runs every call on a thread of its own and wakes the event loop with the result:
about fifty round trips for one submission (cursor, execute, fetch, close, for each statement).
While the writer holds SQLite's write lock, each round trip waits behind whatever other
requests the loop runs in between, so under load the lock was held ~86 ms for ~2 ms of work
(docs/BENCHMARKS.md). Writes are short, so the writer runs them inline instead: a statement
costs microseconds and nothing runs between the statements of a transaction.

Only waiting is asynchronous: when another process holds the write lock, SQLite's own busy
handler would block the whole loop, so this connection has no busy timeout and waits with
``asyncio.sleep`` instead, up to ``busy_timeout`` seconds. Likewise the WAL checkpoint, which
copies the log back into the database and syncs it to disk (tens of milliseconds, and more on a
slow disk): SQLite would run it inside a COMMIT every 1,000 pages; here a COMMIT that leaves
the log over ``CHECKPOINT_BYTES`` starts one on a thread of its own instead, and the next
write transaction waits for it asynchronously, so that the log can start over.

It offers the part of aiosqlite's interface that SQLAlchemy's ``sqlite+aiosqlite`` dialect
uses, and is plugged in with ``create_async_engine(..., async_creator=...)`` (``feedback.db``).
Most reads stay on aiosqlite, where a long one (an export, a search) does not hold up other
requests; reads that stay small whatever the number of items (the boards) use an inline
connection too (``Database.read_bounded``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

_FIRST_WAIT = 0.001
_LONGEST_WAIT = 0.05
CHECKPOINT_BYTES = 4 * 1024 * 1024  # SQLite's own default: 1,000 pages of 4 KiB
log = logging.getLogger(__name__)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor, busy_timeout: float, checkpointer: _Checkpointer) -> None:
        self._cursor = cursor
        self._busy_timeout = busy_timeout
        self._checkpointer = checkpointer

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        if sql.startswith("BEGIN"):  # the writer's BEGIN IMMEDIATE (see _Checkpointer)
            await self._checkpointer.finished()
        await self._busy_retry(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        rows = list(parameters)
        await self._busy_retry(lambda: self._cursor.executemany(sql, rows))
        return self

    async def _busy_retry(self, statement: Callable[[], object]) -> None:
        # A statement refused with SQLITE_BUSY changed nothing: run it again, as SQLite's
        # busy handler would, but let the loop serve other requests meanwhile.
        deadline = time.monotonic() + self._busy_timeout
        wait = _FIRST_WAIT
        while True:
            try:
                statement()
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _RunNow:
    """Stands in for aiosqlite's job queue, which SQLAlchemy uses to set the isolation level."""

    def put_nowait(self, job: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = job
        try:
            future.set_result(function())
        except Exception as error:  # noqa: BLE001 (handed to the awaiting caller)
            future.set_exception(error)


class _Checkpointer:
    """Runs ``wal_checkpoint(PASSIVE)`` for one database file, one at a time, off the loop.

    The log starts over only when a write transaction begins after a checkpoint has copied all
    of it; a commit made while a checkpoint runs adds to it again. So, as SQLite's own checkpoint
    inside COMMIT does, the next write transaction waits for the checkpoint to finish (the loop
    goes on serving meanwhile): otherwise, under steady writes, a checkpoint was always running,
    the log never started over, and it grew by ~30 MB a second (docs/BENCHMARKS.md).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.wal = path + "-wal"
        # A thread's future, not a loop's: a writer on another event loop of this process (a
        # command, a test) may wait for it too.
        self.running: concurrent.futures.Future[None] | None = None

    async def finished(self) -> None:
        """Wait for the checkpoint in progress, if any (never cancels it)."""
        running = self.running
        if running is not None and not running.done():
            await asyncio.shield(asyncio.wrap_future(running))

    def after_commit(self) -> None:
        if self.running is not None and not self.running.done():
            return
        try:
            if os.stat(self.wal).st_size < CHECKPOINT_BYTES:
                return
        except FileNotFoundError:
            return
        self.running = _checkpoint_thread.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        # PASSIVE: copies what no reader still needs; writers go on appending meanwhile.
        try:
            connection = sqlite3.connect(self.path, timeout=10)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                connection.close()
        except sqlite3.Error:
            log.exception("WAL checkpoint of %s failed (the next commit tries again)", self.path)


_checkpointers: dict[str, _Checkpointer] = {}
_checkpoint_thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")


class InlineConnection:
    def __init__(self, connection: sqlite3.Connection, busy_timeout: float, path: str) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._busy_timeout = busy_timeout
        self._tx = _RunNow()
        self._checkpointer = _checkpointers.setdefault(path, _Checkpointer(path))

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._open().cursor(), self._busy_timeout, self._checkpointer)

    def raw_cursor(self) -> sqlite3.Cursor:
        """A plain sqlite3 cursor, for statements run inside a write transaction already begun
        (which holds the write lock, so they are never refused as busy)."""
        return self._open().cursor()

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        return await self.cursor().executemany(sql, parameters)

    async def commit(self) -> None:
        self._open().commit()
        self._checkpointer.after_commit()

    async def rollback(self) -> None:
        self._open().rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def connector(path: str, *, busy_timeout: float = 10.0) -> Callable[[], Any]:
    """An ``async_creator`` for SQLAlchemy: opens ``path`` in autocommit mode, no busy timeout,
    no automatic checkpoint (see above)."""

    absolute = os.path.abspath(path)

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(absolute, isolation_level=None, check_same_thread=False, timeout=0)
        connection.execute("PRAGMA wal_autocheckpoint=0")
        # When the log starts over, truncate the file: its size is then what was written since,
        # which is what ``_Checkpointer`` measures (the file would otherwise keep its largest
        # size, and every commit start another checkpoint).
        connection.execute("PRAGMA journal_size_limit=0")
        return InlineConnection(connection, busy_timeout, absolute)

    return connect
