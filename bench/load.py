"""A loopback-only load generator (asyncio + httpx), bounded in requests AND in time.

``run_load`` starts ``clients`` virtual clients, each with its own HTTP connection and cookies
(a kiosk, a phone), that take request numbers from a shared counter until ``count`` requests
were sent or ``duration`` seconds have passed, whichever comes first. It reports throughput,
latency percentiles and errors. It refuses any target that is not this machine: it is a
measuring tool, not a way to load someone else's server.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

LOOPBACK_NAMES = {"localhost"}
CSRF = re.compile(r'"X-CSRF-Token": "([0-9a-f]{64})"')
TRACKING_CODE = re.compile(r'class="tracking-code"[^>]*>([^<]+)<')


class NotLoopback(ValueError):
    """The target is not 127.0.0.1 / localhost: refused."""


def check_loopback(base_url: str) -> str:
    """Return ``base_url`` if it points at this machine's loopback, else raise ``NotLoopback``."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise NotLoopback(f"not an http URL: {base_url!r}")
    if host in LOOPBACK_NAMES:
        return base_url
    try:
        if ipaddress.ip_address(host).is_loopback:
            return base_url
    except ValueError:
        pass
    raise NotLoopback(f"refusing to load {host!r}: the load generator only targets 127.0.0.1 / localhost")


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(-(-fraction * len(sorted_values) // 1))))
    return sorted_values[rank - 1]


@dataclass
class LoadResult:
    """What a load run measured (latencies in seconds)."""

    label: str
    clients: int
    sent: int = 0
    ok: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    exceptions: Counter[str] = field(default_factory=Counter)

    @property
    def errors(self) -> int:
        return self.sent - self.ok

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return self.ok / self.elapsed if self.elapsed else 0.0

    def ms(self, fraction: float) -> float:
        return percentile(sorted(self.latencies), fraction) * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "clients": self.clients,
            "requests": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "statuses": dict(self.statuses),
            "exceptions": dict(self.exceptions),
            "seconds": round(self.elapsed, 2),
            "per_second": round(self.throughput, 1),
            "p50_ms": round(self.ms(0.50), 1),
            "p95_ms": round(self.ms(0.95), 1),
            "p99_ms": round(self.ms(0.99), 1),
        }

    @classmethod
    def merged(cls, results: Sequence[LoadResult], label: str) -> LoadResult:
        """Several runs of the same request as one (rounds interleaved with other runs)."""
        whole = cls(label=label, clients=max((r.clients for r in results), default=0))
        for result in results:
            whole.sent += result.sent
            whole.ok += result.ok
            whole.elapsed += result.elapsed
            whole.latencies += result.latencies
            whole.statuses.update(result.statuses)
            whole.exceptions.update(result.exceptions)
        return whole

    def line(self) -> str:
        s = self.summary()
        return (
            f"{self.label:<34} c={self.clients:<3} n={s['requests']:<6} ok={s['ok']:<6} err={s['errors']:<4} "
            f"{s['per_second']:>8.1f}/s  p50={s['p50_ms']:>6.1f} p95={s['p95_ms']:>6.1f} "
            f"p99={s['p99_ms']:>6.1f} ms"
        )


# A request: given the virtual client (its own httpx client and state) and the request's
# number, send it and return the response. ``Setup`` prepares a client once (e.g. loads the
# page that gives it its CSRF cookie and token); it is not timed.
Request = Callable[["VirtualClient", int], Awaitable[httpx.Response]]
Setup = Callable[["VirtualClient"], Awaitable[None]]
Check = Callable[[httpx.Response], bool]


@dataclass
class VirtualClient:
    """One simulated kiosk or browser: its HTTP client and whatever setup stored."""

    number: int
    http: httpx.AsyncClient
    state: dict[str, Any] = field(default_factory=dict)


def default_check(response: httpx.Response) -> bool:
    return response.status_code == 200


async def run_load(
    base_url: str,
    request: Request,
    *,
    clients: int,
    count: int,
    duration: float,
    label: str = "",
    setup: Setup | None = None,
    check: Check = default_check,
    request_timeout: float = 30.0,
    on_response: Callable[[int, httpx.Response], None] | None = None,
    stop: asyncio.Event | None = None,
) -> LoadResult:
    """Send at most ``count`` requests in at most ``duration`` seconds from ``clients`` clients.

    ``stop`` ends the run early (requests in flight still finish or fail).
    """
    check_loopback(base_url)
    if clients < 1 or count < 1 or duration <= 0:
        raise ValueError("clients, count and duration must be positive")
    result = LoadResult(label=label, clients=clients)
    next_number = 0
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    virtual = [
        VirtualClient(n, httpx.AsyncClient(base_url=base_url, limits=limits, timeout=request_timeout))
        for n in range(clients)
    ]
    try:
        if setup is not None:
            await asyncio.gather(*(setup(v) for v in virtual))
        # The generator's own garbage collection would pause every request in flight at once
        # and count as the server's latency (70–160 ms at the 99th percentile, measured): not
        # while the clock runs. A run is short and its responses are freed by reference count.
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        deadline = started + duration

        async def worker(v: VirtualClient) -> None:
            nonlocal next_number
            while next_number < count and time.perf_counter() < deadline and not (stop and stop.is_set()):
                number = next_number
                next_number += 1
                result.sent += 1
                t0 = time.perf_counter()
                try:
                    response = await request(v, number)
                except httpx.HTTPError as exc:
                    result.exceptions[type(exc).__name__] += 1
                    continue
                result.latencies.append(time.perf_counter() - t0)
                result.statuses[response.status_code] += 1
                if check(response):
                    result.ok += 1
                if on_response is not None:
                    on_response(number, response)

        await asyncio.gather(*(worker(v) for v in virtual))
        result.elapsed = time.perf_counter() - started
    finally:
        gc.enable()
        await asyncio.gather(*(v.http.aclose() for v in virtual))
    return result


# -- the kiosk's final step -----------------------------------------------------------------

SITES = ("BKO-C4-LAF", "BKO-C1-BAN", "BKO-C2-BAG", "BKO-C6-NIA", "BKO-C5-DAO", "BKO-C4-REF")
TOPICS = ("welcome", "waiting", "cost", "medicines", "hygiene", "mch_care", "chw", "referral")
TYPES = ("complaint", "suggestion", "compliment", "question", "help_request")
GENDERS = ("female", "male", "undisclosed")
AGES = ("18_24", "25_34", "35_49", "undisclosed")


def new_key() -> str:
    return secrets.token_urlsafe(24)


def submission_form(number: int, token: str, key: str) -> dict[str, str]:
    """The fields the kiosk's review screen posts when the person presses Send.

    Read from ``web/intake_flow.py`` (STATE_FIELDS) and ``templates/kiosk/_step_review.html``:
    ``step=review`` and ``nav=send`` with every answer carried as a hidden field.
    """
    return {
        "csrf_token": token,
        "step": "review",
        "nav": "send",
        "lang": ("fr", "bm", "en")[number % 3],
        "feedback_type": TYPES[number % len(TYPES)],
        "topic": TOPICS[number % len(TOPICS)],
        "text": f"Attente trop longue au CSCOM, soumission de charge numéro {number} ɛ ɔ ɲ",
        "contact_consent": "no",
        "publish_consent": ("yes", "no")[number % 2],
        "gender": GENDERS[number % len(GENDERS)],
        "age_band": AGES[number % len(AGES)],
        "idempotency_key": key,
    }


def kiosk_site(v: VirtualClient) -> str:
    return SITES[v.number % len(SITES)]


async def kiosk_setup(v: VirtualClient) -> None:
    """Open the kiosk page once: the CSRF cookie lands in the client, the token in its state."""
    response = await v.http.get(f"/kiosk/{kiosk_site(v)}")
    match = CSRF.search(response.text)
    if response.status_code != 200 or match is None:
        raise RuntimeError(f"no CSRF token on /kiosk/{kiosk_site(v)} ({response.status_code})")
    v.state["csrf"] = match.group(1)


def multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart/form-data body of text fields, as a browser sends the review form."""
    boundary = "----sautibench" + secrets.token_hex(8)
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode(), f"multipart/form-data; boundary={boundary}"


async def post_form(
    v: VirtualClient, path: str, fields: dict[str, str], encoding: str = "multipart"
) -> httpx.Response:
    """POST a form as ``multipart`` (what the kiosk's review screen declares) or ``urlencoded``."""
    if encoding == "urlencoded":
        return await v.http.post(path, data=fields)
    body, content_type = multipart(fields)
    return await v.http.post(path, content=body, headers={"Content-Type": content_type})


def kiosk_submit_as(encoding: str) -> Request:
    """The final step of one submission, each with a fresh idempotency key."""

    async def send(v: VirtualClient, number: int) -> httpx.Response:
        return await kiosk_submit(v, number, encoding=encoding)

    return send


async def kiosk_submit(
    v: VirtualClient, number: int, key: str | None = None, encoding: str = "multipart"
) -> httpx.Response:
    """Post the final step of one submission (a fresh idempotency key unless one is given)."""
    form = submission_form(number, v.state["csrf"], key or new_key())
    return await post_form(v, f"/kiosk/{kiosk_site(v)}", form, encoding)


def receipt_code(response: httpx.Response) -> str | None:
    """The tracking code printed on a receipt page (normalised: no dashes), or None."""
    match = TRACKING_CODE.search(response.text)
    if match is None:
        return None
    return re.sub(r"[^0-9A-Z]", "", match.group(1).upper())


def receipt_check(response: httpx.Response) -> bool:
    return response.status_code == 200 and receipt_code(response) is not None


def floor_submit_as(encoding: str) -> Request:
    """The same form to the floor's endpoint (no token needed, but sent: same body size)."""

    async def send(v: VirtualClient, number: int) -> httpx.Response:
        form = submission_form(number, "0" * 64, new_key())
        return await post_form(v, f"/kiosk/{kiosk_site(v)}", form, encoding)

    return send


def get_path(paths: Sequence[str]) -> Request:
    """A request that GETs the paths in turn."""

    async def send(v: VirtualClient, number: int) -> httpx.Response:
        return await v.http.get(paths[number % len(paths)])

    return send
