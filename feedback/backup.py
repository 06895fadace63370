"""``feedback backup PATH``: a consistent copy of the database, safe while the server writes.

SQLite: SQLite's online backup API copies every page from one read transaction, so the copy
is the database at one instant even while the server goes on writing (WAL lets it). The
copy is written beside the target, checked with ``PRAGMA integrity_check``, and only then
renamed into place, so a failed backup never leaves a half-written file under the name.

PostgreSQL: ``pg_dump`` in custom format (restore with ``pg_restore``), run on a snapshot
exported from our own transaction so that the item count printed matches the dump exactly.

Restoring is described in docs/operations.md.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from feedback.settings import Settings


class BackupError(Exception):
    """The backup could not be made; the message is a one-line reason."""


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _target(path: str, suffix: str) -> Path:
    """The file to write: ``path`` itself, or a time-stamped file inside it if it is a directory."""
    target = Path(path).expanduser()
    if target.is_dir():
        target = target / f"feedback-{_stamp()}{suffix}"
    if target.exists():
        raise BackupError(f"{target} already exists: choose a new file name (backups never overwrite)")
    if not target.parent.is_dir():
        raise BackupError(f"directory {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK):
        raise BackupError(f"directory {target.parent} is not writable")
    return target


def _size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{n} bytes"  # pragma: no cover


def backup(settings: Settings, path: str) -> str:
    """Write a consistent backup to ``path``; returns a one-line summary (path, size, items)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _backup_sqlite(url.database or "", path)
    if url.get_backend_name() == "postgresql":
        return _backup_postgres(settings.database_url, path)
    raise BackupError(f"cannot back up a {url.get_backend_name()} database")


def _backup_sqlite(database: str, path: str) -> str:
    if not database or database == ":memory:" or not Path(database).is_file():
        raise BackupError(f"database file {database or '(none)'} not found")
    target = _target(path, ".db")
    partial = target.with_name(f".{target.name}.partial")
    try:
        source = sqlite3.connect(database, timeout=30)
        try:
            copy = sqlite3.connect(partial)
            try:
                # One step (pages=-1): one read transaction, so one consistent instant. A
                # stepwise copy would restart whenever the server writes in between.
                source.backup(copy, pages=-1)
                # A standalone file: no -wal/-shm companions needed to open the copy.
                copy.execute("PRAGMA journal_mode=DELETE")
                problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
                if problems != ["ok"]:
                    raise BackupError(f"the copy failed its integrity check: {problems[0]}")
                items = copy.execute("SELECT count(*) FROM feedback_item").fetchone()[0]
            finally:
                copy.close()
        finally:
            source.close()
        partial.replace(target)
    except sqlite3.Error as exc:
        raise BackupError(f"could not copy {database}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return f"backup written to {target} ({_size(target.stat().st_size)}, {items:,} items, integrity ok)"


def _backup_postgres(database_url: str, path: str) -> str:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump not found: install the PostgreSQL client tools of the server's "
                          "version (Debian: apt install postgresql-client)")
    target = _target(path, ".dump")
    items = asyncio.run(_dump_postgres(pg_dump, database_url, target))
    return f"backup written to {target} ({_size(target.stat().st_size)}, {items:,} items, pg_dump custom format)"


async def _dump_postgres(pg_dump: str, database_url: str, target: Path) -> int:
    """Dump to ``target`` from an exported snapshot; returns the items in that snapshot."""
    import asyncpg

    url = make_url(database_url).set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        # Through the environment, not the command line (which other users can read).
        env["PGPASSWORD"] = str(url.password)
    dsn = url.set(password=None).render_as_string(hide_password=False)
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    partial = target.with_name(f".{target.name}.partial")
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            items = await conn.fetchval("SELECT count(*) FROM feedback_item")
            process = await asyncio.create_subprocess_exec(
                pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={partial}", "--no-owner",
                f"--dbname={dsn}", stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            )
            _out, err = await process.communicate()
        if process.returncode != 0:
            reason = err.decode(errors="replace").strip().splitlines()
            raise BackupError(f"pg_dump failed: {reason[-1] if reason else f'exit status {process.returncode}'}")
        partial.replace(target)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"could not dump the database: {exc}") from exc
    finally:
        await conn.close()
        partial.unlink(missing_ok=True)  # noqa: ASYNC240 (a tiny local file)
    return int(items)
