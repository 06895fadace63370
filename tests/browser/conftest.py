"""Real-browser fixtures: a uvicorn server on a free port, and Debian's Chromium via Playwright.

- ``live_server``: one server process for the session, on a fresh copy of the seeded template
  database (SQLite file, or a PostgreSQL database cloned from the template when
  FEEDBACK_TEST_DATABASE_URL is set). Kiosk idle timings are short so the reset can be tested.
- ``calm_server``: a second server process on the same database whose kiosk idle reset is
  15 minutes, for tests that dwell on kiosk screens (axe, slow network, keyboard journeys).
- ``browser``: headless Chromium (``/usr/bin/chromium``, never a downloaded one), with a fake
  microphone. A missing browser fails the run; it is never skipped.
- ``new_page(**context_options)``: a page in its own context that only talks to 127.0.0.1;
  on failure a screenshot and a Playwright trace are saved under ``test-results/``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import SECRET, _pg_admin_url, _pg_execute, is_postgres

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A fake microphone that plays a tone, and no permission prompt: voice notes in tests.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESULTS = PROJECT_ROOT / "test-results"
# Short enough to test the privacy reset, long enough for a test to click through a step.
KIOSK_IDLE_SECONDS = 3
KIOSK_WARNING_SECONDS = 2


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    database_url: str
    data_dir: Path
    env: dict[str, str]

    def url(self, path: str) -> str:
        return self.base_url + path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(database_url: str, data_dir: Path, **overrides: str) -> tuple[subprocess.Popen[bytes], LiveServer]:
    """Start ``uvicorn server:app`` on a free port and wait until /healthz answers."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FEEDBACK_ENV": "test",
        "FEEDBACK_DATABASE_URL": database_url,
        "FEEDBACK_DATA_DIR": str(data_dir),
        "FEEDBACK_SECRET_KEY": SECRET,
        "FEEDBACK_BASE_URL": base_url,
        "FEEDBACK_SMS_SECRET": "sms-test-secret",
        "FEEDBACK_KIOSK_IDLE_SECONDS": str(KIOSK_IDLE_SECONDS),
        "FEEDBACK_KIOSK_WARNING_SECONDS": str(KIOSK_WARNING_SECONDS),
        **overrides,
    }
    with (data_dir / "server.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and app)
            [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1", "--port", str(port),
             "--no-access-log"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {(data_dir / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.terminate()
            raise RuntimeError("the server did not answer /healthz within 30 s")
        time.sleep(0.1)
    return process, LiveServer(base_url, database_url, data_dir, env)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def live_database(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A copy of the seeded template for the live server (the session shares it)."""
    if is_postgres():
        name = f"feedback_live_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
        yield _pg_admin_url(name)
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = tmp_path_factory.mktemp("live") / "feedback.db"
        shutil.copy(template_database, path)
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def live_server(live_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server process for the browser tests of the session."""
    process, server = start_server(live_database, tmp_path_factory.mktemp("live-data"))
    try:
        yield server
    finally:
        stop_server(process)


@pytest.fixture(scope="session")
def calm_server(live_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second server on the same database whose kiosk never resets itself during a test.

    For tests that dwell on kiosk screens (accessibility checks, slow networks, keyboard
    journeys): the 3-second idle reset of ``live_server`` would fire in the middle of them.
    """
    process, server = start_server(
        live_database, tmp_path_factory.mktemp("calm-data"),
        FEEDBACK_KIOSK_IDLE_SECONDS="900", FEEDBACK_KIOSK_WARNING_SECONDS="60",
    )
    try:
        yield server
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium; fails (never skips) when it is not installed.

    Module-scoped on purpose: while Playwright's sync API runs, this thread has a running event
    loop, and pytest-asyncio could not start the async tests of the modules that come after.
    Browser tests are therefore plain (sync) functions.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (browser tests must run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _local_only(route: Any) -> None:
    """Abort any request that is not for the app itself (no third-party hosts, ever)."""
    host = urlsplit(route.request.url).hostname
    if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Open pages, each in a fresh context; keep screenshots and traces when the test fails."""
    contexts: list[Any] = []

    def open_page(**context_options: Any) -> Any:
        context_options.setdefault("viewport", {"width": 1024, "height": 768})
        context = browser.new_context(**context_options)
        context.route("**/*", _local_only)
        context.tracing.start(screenshots=True, snapshots=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_page

    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    folder = RESULTS / request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    for index, context in enumerate(contexts):
        if failed:
            folder.mkdir(parents=True, exist_ok=True)
            for number, page in enumerate(context.pages):
                try:
                    page.screenshot(path=str(folder / f"context{index}-page{number}.png"), full_page=True)
                except Exception:  # noqa: BLE001 (a closed page has nothing to show)
                    pass
            context.tracing.stop(path=str(folder / f"trace{index}.zip"))
        else:
            context.tracing.stop()
        context.close()
