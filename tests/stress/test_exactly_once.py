"""Exactly once under stress (DESIGN §7, §12): 5,000 kiosk submissions from 64 concurrent
clients through a real server, 10% of them sent again with the same idempotency key — half
racing the first send from another client, half after it was answered (a retry after a lost
response). Exactly 5,000 items, one tracking code per key, zero 5xx.
"""

from __future__ import annotations

import random
from collections import defaultdict

import httpx
import pytest

from bench import load
from tests.stress.conftest import fetch, scalar

SUBMISSIONS = 5_000
CLIENTS = 64
RESENT = SUBMISSIONS // 10


def plan(rng: random.Random) -> list[tuple[int, str]]:
    """(submission number, idempotency key) in sending order, resends included."""
    keys = [load.new_key() for _ in range(SUBMISSIONS)]
    resent = rng.sample(range(SUBMISSIONS), RESENT)
    racing, late = set(resent[: RESENT // 2]), resent[RESENT // 2 :]
    jobs: list[tuple[int, str]] = []
    for number, key in enumerate(keys):
        jobs.append((number, key))
        if number in racing:
            # Next in the queue: another client takes it while the first send is in flight.
            jobs.append((number, key))
    jobs += [(number, keys[number]) for number in late]
    return jobs


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_every_submission_stored_exactly_once(server_factory: object, database_url: str) -> None:
    server = server_factory()  # type: ignore[operator]
    jobs = plan(random.Random(2026))
    codes_by_key: dict[str, set[str]] = defaultdict(set)
    failures: list[tuple[int, int]] = []

    async def send(v: load.VirtualClient, n: int) -> httpx.Response:
        number, key = jobs[n]
        return await load.kiosk_submit(v, number, key=key)

    def record(n: int, response: httpx.Response) -> None:
        code = load.receipt_code(response)
        if response.status_code != 200 or code is None:
            failures.append((n, response.status_code))
        else:
            codes_by_key[jobs[n][1]].add(code)

    result = await load.run_load(
        server.url, send, clients=CLIENTS, count=len(jobs), duration=800, label="exactly once",
        setup=load.kiosk_setup, check=load.receipt_check, on_response=record, request_timeout=120,
    )

    assert result.sent == len(jobs) == SUBMISSIONS + RESENT
    assert not result.exceptions, result.exceptions
    assert result.server_errors == 0, result.statuses
    assert failures == [], failures[:10]
    # Every key got a receipt, and a resend got the receipt of the first send.
    assert len(codes_by_key) == SUBMISSIONS
    assert all(len(codes) == 1 for codes in codes_by_key.values())
    # The database: exactly one item per key, nothing else.
    assert await scalar(database_url, "SELECT count(*) FROM feedback_item") == SUBMISSIONS
    rows = await fetch(database_url, "SELECT idempotency_key, tracking_code FROM feedback_item")
    stored = {key: code for key, code in rows}
    assert len(stored) == SUBMISSIONS
    assert stored == {key: next(iter(codes)) for key, codes in codes_by_key.items()}
    # Each item was submitted and routed once (events and board aggregates follow from it).
    assert await scalar(database_url, "SELECT count(*) FROM event WHERE kind = 'submitted'") == SUBMISSIONS
