"""Several processes on one PostgreSQL (DESIGN §11, issue 9 point 4): two uvicorn worker
processes take kiosk submissions (with resends) while two ``feedback worker --once`` loops
escalate overdue items and deliver the outbox, all at once. No duplicate item, no double
escalation, no double notification, and the board figures equal direct counts.

PostgreSQL only (SQLite is one machine, one writer): runs when FEEDBACK_TEST_DATABASE_URL is set,
as in the second half of CI.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bench import load, servers
from feedback.db import Database
from feedback.domain import intake
from feedback.models import utcnow
from feedback.queries import board as q
from tests.conftest import is_postgres
from tests.domain.test_board_figures import _check_scope
from tests.stress.conftest import fetch, scalar

pytestmark = pytest.mark.skipif(not is_postgres(), reason="several processes need PostgreSQL "
                                "(set FEEDBACK_TEST_DATABASE_URL; CI's second run does)")

OVERDUE = 150
SUBMISSIONS = 1_000
CLIENTS = 32
OPEN = ("received", "acknowledged", "in_progress", "referred", "reopened")


async def seed_overdue(database_url: str) -> None:
    """Items received three weeks ago and never touched: every one has missed its deadlines."""
    rng = random.Random(9)
    db = Database(database_url)
    try:
        async with db.write() as session, session.begin():
            for n in range(OVERDUE):
                sub = intake.Submission(
                    site_code=rng.choice(load.SITES), channel="kiosk", feedback_type="complaint",
                    topic_slug=rng.choice(load.TOPICS), text=f"ancien {n}", publish_consent=True,
                )
                await intake.store(session, sub, now=utcnow() - timedelta(days=21, hours=rng.uniform(0, 48)))
    finally:
        await db.dispose()


async def worker_loop(env: dict[str, str], done: asyncio.Event, log: Path) -> int:
    """``feedback worker --once`` again and again until ``done``, then one last round."""
    rounds = 0
    while True:
        last = done.is_set()
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "feedback", "worker", "--once", cwd=servers.PROJECT_ROOT, env=env,
                stdout=out, stderr=out,
            )
            status = await process.wait()
        assert status == 0, f"feedback worker --once exited with {status}; see {log}"
        rounds += 1
        if last:
            return rounds


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_two_app_processes_and_two_workers_on_one_postgresql(
    server_factory: object, database_url: str, tmp_path: Path
) -> None:
    await seed_overdue(database_url)
    started_at = utcnow()
    server = server_factory(workers=2)  # type: ignore[operator]
    assert len(server.pids()) == 2

    keys = [load.new_key() for _ in range(SUBMISSIONS)]
    resent = random.Random(3).sample(range(SUBMISSIONS), SUBMISSIONS // 10)
    jobs = [(n, keys[n]) for n in range(SUBMISSIONS)]
    for position, n in enumerate(resent):
        jobs.insert(min(len(jobs), n + 1 + position), (n, keys[n]))  # right behind the first send
    codes_by_key: dict[str, set[str]] = defaultdict(set)

    async def send(v: load.VirtualClient, i: int) -> httpx.Response:
        number, key = jobs[i]
        return await load.kiosk_submit(v, number, key=key)

    def record(i: int, response: httpx.Response) -> None:
        code = load.receipt_code(response)
        if code is not None:
            codes_by_key[jobs[i][1]].add(code)

    done = asyncio.Event()
    env = servers.app_env(database_url, tmp_path)
    workers = [asyncio.create_task(worker_loop(env, done, tmp_path / f"worker-{w}.log")) for w in (1, 2)]
    try:
        result = await load.run_load(
            server.url, send, clients=CLIENTS, count=len(jobs), duration=400, label="two processes",
            setup=load.kiosk_setup, check=load.receipt_check, on_response=record, request_timeout=120,
        )
    finally:
        done.set()
        rounds = await asyncio.gather(*workers)
    assert min(rounds) >= 2, rounds

    # Every submission once, whichever process took it.
    assert result.server_errors == 0 and not result.exceptions, (result.statuses, result.exceptions)
    assert result.ok == len(jobs), result.statuses
    assert all(len(c) == 1 for c in codes_by_key.values()) and len(codes_by_key) == SUBMISSIONS
    assert await scalar(database_url, "SELECT count(*) FROM feedback_item") == OVERDUE + SUBMISSIONS
    assert await scalar(database_url, "SELECT count(DISTINCT idempotency_key) FROM feedback_item "
                        "WHERE idempotency_key IS NOT NULL") == SUBMISSIONS

    # One escalation per item per missed deadline, and every overdue item escalated.
    events = await fetch(database_url, "SELECT item_id, data FROM event WHERE kind = 'escalated'")
    per_miss = Counter((item_id, str(data)) for item_id, data in events)
    assert per_miss and max(per_miss.values()) == 1, per_miss.most_common(3)
    overdue = {r[0] for r in await fetch(
        database_url, "SELECT id FROM feedback_item WHERE due_at < ? AND status = ANY(?::text[])",
        started_at, list(OPEN))}
    assert len(overdue) == OVERDUE
    assert Counter(item_id for item_id, _ in events) == dict.fromkeys(overdue, 1)

    # No double notification: one message per cause and recipient, each claimed and sent once.
    assert await scalar(database_url, "SELECT count(*) - count(DISTINCT message_key) FROM outbox_message") == 0
    doubles = await fetch(database_url, "SELECT item_id, purpose, recipient, count(*) FROM outbox_message "
                          "GROUP BY item_id, purpose, recipient HAVING count(*) > 1")
    assert doubles == []
    escalation_messages = await scalar(
        database_url, "SELECT count(DISTINCT item_id) FROM outbox_message WHERE purpose = 'escalated'")
    assert escalation_messages == OVERDUE
    assert await scalar(database_url, "SELECT count(*) FROM outbox_message WHERE status = 'sent' "
                        "AND attempts <> 1") == 0
    assert await scalar(database_url, "SELECT count(*) FROM outbox_message WHERE status <> 'sent'") == 0

    # The boards' aggregates, written by four processes at once, equal direct counts.
    db = Database(database_url)
    try:
        async with db.read() as session:
            now = utcnow()
            for period in q.PERIODS:
                await _check_scope(session, q.Scope(), period, now)
    finally:
        await db.dispose()
