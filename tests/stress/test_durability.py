"""Durability (DESIGN §12): SIGKILL the server in the middle of a load, start it again on the
same database, and every submission that got a receipt is there; the database is intact; and
the submissions whose answer was lost, sent again with their keys, are stored exactly once.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bench import load
from tests.stress.conftest import (
    AcknowledgedLoad,
    fetch,
    integrity_check,
    scalar,
    sqlite_path,
    tracked,
)

CLIENTS = 16
ACKS_BEFORE_KILL = 250


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_acknowledged_submissions_survive_a_killed_server(server_factory: object, database_url: str) -> None:
    server = server_factory()  # type: ignore[operator]
    run = AcknowledgedLoad(server.url, clients=CLIENTS, until=ACKS_BEFORE_KILL, label="until killed")
    acknowledged, stop, loading = run.acknowledged, run.stop, run.task
    await asyncio.wait_for(run.enough.wait(), timeout=240)
    # Power cut, as far as the process knows: no shutdown, requests in flight.
    server.kill()
    stop.set()
    result = await loading
    sent = result.sent
    assert sent > len(acknowledged), "the kill should interrupt requests in flight"
    assert result.server_errors == 0, result.statuses

    path = sqlite_path(database_url)
    if path is not None:
        assert integrity_check(path) == ["ok"]

    restarted = server_factory()  # type: ignore[operator]
    rows = await fetch(database_url, "SELECT idempotency_key, tracking_code FROM feedback_item")
    stored = dict(rows)
    lost = {k: c for k, c in acknowledged.items() if stored.get(k) != c}
    assert lost == {}, f"{len(lost)} acknowledged submissions missing after the kill"
    statuses = await tracked(restarted.url, sorted(acknowledged.values()))
    assert set(statuses.values()) == {200}

    # The kiosks retry what got no answer: with the same keys, each is stored exactly once.
    unanswered = [k for k in run.keys[:sent] if k not in acknowledged]

    async def resend(v: load.VirtualClient, n: int) -> httpx.Response:
        return await load.kiosk_submit(v, n, key=unanswered[n])

    again = await load.run_load(
        restarted.url, resend, clients=CLIENTS, count=len(unanswered), duration=120, label="retries",
        setup=load.kiosk_setup, check=load.receipt_check,
    )
    assert again.ok == len(unanswered), again.statuses
    assert await scalar(database_url, "SELECT count(*) FROM feedback_item") == sent
    assert await scalar(database_url, "SELECT count(DISTINCT idempotency_key) FROM feedback_item") == sent
    if path is not None:
        assert integrity_check(path) == ["ok"]
