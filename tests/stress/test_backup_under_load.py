"""Backups under write load (issue 9, point 7): ``feedback backup`` while kiosks keep sending
makes a copy that opens, passes its integrity check, and restores to a working server that
serves every item acknowledged before the backup began.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest

from bench import load, servers
from tests.conftest import _pg_admin_url, _pg_execute, is_postgres
from tests.stress.conftest import AcknowledgedLoad, fetch, integrity_check, tracked

CLIENTS = 16
ACKS_BEFORE_BACKUP = 200


async def run_backup(database_url: str, data_dir: Path, target: Path) -> str:
    """``python -m feedback backup TARGET`` as an operator runs it; returns its output."""
    env = servers.app_env(database_url, data_dir)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feedback", "backup", str(target), cwd=servers.PROJECT_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def restore(database_url: str, backup: Path) -> str:
    """The restore drill of docs/deploy.md: a new database from the backup; returns its URL."""
    if not is_postgres():
        return f"sqlite+aiosqlite:///{backup}"
    name = f"feedback_restore_{uuid.uuid4().hex[:10]}"
    await _pg_execute(f'CREATE DATABASE "{name}"')
    url = _pg_admin_url(name)
    process = await asyncio.create_subprocess_exec(
        "pg_restore", "--no-owner", "--exit-on-error",
        f"--dbname={url.replace('postgresql+asyncpg', 'postgresql')}", str(backup),
        stderr=asyncio.subprocess.PIPE, env=dict(os.environ),
    )
    _out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return url


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_backup_during_writes_restores_every_acknowledged_item(
    server_factory: object, database_url: str, tmp_path: Path
) -> None:
    server = server_factory()  # type: ignore[operator]
    run = AcknowledgedLoad(server.url, clients=CLIENTS, until=ACKS_BEFORE_BACKUP, label="writes")
    acknowledged, stop, loading = run.acknowledged, run.stop, run.task
    await asyncio.wait_for(run.enough.wait(), timeout=240)
    before_backup = dict(acknowledged)
    target = tmp_path / ("backup.dump" if is_postgres() else "backup.db")
    output = await run_backup(database_url, tmp_path, target)
    during = len(acknowledged) - len(before_backup)
    # Keep writing a little after the backup, then stop.
    await asyncio.sleep(0.5)
    stop.set()
    result = await loading
    assert result.server_errors == 0, result.statuses
    assert during > 0, "the load should go on while the backup runs"
    assert "backup written" in output

    if not is_postgres():
        assert integrity_check(target) == ["ok"]
        assert not await asyncio.to_thread(Path(f"{target}-wal").exists)
    restored_url = await restore(database_url, target)
    restored: servers.Server | None = None
    try:
        rows = await fetch(restored_url, "SELECT idempotency_key, tracking_code FROM feedback_item")
        stored = dict(rows)
        missing = {k for k, c in before_backup.items() if stored.get(k) != c}
        assert missing == set(), f"{len(missing)} acknowledged items missing from the backup"
        restored = server_factory(restored_url)  # type: ignore[operator]
        statuses = await tracked(restored.url, sorted(before_backup.values()))
        assert set(statuses.values()) == {200}
        # The restored server takes new submissions too.
        again = await load.run_load(restored.url, load.kiosk_submit_as("multipart"), clients=2, count=10,
                                    duration=60, setup=load.kiosk_setup, check=load.receipt_check)
        assert again.ok == 10, again.statuses
    finally:
        if restored is not None:
            restored.stop()
        if is_postgres():
            name = restored_url.rsplit("/", 1)[1]
            await _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
