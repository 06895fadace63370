"""Engine, sessions, naming convention and the SQLite pragmas."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import MetaData, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from feedback import sqlite_inline

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, busy_timeout_ms: int = 10000) -> None:
    # Set on every connection: WAL lets readers run beside the one writer; NORMAL is durable
    # with WAL across a process kill (only an OS crash can lose the last commits).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str, *, writer: bool = False, inline: bool = False, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite connections get their pragmas.

    A SQLite *writer* engine opens every transaction with ``BEGIN IMMEDIATE`` and holds one
    connection, so writers in this process queue in the pool instead of failing with
    "database is locked" when a read transaction tries to upgrade to a write. Its statements
    run on the event loop's thread (``feedback.sqlite_inline``), so a write transaction holds
    the lock only as long as its own work takes. An *inline* engine is a reader whose
    statements run on the event loop's thread too (for reads that stay small, see
    ``Database.read_bounded``).
    """
    if url.startswith("sqlite"):
        busy_timeout_ms = 10000
        if writer:
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            kwargs.setdefault("pool_timeout", 60)
        if writer or inline:
            database = make_url(url).database
            if database and database != ":memory:":
                kwargs.setdefault("async_creator", sqlite_inline.connector(database, busy_timeout=10.0))
                busy_timeout_ms = 0  # it waits for the lock asynchronously instead
        engine = create_async_engine(url, connect_args={"timeout": 10}, **kwargs)
        event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, busy_timeout_ms=busy_timeout_ms))
        if writer:
            event.listen(engine.sync_engine, "connect", _autocommit_driver)
            event.listen(engine.sync_engine, "begin", _begin_immediate)
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_async_engine(url, **kwargs)
    return engine


def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (pysqlite's own BEGIN is deferred).
    dbapi_connection.isolation_level = None


def _begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engines and session makers of one process.

    ``read()`` sessions are for pages; ``write()`` sessions for any change. ``read_bounded()``
    sessions are for reads whose cost does not grow with the number of items (the boards: sums
    over aggregate tables, a page of items on an index): on SQLite their statements run on the
    event loop's thread, without aiosqlite's two or three thread round trips per statement,
    which cost more than such a query itself. On PostgreSQL all three use the same engine.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = create_engine(url, **kwargs)
        self.write_engine = create_engine(url, writer=True, **kwargs) if self.is_sqlite else self.engine
        self.bounded_engine = create_engine(url, inline=True, **kwargs) if self.is_sqlite else self.engine
        self.read = async_sessionmaker(self.engine, expire_on_commit=False)
        self.write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self.read_bounded = async_sessionmaker(self.bounded_engine, expire_on_commit=False)

    async def dispose(self) -> None:
        await self.engine.dispose()
        for engine in {self.write_engine, self.bounded_engine} - {self.engine}:
            await engine.dispose()
