"""Statements compiled once and run straight on the database driver, for the hottest writes.

Through SQLAlchemy's async adapter a statement costs ~40 µs before the database sees it (the
greenlet round trip to the driver, the compiled-cache lookup, bind processing row by row, the
result object); SQLite runs an intake statement in a few. A batch of submissions sends a dozen
(docs/BENCHMARKS.md). A ``Prepared`` statement is compiled by SQLAlchemy once per dialect, with
the dialect's own bind processors and the columns' own defaults, so what reaches the database
is what ``Connection.execute`` would send. On the SQLite writer, whose connection runs on the
event loop's thread (``feedback.sqlite_inline``), it goes to the sqlite3 cursor directly;
anywhere else through ``Connection.exec_driver_sql``.

Two shapes only: INSERT (or upsert) of rows that all have the same keys, and SELECT of a few
columns where one column is in a list of values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, bindparam, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import Insert

from feedback import sqlite_inline


@dataclass(frozen=True)
class Prepared:
    """An INSERT compiled for one dialect and one set of keys."""

    sql: str
    # For each parameter, in order: the row key it reads, or None for a column default.
    keys: tuple[str | None, ...]
    defaults: tuple[Callable[[], Any] | None, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for key, default, process in zip(self.keys, self.defaults, self.processors, strict=True):
            value = row[key] if key is not None else default()  # type: ignore[misc]
            values.append(process(value) if process is not None else value)
        return tuple(values)


def _default(column: Column[Any]) -> Callable[[], Any]:
    default = column.default
    assert default is not None, column
    if default.is_callable:
        return functools.partial(default.arg, None)  # type: ignore[arg-type]
    value = default.arg  # type: ignore[attr-defined]
    return lambda: value


@functools.lru_cache(maxsize=256)
def prepare(statement: Insert, dialect: Dialect, keys: tuple[str, ...]) -> Prepared:
    """``statement`` compiled for rows with ``keys`` (the table's defaults fill the rest).

    Remembered by the statement object itself: build statements once (module constants).
    """
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    table = statement.table
    prefetch = {column.key for column in compiled.insert_prefetch}  # type: ignore[attr-defined]
    names = compiled.positiontup or []
    binds = compiled.binds
    order: list[str | None] = []
    defaults: list[Callable[[], Any] | None] = []
    processors: list[Callable[[Any], Any] | None] = []
    for name in names:
        column = table.c[binds[name].key] if binds[name].key in table.c else None  # type: ignore[union-attr]
        if column is None:
            raise ValueError(f"parameter {name!r} is not a column of {table}")
        if column.key in keys:
            order.append(column.key)
            defaults.append(None)
        elif column.key in prefetch:
            order.append(None)
            defaults.append(_default(column))
        else:
            raise ValueError(f"no value for {column.key!r} in {keys}")
        processors.append(column.type.dialect_impl(dialect).bind_processor(dialect))
    unused = set(keys) - set(order)
    if unused:  # Core refuses such rows ("unconsumed column names"): so do we
        raise ValueError(f"not columns of {table}: {sorted(unused)}")
    return Prepared(str(compiled), tuple(order), tuple(defaults), tuple(processors))


def _sqlite_cursor(connection: Connection) -> Any | None:
    """The sqlite3 cursor of the inline SQLite writer, or None for any other connection."""
    driver = connection.connection.driver_connection
    if isinstance(driver, sqlite_inline.InlineConnection):
        return driver.raw_cursor()
    return None


def execute_many(connection: Connection, statement: Insert, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) in the connection's transaction."""
    if not rows:
        return
    prepared = prepare(statement, connection.dialect, tuple(rows[0]))
    parameters = [prepared.parameters(row) for row in rows]
    cursor = _sqlite_cursor(connection)
    if cursor is None:
        connection.exec_driver_sql(prepared.sql, parameters)  # type: ignore[arg-type]
        return
    try:
        cursor.executemany(prepared.sql, parameters)
    finally:
        cursor.close()


@dataclass(frozen=True)
class PreparedSelect:
    """A SELECT of some columns where one column is in a list of ``size`` values."""

    sql: str
    processors: tuple[Callable[[Any], Any] | None, ...]
    parameter: Callable[[Any], Any] | None


@functools.lru_cache(maxsize=256)
def prepare_select_in(columns: tuple[Column[Any], ...], key: Column[Any], size: int, dialect: Dialect) -> PreparedSelect:
    """``SELECT columns WHERE key IN (size values)`` compiled for ``dialect``."""
    statement = select(*columns).where(key.in_([bindparam(f"v{n}") for n in range(size)]))
    compiled = statement.compile(dialect=dialect)
    if (compiled.positiontup or []) != [f"v{n}" for n in range(size)]:  # pragma: no cover
        raise ValueError("unexpected parameters in the compiled statement")
    return PreparedSelect(
        str(compiled),
        tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns),
        key.type.dialect_impl(dialect).bind_processor(dialect),
    )


def select_in(
    connection: Connection, columns: tuple[Column[Any], ...], key: Column[Any], values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """The rows (``columns``) whose ``key`` is one of ``values``, converted as SQLAlchemy does."""
    if not values:
        return []
    # A few sizes only: the lists of one batch are padded to the next power of two.
    size = 1 << (len(values) - 1).bit_length()
    prepared = prepare_select_in(columns, key, size, connection.dialect)
    process = prepared.parameter
    parameters = [process(v) if process is not None else v for v in values]
    parameters += [parameters[-1]] * (size - len(values))
    cursor = _sqlite_cursor(connection)
    if cursor is None:
        rows = connection.exec_driver_sql(prepared.sql, tuple(parameters)).all()  # type: ignore[arg-type]
    else:
        try:
            rows = cursor.execute(prepared.sql, parameters).fetchall()
        finally:
            cursor.close()
    processors = prepared.processors
    return [tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True)) for row in rows]
