"""The background worker (`feedback worker [--once]`): the batch work outside the web process.

Each round: escalate overdue items, close unconfirmed resolutions, erase expired contact
details, purge old sign-in attempts, then deliver the outbox (last, so this round's
notifications leave at once). Every job claims its rows, so several workers may run against
one database. SIGTERM or SIGINT stops the worker after the job in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from feedback.channels import Sender, build_senders
from feedback.db import Database
from feedback.domain import delivery, escalation, retention
from feedback.settings import Settings

log = logging.getLogger("feedback.worker")


def worker_id() -> str:
    """This process's name in ``claimed_by``: host and pid."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


@dataclass
class RoundReport:
    """What one round did, job by job; ``errors`` names the jobs that raised."""

    counts: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


async def run_round(
    db: Database,
    settings: Settings,
    senders: Mapping[str, Sender],
    *,
    me: str | None = None,
    stop: asyncio.Event | None = None,
) -> RoundReport:
    """Run every job once; a failing job is logged and does not stop the others."""
    me = me or worker_id()
    jobs: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("escalated", lambda: escalation.escalate_overdue(db.write, base_url=settings.base_url)),
        ("auto_closed", lambda: escalation.auto_close_due(
            db.write, auto_close_days=settings.auto_close_days, base_url=settings.base_url,
            weekend=settings.weekend_days)),
        ("contacts_erased", lambda: retention.erase_expired_contacts(
            db.write, retention_days=settings.contact_retention_days)),
        ("login_attempts_purged", lambda: retention.purge_old_login_attempts(db.write)),
        ("delivered", lambda: delivery.deliver_due(
            db.write, senders, me, max_attempts=settings.outbox_max_attempts, stop=stop)),
    ]
    report = RoundReport()
    for name, job in jobs:
        if stop is not None and stop.is_set():
            break
        try:
            report.counts[name] = await job()
        except Exception:
            log.exception("worker job %s failed", name)
            report.errors.append(name)
    return report


def _describe(report: RoundReport) -> str:
    parts = []
    for name, value in report.counts.items():
        if isinstance(value, delivery.DeliveryReport):
            parts.append(f"sent={value.sent} retrying={value.retrying} failed={value.failed}")
        else:
            parts.append(f"{name}={value}")
    if report.errors:
        parts.append(f"errors={','.join(report.errors)}")
    return " ".join(parts)


async def run(settings: Settings, *, once: bool, interval: float) -> int:
    """Run rounds every ``interval`` seconds until SIGTERM/SIGINT (or one round with ``once``).

    Returns 0, or 1 when ``once`` and a job failed.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    db = Database(settings.database_url)
    senders = build_senders(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    me = worker_id()
    log.info("worker %s started (%s)", me, "one round" if once else f"every {interval:g} s")
    failed = False
    try:
        while True:
            report = await run_round(db, settings, senders, me=me, stop=stop)
            failed = failed or bool(report.errors)
            log.info("round done: %s", _describe(report))
            if once or stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                break
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        for sender in {id(s): s for s in senders.values()}.values():
            with contextlib.suppress(Exception):
                await sender.aclose()
        await db.dispose()
        log.info("worker %s stopped", me)
    return 1 if once and failed else 0
