"""Outbox delivery against real servers on 127.0.0.1: an HTTP SMS gateway stub that fails,
times out and recovers, and an SMTP server (aiosmtpd). Nothing is lost, nothing delivered twice
(the gateway deduplicates by message key), and a killed worker's claim expires."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from feedback.channels.email_smtp import SmtpSender
from feedback.channels.log import LogSender
from feedback.channels.sms_http import HttpSmsSender
from feedback.db import Database
from feedback.domain import delivery, notify
from feedback.models import OutboxMessage, utcnow
from feedback.settings import Settings
from feedback.worker import run
from tests.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]


class Gateway:
    """An SMS gateway on 127.0.0.1 that deduplicates by message key, like a careful real one."""

    def __init__(self) -> None:
        self.mode = "ok"  # ok | fail | timeout | reject | hang
        self.requests: list[dict[str, Any]] = []
        self.delivered: Counter[str] = Counter()
        self.release = threading.Event()
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self, raw: bytes) -> None:
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("application/json"):
                    fields = json.loads(raw)
                elif raw:
                    fields = dict(parse_qsl(raw.decode()))
                else:
                    fields = dict(parse_qsl(urlsplit(self.path).query))
                request = {"method": self.command, "fields": fields, "headers": dict(self.headers)}
                with gateway.lock:
                    gateway.requests.append(request)
                    mode = gateway.mode
                if mode == "fail":
                    self._reply(503, b"busy")
                    return
                if mode == "reject":
                    self._reply(400, b"invalid number")
                    return
                key = self.headers.get("Idempotency-Key", "")
                with gateway.lock:
                    gateway.delivered[key] += 0 if key in gateway.delivered else 1
                if mode == "timeout":
                    time.sleep(0.6)  # delivered, but the answer comes too late
                if mode == "hang":
                    gateway.release.wait(30)
                self._reply(200, b'{"status": "queued"}')

            def _reply(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up

            def do_POST(self) -> None:  # noqa: N802
                self._handle(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def do_GET(self) -> None:  # noqa: N802
                self._handle(b"")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    stub = Gateway()
    yield stub
    stub.close()


async def queue_sms(db: Database, count: int) -> list[int]:
    async with db.write() as s, s.begin():
        messages = [notify.enqueue(s, channel="sms", recipient=f"+2237600000{n}", body=f"Message {n}",
                                   purpose="sms_reply", locale="fr") for n in range(count)]
        await s.flush()
        return [m.id for m in messages]


async def outbox(db: Database) -> list[OutboxMessage]:
    async with db.read() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_gateway_fails_times_out_and_recovers_without_loss_or_duplicates(db: Database, gateway: Gateway) -> None:
    await queue_sms(db, 5)
    sender = HttpSmsSender(gateway.url, timeout=0.3)
    senders = {"sms": sender}
    now = utcnow()
    try:
        gateway.mode = "fail"
        report = await delivery.deliver_due(db.write, senders, "w1", now=now)
        assert (report.sent, report.retrying, report.failed) == (0, 5, 0)
        rows = await outbox(db)
        assert {m.status for m in rows} == {"pending"} and {m.attempts for m in rows} == {1}
        assert all("503" in (m.last_error or "") for m in rows)
        assert {m.next_attempt_at for m in rows} == {now + timedelta(minutes=1)}
        # Not due yet: a pass a few seconds later leaves them alone.
        report = await delivery.deliver_due(db.write, senders, "w1", now=now + timedelta(seconds=30))
        assert report.total == 0

        gateway.mode = "timeout"
        now += timedelta(minutes=1)
        report = await delivery.deliver_due(db.write, senders, "w1", now=now)
        assert (report.sent, report.retrying) == (0, 5)
        rows = await outbox(db)
        assert {m.attempts for m in rows} == {2} and all("timed out" in (m.last_error or "") for m in rows)
        assert {m.next_attempt_at for m in rows} == {now + timedelta(minutes=2)}  # back-off doubles

        gateway.mode = "ok"
        now += timedelta(minutes=2)
        report = await delivery.deliver_due(db.write, senders, "w1", now=now)
        assert report.sent == 5
        rows = await outbox(db)
        assert {m.status for m in rows} == {"sent"} and all(m.sent_at == now for m in rows)
        # Every message reached the gateway exactly once by key (resends after timeouts were dropped).
        assert set(gateway.delivered) == {m.message_key for m in rows}
        assert set(gateway.delivered.values()) == {1}
        # A later pass sends nothing again.
        assert (await delivery.deliver_due(db.write, senders, "w1", now=now + timedelta(hours=1))).total == 0
    finally:
        await sender.aclose()
    first = gateway.requests[0]
    assert first["method"] == "POST"
    assert first["fields"]["to"] == "+22376000000" and first["fields"]["text"] == "Message 0"
    assert first["fields"]["reference"] == first["headers"]["Idempotency-Key"]


async def test_refused_messages_fail_at_once_and_flaky_ones_after_max_attempts(db: Database, gateway: Gateway) -> None:
    await queue_sms(db, 2)
    sender = HttpSmsSender(gateway.url, timeout=1)
    now = utcnow()
    try:
        gateway.mode = "reject"
        report = await delivery.deliver_due(db.write, {"sms": sender}, "w1", now=now, batch=1, max_messages=1)
        assert report.failed == 1
        gateway.mode = "fail"
        for attempt in range(1, 4):
            report = await delivery.deliver_due(db.write, {"sms": sender}, "w1", now=now, max_attempts=3)
            assert report.total == 1
            now += delivery.backoff(attempt)
    finally:
        await sender.aclose()
    rejected, flaky = await outbox(db)
    assert rejected.status == "failed" and "400" in (rejected.last_error or "") and rejected.attempts == 1
    assert flaky.status == "failed" and flaky.attempts == 3 and "503" in (flaky.last_error or "")


def test_backoff_doubles_and_is_capped() -> None:
    assert [delivery.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert delivery.backoff(30) == delivery.BACKOFF_CAP


async def test_payload_shapes_and_credentials(db: Database, gateway: Gateway) -> None:
    await queue_sms(db, 2)
    as_json = HttpSmsSender(gateway.url, payload="json", token="s3cr3t", sender_id="SAUTI",
                            fields={"to": "urn", "text": "message", "key": "id"}, extra={"channel": "mali"})
    as_query = HttpSmsSender(gateway.url, payload="query", user="kannel", password="pw",
                             fields={"key": ""}, extra={"smsc": "orange"})
    try:
        first, second = await outbox(db)
        await as_json.send(first)
        await as_query.send(second)
    finally:
        await as_json.aclose()
        await as_query.aclose()
    posted, got = gateway.requests
    assert posted["headers"]["Authorization"] == "Bearer s3cr3t"
    assert posted["fields"] == {"urn": first.recipient, "message": first.body, "id": first.message_key,
                                "from": "SAUTI", "channel": "mali"}
    assert got["method"] == "GET" and got["headers"]["Authorization"].startswith("Basic ")
    assert got["fields"] == {"to": second.recipient, "text": second.body, "smsc": "orange"}


async def test_two_workers_at_once_send_each_message_once(db: Database, settings: Settings, gateway: Gateway) -> None:
    await queue_sms(db, 16)
    first, second = Database(settings.database_url), Database(settings.database_url)
    sender_a, sender_b = HttpSmsSender(gateway.url), HttpSmsSender(gateway.url)
    try:
        reports = await asyncio.gather(
            delivery.deliver_due(first.write, {"sms": sender_a}, "worker-a", batch=4),
            delivery.deliver_due(second.write, {"sms": sender_b}, "worker-b", batch=4),
        )
    finally:
        for closable in (sender_a, sender_b):
            await closable.aclose()
        await first.dispose()
        await second.dispose()
    assert sum(r.sent for r in reports) == 16
    assert len(gateway.requests) == 16  # not one request twice
    assert {m.status for m in await outbox(db)} == {"sent"}


def _worker_env(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    env.update({
        "FEEDBACK_ENV": "test", "FEEDBACK_DATABASE_URL": settings.database_url,
        "FEEDBACK_DATA_DIR": str(tmp_path), "FEEDBACK_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT),
        **extra,
    })
    return env


async def test_a_worker_killed_mid_delivery_is_taken_over_after_its_claim_expires(
    db: Database, settings: Settings, gateway: Gateway, tmp_path: Path
) -> None:
    await queue_sms(db, 1)
    gateway.mode = "hang"
    env = _worker_env(settings, tmp_path, FEEDBACK_SMS_SENDER="http", FEEDBACK_SMS_GATEWAY_URL=gateway.url,
                      FEEDBACK_SMS_GATEWAY_TIMEOUT="30")
    process = subprocess.Popen([sys.executable, "-m", "feedback", "worker", "--once"], env=env, cwd=ROOT,  # noqa: ASYNC220
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):  # the worker has handed the message to the gateway...
            if gateway.requests:
                break
            await asyncio.sleep(0.05)
        assert gateway.requests, "the worker never reached the gateway"
        process.kill()  # ...and dies before it could record the delivery.
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    (message,) = await outbox(db)
    assert message.status == "pending" and message.attempts == 1 and message.claimed_until is not None
    gateway.mode = "ok"
    sender = HttpSmsSender(gateway.url)
    try:
        # While the dead worker's claim runs, nobody else takes the message.
        assert (await delivery.deliver_due(db.write, {"sms": sender}, "w2")).total == 0
        later = message.claimed_until + timedelta(seconds=1)
        assert (await delivery.deliver_due(db.write, {"sms": sender}, "w2", now=later)).sent == 1
    finally:
        await sender.aclose()
    (message,) = await outbox(db)
    assert message.status == "sent" and message.attempts == 2
    assert len(gateway.requests) == 2 and gateway.delivered == Counter({message.message_key: 1})


async def test_worker_stops_cleanly_on_sigterm(settings: Settings, tmp_path: Path) -> None:
    env = _worker_env(settings, tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "feedback", "worker", "--interval", "60"], env=env, cwd=ROOT,  # noqa: ASYNC220
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for _ in range(200):
            line = await asyncio.to_thread(process.stderr.readline)
            if "round done" in line or not line:
                break
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.to_thread(process.communicate, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, err
    assert "stopped" in err


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.refuse: set[str] = set()
        self.busy = False

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if self.busy:
            return "451 try again later"
        if address in self.refuse:
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


async def test_email_reaches_a_real_smtp_server(db: Database, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    async with db.write() as s, s.begin():
        notify.enqueue(s, channel="email", recipient="chef.laf@ong.invalid", subject="Nouveau retour : K7M-4PX-2RC",
                       body="Un retour vous a été attribué. Bamanankan : ɛ ɔ ɲ ŋ", purpose="assigned", locale="fr")
        notify.enqueue(s, channel="email", recipient="nobody@ong.invalid", subject="x", body="x",
                       purpose="assigned", locale="fr")
    box.refuse.add("nobody@ong.invalid")
    sender = SmtpSender("127.0.0.1", port, mail_from="sauti@ong.invalid", timeout=5)
    box.busy = True
    report = await delivery.deliver_due(db.write, {"email": sender}, "w1")
    assert report.retrying == 2  # 451: try again later
    box.busy = False
    report = await delivery.deliver_due(db.write, {"email": sender}, "w1", now=utcnow() + timedelta(minutes=2))
    assert (report.sent, report.failed) == (1, 1)
    (envelope,) = box.messages
    assert envelope.rcpt_tos == ["chef.laf@ong.invalid"] and envelope.mail_from == "sauti@ong.invalid"
    from email import message_from_bytes, policy

    mail = message_from_bytes(envelope.original_content, policy=policy.default)
    sent, refused = await outbox(db)
    assert mail["Subject"] == "Nouveau retour : K7M-4PX-2RC"
    assert mail["Message-ID"] == f"<{sent.message_key}@ong.invalid>"
    assert "ɛ ɔ ɲ ŋ" in mail.get_content()
    assert sent.status == "sent" and refused.status == "failed" and "550" in (refused.last_error or "")


async def test_log_sender_and_one_worker_round(db: Database, settings: Settings) -> None:
    await queue_sms(db, 2)
    assert await run(settings, once=True, interval=0) == 0
    assert {m.status for m in await outbox(db)} == {"sent"}
    written = (settings.data_dir / "outbox.log").read_text(encoding="utf-8")
    assert "To: +22376000000" in written and "Message 1" in written
    assert isinstance(LogSender(None), LogSender)
