"""Real uvicorn servers in subprocesses, on free loopback ports, for benchmarks and stress tests.

A server is started with ``python -m uvicorn`` directly (not through ``feedback serve``), so the
process we hold is the one that serves: SIGKILL really kills it, and its ``VmHWM`` in
``/proc/<pid>/status`` is the server's own peak memory. With ``workers > 1`` uvicorn forks
children; their peaks are read from ``/proc/<pid>/task/*/children``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
# Every abuse limit off: a load generator is one client sending far faster than a person.
NO_RATE_LIMITS = {
    "FEEDBACK_RATE_LIMIT_KIOSK": "0",
    "FEEDBACK_RATE_LIMIT_CLIENT": "0",
    "FEEDBACK_RATE_LIMIT_TRACK": "0",
    "FEEDBACK_RATE_LIMIT_LOGIN": "0",
}
BENCH_SECRET = "bench-secret-key-0123456789abcdef0123456789abcdef"


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def app_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an app server for a benchmark or a stress test (limits off)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    env.update(
        {
            "FEEDBACK_ENV": "test",
            "FEEDBACK_DATABASE_URL": database_url,
            "FEEDBACK_DATA_DIR": str(data_dir),
            "FEEDBACK_SECRET_KEY": BENCH_SECRET,
            "FEEDBACK_BASE_URL": "http://127.0.0.1",
            **NO_RATE_LIMITS,
        }
    )
    env.update(extra)
    return env


def _peak_kib(pid: int) -> int:
    """VmHWM (peak resident set) of one process in KiB, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _serving_children(pid: int) -> list[int]:
    """uvicorn's worker processes (spawned by multiprocessing), not its resource tracker."""
    serving = []
    for child in _children(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in command or b"uvicorn" in command:
                serving.append(child)
    return serving


@dataclass
class Server:
    """One uvicorn server process serving ``app`` (an import string) on a loopback port."""

    app: str
    env: Mapping[str, str]
    workers: int = 1
    port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _peaks: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "server not started"
        return self.process.pid

    def start(self, *, timeout: float = 60.0, health_path: str = "/healthz") -> Server:
        """Start the process and wait until ``health_path`` answers 200."""
        self.port = self.port or free_port()
        command = [
            sys.executable, "-m", "uvicorn", self.app, "--host", LOOPBACK, "--port", str(self.port),
            "--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "5",
        ]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                command, cwd=PROJECT_ROOT, env=dict(self.env), stdout=log, stderr=log,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        self._wait_healthy(timeout, health_path)
        return self

    def _wait_healthy(self, timeout: float, health_path: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited with {self.process.returncode}; see {self.log_path}")
            try:
                response = httpx.get(self.url + health_path, timeout=2.0)
                if response.status_code == 200:
                    # With several workers, also wait until every child process exists.
                    if self.workers <= 1 or len(_serving_children(self.pid)) >= self.workers:
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.app} did not become healthy within {timeout:.0f} s; see {self.log_path}")

    def pids(self) -> list[int]:
        """The serving processes: the process itself, or its worker children."""
        children = _serving_children(self.pid) if self.process is not None else []
        return children if self.workers > 1 and children else [self.pid]

    def sample_memory(self) -> None:
        """Remember each serving process's peak (children of a multi-worker server may exit)."""
        for pid in self.pids():
            self._peaks[pid] = max(self._peaks.get(pid, 0), _peak_kib(pid))

    def peak_rss_mib(self) -> float:
        """The largest peak resident set of one serving process, in MiB."""
        self.sample_memory()
        return max(self._peaks.values(), default=0) / 1024

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush — a power cut as far as the process is concerned."""
        if self.process is not None and self.process.poll() is None:
            for child in _children(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 15 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.sample_memory()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> Server:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(app: str, env: Mapping[str, str], *, workers: int = 1, log_path: Path | None = None,
            health_path: str = "/healthz") -> Iterator[Server]:
    """A started server for the ``with`` block, stopped afterwards."""
    server = Server(app, env, workers=workers, log_path=log_path)
    server.start(health_path=health_path)
    try:
        yield server
    finally:
        server.stop()


def app_server(database_url: str, data_dir: Path, *, workers: int = 1, **extra: str) -> Server:
    """A (not yet started) server of the platform itself (``server:app``) on a database."""
    log_path = data_dir / f"server-{free_port()}.log"
    return Server("server:app", app_env(database_url, data_dir, **extra), workers=workers, log_path=log_path)


def floor_server(database_path: Path, log_dir: Path) -> Server:
    """A (not yet started) server of the stack's floor (``bench.floor:app``) on a SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    env["BENCH_FLOOR_DB"] = str(database_path)
    return Server("bench.floor:app", env, log_path=log_dir / "floor.log")
