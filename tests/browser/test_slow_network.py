"""The kiosk over a thin connection: emulated 2G (250 kbit/s each way, 300 ms round trip).

After the first load every step — from the tap to the next screen on view — takes at most
3 seconds, the final one carrying a voice note included.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.flows import SITE, attachment_kinds, load_item, receipt_code, wait_for_step

pytestmark = pytest.mark.browser

KBPS = 250
LATENCY_MS = 300
STEP_BUDGET_S = 3.0

# (answer to tap, the screen it leads to)
STEPS: list[tuple[str, str]] = [
    ("button[name=lang][value=bm]", "type"),
    ("button[name=feedback_type][value=suggestion]", "topic"),
    ("button[name=topic][value=medicines]", "say"),
    ("button[name=nav][value=next]", "contact"),
    ("button[name=contact_consent][value=no]", "publish"),
    ("button[name=publish_consent][value=yes]", "gender"),
    ("button[name=gender][value=male]", "age"),
    ("button[name=age_band][value='50_plus']", "review"),
    ("button[name=nav][value=back]", "age"),
    ("button[name=age_band][value='50_plus']", "review"),
    ("button[name=nav][value=send]", "receipt"),
]


def test_kiosk_on_2g(calm_server: LiveServer, new_page: Callable[..., Any]) -> None:
    page = new_page(has_touch=True, permissions=["microphone"], viewport={"width": 1280, "height": 800})
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False,
        "latency": LATENCY_MS,
        "downloadThroughput": KBPS * 1000 / 8,
        "uploadThroughput": KBPS * 1000 / 8,
    })
    started = time.monotonic()
    page.goto(calm_server.url(f"/kiosk/{SITE}"))
    wait_for_step(page, "language")
    first_load = time.monotonic() - started

    text = f"Furaw tɛ sɔrɔ dɔgɔtɔrɔso la ({uuid.uuid4().hex[:6]})"
    timings: list[tuple[str, float]] = []
    for answer, screen in STEPS:
        if screen == "contact":
            page.locator("#text").fill(text)
            page.locator("[data-record]").tap()
            page.wait_for_selector("[data-stop]:not([hidden])")
            page.wait_for_timeout(1000)
            page.locator("[data-stop]").tap()
            page.wait_for_selector("[data-recorded]:not([hidden])")
        started = time.monotonic()
        page.locator(answer).tap()
        wait_for_step(page, screen, timeout=15_000)
        timings.append((f"{answer} → {screen}", time.monotonic() - started))

    report = "\n".join(f"  {seconds:5.2f} s  {label}" for label, seconds in timings)
    print(f"\n2G first load {first_load:.2f} s\n{report}")
    slow = [(label, round(seconds, 2)) for label, seconds in timings if seconds > STEP_BUDGET_S]
    assert slow == [], f"steps over {STEP_BUDGET_S} s on 2G:\n{report}"
    item = load_item(calm_server, code=receipt_code(page))
    assert (item.text, item.language, item.age_band) == (text, "bm", "50_plus")
    assert attachment_kinds(calm_server, item.id) == [("voice", "audio/webm")]  # the voice note came too
