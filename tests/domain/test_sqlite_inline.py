"""The SQLite writer's checkpoints (feedback/sqlite_inline.py): the log stays small under steady
writes, and a write transaction waits for a running checkpoint without stopping the loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets

import pytest

from feedback import sqlite_inline
from feedback.db import Database
from feedback.domain import intake
from tests.conftest import is_postgres

pytestmark = pytest.mark.skipif(is_postgres(), reason="SQLite's write-ahead log")


def checkpointer_of(db: Database) -> sqlite_inline._Checkpointer:
    path = os.path.abspath(db.url.split("///", 1)[1])
    return sqlite_inline._checkpointers.setdefault(path, sqlite_inline._Checkpointer(path))


def submission() -> intake.Submission:
    return intake.Submission(
        site_code="BKO-C4-LAF", channel="kiosk", feedback_type="complaint", topic_slug="waiting",
        text="On attend trop longtemps", idempotency_key=secrets.token_urlsafe(16),
    )


async def test_the_log_starts_over_under_steady_writes(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = 512 * 1024  # several commits of four submissions
    monkeypatch.setattr(sqlite_inline, "CHECKPOINT_BYTES", limit)
    wal = db.url.split("///", 1)[1] + "-wal"
    checkpoints = 0
    real = sqlite_inline._Checkpointer._checkpoint

    def counted(self: sqlite_inline._Checkpointer) -> None:
        nonlocal checkpoints
        checkpoints += 1
        real(self)

    monkeypatch.setattr(sqlite_inline._Checkpointer, "_checkpoint", counted)
    largest = 0
    commits = 120
    for _ in range(commits):
        # Back to back, as under load: the next transaction is ready while a checkpoint runs.
        await asyncio.gather(*(intake.submit_once(db.write, submission()) for _ in range(4)))
        largest = max(largest, os.stat(wal).st_size)
    # Each checkpoint copies the whole log and the next transaction starts it over: it never
    # holds much more than what a checkpoint waits for (before, it grew with every commit).
    assert largest < 4 * limit, largest
    assert 0 < checkpoints < commits / 3, checkpoints


async def test_a_write_waits_for_the_running_checkpoint_while_the_loop_serves(db: Database) -> None:
    checkpointer = checkpointer_of(db)
    release = asyncio.Event()
    running: concurrent.futures.Future[None] = concurrent.futures.Future()  # a checkpoint's thread
    checkpointer.running = running
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not release.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    beat = asyncio.create_task(ticker())
    pending = asyncio.create_task(intake.submit_once(db.write, submission()))
    await asyncio.sleep(0.1)
    assert not pending.done()  # BEGIN waits for the checkpoint...
    assert ticks >= 10  # ...and the loop goes on meanwhile
    running.set_result(None)
    item, created = await asyncio.wait_for(pending, 5)
    release.set()
    await beat
    assert created and item.id


def test_a_writer_on_another_event_loop_waits_for_the_same_checkpoint(db: Database) -> None:
    # A command or a test thread runs its own loop: the checkpoint's future is a thread's, so it
    # can wait for it as well (a loop's future would refuse to be awaited from another loop).
    checkpointer = checkpointer_of(db)
    running: concurrent.futures.Future[None] = concurrent.futures.Future()
    checkpointer.running = running

    async def elsewhere() -> bool:
        waiting = asyncio.create_task(checkpointer.finished())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        running.set_result(None)
        await asyncio.wait_for(waiting, 5)
        return True

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        assert thread.submit(asyncio.run, elsewhere()).result(10)
