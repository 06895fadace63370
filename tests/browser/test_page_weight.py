"""The weight of a first visit (DESIGN §12): bytes over the wire, compression, caching, hosts.

Bytes are counted by Chromium itself (DevTools ``Network.loadingFinished.encodedDataLength``:
headers and compressed body as received), for a first load in a fresh context. Budgets: kiosk
30 KB, tracking page 20 KB, board 60 KB.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.flows import SITE, Sample, make_sample

pytestmark = pytest.mark.browser

KB = 1024
VERSIONED = re.compile(r"/static/.+\.[0-9a-f]{10}\.[A-Za-z0-9]+$")
TEXTUAL = ("text/", "application/javascript", "application/json", "image/svg+xml", "application/xml")


@dataclass
class Load:
    """What one first load fetched."""

    url: str
    transferred: dict[str, int] = field(default_factory=dict)  # url -> bytes over the wire
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    decoded: dict[str, int] = field(default_factory=dict)  # url -> body size after decoding
    foreign: list[str] = field(default_factory=list)  # requests for any other host (aborted)

    @property
    def total(self) -> int:
        return sum(self.transferred.values())

    def table(self) -> str:
        return "\n".join(
            f"  {size:>7} B  {self.headers.get(url, {}).get('content-encoding', '-'):>4}  {url}"
            for url, size in sorted(self.transferred.items(), key=lambda kv: -kv[1])
        ) + f"\n  {self.total:>7} B  total"


def first_load(new_page: Callable[..., Any], server: LiveServer, path: str, **options: Any) -> Load:
    """Open ``path`` in a fresh context and account for every byte until the network is idle."""
    page = new_page(**options)
    load = Load(server.url(path))
    cdp = page.context.new_cdp_session(page)
    urls: dict[str, str] = {}

    def on_response(event: dict[str, Any]) -> None:
        response = event["response"]
        urls[event["requestId"]] = response["url"]
        load.headers[response["url"]] = {k.lower(): v for k, v in response["headers"].items()}

    def on_finished(event: dict[str, Any]) -> None:
        url = urls.get(event["requestId"])
        if url is not None:
            load.transferred[url] = int(event["encodedDataLength"])

    def on_data(event: dict[str, Any]) -> None:
        url = urls.get(event["requestId"])
        if url is not None:
            load.decoded[url] = load.decoded.get(url, 0) + int(event["dataLength"])

    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.loadingFinished", on_finished)
    cdp.on("Network.dataReceived", on_data)
    cdp.send("Network.enable")

    def only_the_app(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1" or route.request.url.startswith(("data:", "blob:")):
            route.fallback()
        else:
            load.foreign.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_app)
    page.goto(load.url)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(100)  # the last DevTools events arrive after "networkidle"
    cdp.detach()
    return load


def check(load: Load, budget_kb: int) -> None:
    assert load.foreign == [], f"requests for other hosts: {load.foreign}"
    assert load.transferred, "nothing was measured"
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in load.transferred)
    assert load.total <= budget_kb * KB, f"{load.url}: {load.total} B over {budget_kb} KB:\n{load.table()}"
    for url, headers in load.headers.items():
        kind = headers.get("content-type", "")
        if load.decoded.get(url, 0) > KB and kind.startswith(TEXTUAL):
            assert headers.get("content-encoding") in ("gzip", "br"), f"not compressed: {url} ({kind})"
        if "/static/" in url:
            assert VERSIONED.search(urlsplit(url).path), f"static file without a versioned name: {url}"
            cache = headers.get("cache-control", "")
            assert "max-age=31536000" in cache and "immutable" in cache, f"{url}: Cache-Control {cache!r}"
    print(f"\n{load.url}\n{load.table()}")


@pytest.fixture(scope="module")
def sample(calm_server: LiveServer) -> Sample:
    return make_sample(calm_server)


def test_kiosk_first_load(calm_server: LiveServer, sample: Sample, new_page: Callable[..., Any]) -> None:
    load = first_load(new_page, calm_server, f"/kiosk/{SITE}", viewport={"width": 1280, "height": 800})
    check(load, 30)
    # Everything the kiosk needs came in this load: its styles and scripts.
    paths = [urlsplit(url).path for url in load.transferred]
    assert any(p.startswith("/static/css/kiosk.") for p in paths) and any(p.startswith("/static/js/kiosk.") for p in paths)


def test_tracking_page_first_load(calm_server: LiveServer, sample: Sample, new_page: Callable[..., Any]) -> None:
    check(first_load(new_page, calm_server, f"/track/{sample.resolved_code}", viewport={"width": 360, "height": 740}), 20)
    check(first_load(new_page, calm_server, "/track", viewport={"width": 360, "height": 740}), 20)


def test_board_first_load(calm_server: LiveServer, sample: Sample, new_page: Callable[..., Any]) -> None:
    check(first_load(new_page, calm_server, "/board/"), 60)
    check(first_load(new_page, calm_server, f"/board/sites/{SITE}"), 60)
