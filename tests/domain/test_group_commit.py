"""Group commit (DESIGN §12): submissions arriving together are written in one transaction,
each still exactly once, and one bad submission never costs the others theirs."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
import time

import pytest
from sqlalchemy import event, func, select

from feedback import sqlite_inline
from feedback.db import Database
from feedback.domain import intake, reference
from feedback.models import Event, FeedbackItem, OutboxMessage, TopicStat
from tests.conftest import is_postgres


def submission(key: str | None = None, topic: str = "welcome", **kw: object) -> intake.Submission:
    return intake.Submission(
        site_code="BKO-C4-LAF", channel="kiosk", feedback_type="complaint", topic_slug=topic,
        text="On attend trop longtemps", idempotency_key=key or secrets.token_urlsafe(16),
        gender="female", age_band="25_34", **kw,  # type: ignore[arg-type]
    )


async def count(db: Database, model: type) -> int:
    async with db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_concurrent_submissions_and_resends_are_each_stored_once(db: Database) -> None:
    before = await count(db, FeedbackItem)
    keys = [secrets.token_urlsafe(16) for _ in range(24)]
    # Every key sent twice at the same moment: the resend lands in the same batch or the next.
    subs = [submission(k) for k in keys] + [submission(k) for k in keys[:12]]
    results = await asyncio.gather(*(intake.submit_once(db.write, s) for s in subs))
    assert await count(db, FeedbackItem) == before + 24
    created = [item.tracking_code for item, new in results if new]
    assert len(created) == len(set(created)) == 24
    by_key = {}
    for sub, (item, _new) in zip(subs, results, strict=True):
        by_key.setdefault(sub.idempotency_key, set()).add(item.id)
    assert all(len(ids) == 1 for ids in by_key.values())
    async with db.read() as s:
        events = await s.scalar(select(func.count()).select_from(Event).where(
            Event.item_id.in_([item.id for item, _ in results])))
        received = await s.scalar(select(func.sum(TopicStat.received)))
        items = await s.scalar(select(func.count()).select_from(FeedbackItem).where(FeedbackItem.partner_id.is_not(None)))
    assert events == 24 * 2  # submitted + routed, once per item
    assert received == items  # the aggregates moved by exactly the new items


async def test_an_invalid_submission_in_a_batch_fails_alone(db: Database) -> None:
    before = await count(db, FeedbackItem)
    good = [submission() for _ in range(5)]
    bad = submission(topic="no-such-topic")
    outcomes = await asyncio.gather(*(intake.submit_once(db.write, s) for s in [*good[:2], bad, *good[2:]]),
                                    return_exceptions=True)
    assert isinstance(outcomes[2], intake.Invalid)
    assert outcomes[2].errors == {"topic": "Please choose what your feedback is about."}
    assert all(isinstance(o, tuple) and o[1] for i, o in enumerate(outcomes) if i != 2)
    assert await count(db, FeedbackItem) == before + 5


class CountingCursor:
    """A sqlite3 cursor that notes each statement (an executemany is one statement)."""

    def __init__(self, cursor: sqlite3.Cursor, statements: list[str]) -> None:
        self.cursor, self.statements = cursor, statements

    def execute(self, sql: str, parameters: object = ()) -> CountingCursor:
        self.statements.append(sql)
        self.cursor.execute(sql, parameters)  # type: ignore[arg-type]
        return self

    def executemany(self, sql: str, rows: object) -> CountingCursor:
        self.statements.append(sql)
        self.cursor.executemany(sql, rows)  # type: ignore[arg-type]
        return self

    def fetchall(self) -> list[object]:
        return self.cursor.fetchall()

    def close(self) -> None:
        self.cursor.close()


async def test_a_batch_costs_the_same_statements_as_one_submission(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []

    def note(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        statements.append(sql)

    # Statements through SQLAlchemy are seen by its event; prepared ones on the SQLite writer go
    # to SQLite's own cursor, seen here.
    raw_cursor = sqlite_inline.InlineConnection.raw_cursor
    monkeypatch.setattr(sqlite_inline.InlineConnection, "raw_cursor",
                        lambda self: CountingCursor(raw_cursor(self), statements))

    async def store(subs: list[intake.Submission]) -> list[str]:
        statements.clear()
        async with db.write() as s, s.begin():
            await intake.store_many(s, subs)
        return list(statements)

    async with db.read() as s:
        await reference.current(s)  # the configuration is read once, not per submission
    event.listen(db.write_engine.sync_engine, "before_cursor_execute", note)
    try:
        one = await store([submission()])
        sixteen = await store([submission() for _ in range(16)])
    finally:
        event.remove(db.write_engine.sync_engine, "before_cursor_execute", note)
    # One INSERT per table and one upsert per aggregate table, however many submissions.
    assert len(sixteen) == len(one), (one, sixteen)
    # The reserved-code check, the items and their ids, events, outbox, seven aggregates.
    assert len(one) >= 12, one
    assert await count(db, OutboxMessage) >= 17


@pytest.mark.skipif(is_postgres(), reason="SQLite's write lock")
async def test_waiting_for_the_write_lock_does_not_stop_the_server(db: Database) -> None:
    path = db.url.split("///", 1)[1]
    locked = threading.Event()
    release = threading.Event()

    def hold_the_lock() -> None:
        # Another process's writer (here another connection) holds the lock for a while.
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(5)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert await asyncio.to_thread(locked.wait, 5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(ticker())
    pending = asyncio.create_task(intake.submit_once(db.write, submission()))
    started = time.monotonic()
    await asyncio.sleep(0.3)
    assert not pending.done()
    assert ticks >= 10  # the loop went on serving while the submission waited for the lock
    release.set()
    item, created = await asyncio.wait_for(pending, 5)
    beat.cancel()
    holder.join()
    assert created and item.id and time.monotonic() - started >= 0.3
