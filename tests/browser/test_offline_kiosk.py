"""The offline kiosk in a real browser: one online visit, then three submissions with the network
off (one with a voice note), a reload while offline, and the queue sent exactly once when the
network returns, with the reserved codes of the receipts and the original times of submission."""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from feedback.db import Database
from feedback.models import Attachment, FeedbackItem, Kiosk, ReservedCode
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

SITE = "BKO-C4-LAF"
TEXTS = ("Hakɛto, dɔgɔtɔrɔso tɛ se ka yelen kɛ.", "Pas de médicaments pour les enfants depuis lundi.")


# What the device keeps aside (refused by the server): nothing, here.
REJECTED = """() => new Promise((resolve) => {
  indexedDB.open("sauti-kiosk").onsuccess = (e) => {
    e.target.result.transaction("queue").objectStore("queue").getAll().onsuccess = (r) =>
      resolve(r.target.result.filter((i) => i.state !== "queued").map((i) => i.reason));
  };
})"""


def in_database(server: LiveServer, query: Any) -> Any:
    """Run ``query(session)`` against the live server's database (in a thread of its own)."""

    async def run() -> Any:
        db = Database(server.database_url)
        try:
            async with db.read() as session:
                return await query(session)
        finally:
            await db.dispose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def answer_flow(page: Any, *, lang: str, kind: str, topic: str, text: str = "", voice: bool = False) -> tuple[str, str]:
    """Walk every step of the kiosk and send; returns (receipt code, device time of submission)."""
    page.locator(f"button[name=lang][value={lang}]").click()
    page.locator(f"button[name=feedback_type][value={kind}]").click()
    page.locator(f"button[name=topic][value={topic}]").click()
    page.wait_for_selector(".step-say")
    if text:
        page.locator("#text").fill(text)
    if voice:
        page.locator("[data-record]").click()
        page.wait_for_selector("[data-stop]:not([hidden])")
        page.wait_for_timeout(1500)
        page.locator("[data-stop]").click()
        page.wait_for_selector("[data-recorded]:not([hidden])")
    page.locator("button[name=nav][value=next]").click()
    page.locator("button[name=contact_consent][value=no]").click()
    page.locator("button[name=publish_consent][value=no]").click()
    page.locator("button[name=gender][value=undisclosed]").click()
    page.locator("button[name=age_band][value=undisclosed]").click()
    page.wait_for_selector(".step-review")
    page.locator("button[name=nav][value=send]").click()
    receipt = page.wait_for_selector("[data-receipt]")
    code = str(page.locator(".tracking-code").inner_text()).replace("-", "").strip()
    return code, str(receipt.get_attribute("data-submitted-at"))


def test_offline_kiosk_queues_and_sends_exactly_once(live_server: LiveServer, new_page: Any) -> None:
    page = new_page(permissions=["microphone"])
    context = page.context
    start = live_server.url(f"/kiosk/{SITE}")
    page.goto(start)
    # One online visit: the service worker keeps the kiosk, the device registers, codes are reserved.
    page.wait_for_selector("body[data-offline-ready]", timeout=20_000)
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    status = page.locator("[data-net-status]")
    assert status.get_attribute("role") == "status" and "is-online" in str(status.get_attribute("class"))

    context.set_offline(True)
    page.wait_for_selector("[data-net-status].is-offline")
    receipts = [
        answer_flow(page, lang="bm", kind="complaint", topic="waiting", text=TEXTS[0]),
        answer_flow(page, lang="fr", kind="question", topic="medicines", voice=True),
    ]
    assert page.locator("[data-offline-note]").is_visible()
    page.locator("[data-restart]").click()
    page.wait_for_selector(".step-language")
    # Reloaded with the network off: the kiosk still opens, and still counts what waits.
    page.reload()
    page.wait_for_selector(".step-language")
    page.wait_for_selector("[data-net-status].is-offline")
    receipts.append(answer_flow(page, lang="en", kind="suggestion", topic="hygiene", text=TEXTS[1]))
    assert "3" in status.inner_text()
    codes = [code for code, _ in receipts]
    assert len(set(codes)) == 3 and all(len(code) == 9 for code in codes)
    page.wait_for_timeout(1000)  # received clearly later than submitted

    context.set_offline(False)
    page.wait_for_selector("body[data-queued='0']", timeout=20_000)
    page.wait_for_selector("[data-net-status].is-online")
    assert page.evaluate(REJECTED) == []

    async def stored(session: Any) -> Any:
        items = (await session.scalars(select(FeedbackItem).where(FeedbackItem.tracking_code.in_(codes)))).all()
        voices = await session.scalar(select(func.count()).select_from(Attachment).where(
            Attachment.item_id.in_([i.id for i in items]), Attachment.kind == "voice"))
        reserved = (await session.scalars(select(ReservedCode).where(ReservedCode.code.in_(codes)))).all()
        kiosk = await session.get(Kiosk, items[0].kiosk_id) if items else None
        return items, voices, reserved, kiosk

    items, voices, reserved, kiosk = in_database(live_server, stored)
    assert sorted(i.tracking_code for i in items) == sorted(codes)  # exactly three, with the receipts' codes
    assert voices == 1
    assert all(r.used_at is not None and r.kiosk_id == kiosk.id for r in reserved) and len(reserved) == 3
    by_code = {i.tracking_code: i for i in items}
    for code, device_time in receipts:
        item = by_code[code]
        submitted = datetime.fromisoformat(device_time.replace("Z", "+00:00"))
        assert abs((item.submitted_at - submitted).total_seconds()) < 0.002
        assert item.received_at > item.submitted_at
        assert (item.channel, item.kiosk_id) == ("kiosk", kiosk.id)
    assert by_code[codes[0]].language == "bm" and by_code[codes[0]].text == TEXTS[0]
    assert by_code[codes[1]].language == "fr" and by_code[codes[1]].text == ""
    # The kiosk told the server what it holds: nothing waits, and it is in contact.
    page.wait_for_timeout(500)
    kiosk = in_database(live_server, lambda s: s.get(Kiosk, kiosk.id))
    assert kiosk.queued_count == 0 and kiosk.app_version and kiosk.last_contact_at is not None


def test_a_new_version_never_mixes_with_the_old_page(live_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    page.goto(live_server.url(f"/kiosk/{SITE}"))
    # A cache left by an older version of the kiosk on this device.
    page.evaluate("caches.open('sauti-0ld0ld0ld0ld').then((c) => c.put('/old', new Response('old')))")
    page.wait_for_selector("body[data-offline-ready]", timeout=20_000)
    version = page.evaluate("document.body.dataset.version")
    # The new service worker deleted the old version's cache when it took over.
    assert page.evaluate("caches.keys()") == [f"sauti-{version}"]

    # The server now runs another version than this page: it answers the page's next step with
    # 409 instead of its own screens, and the page carries on from its own (same-version) copy.
    page.evaluate("""() => {
      const headers = JSON.parse(document.body.getAttribute('hx-headers'));
      headers['X-App-Version'] = 'an-old-page';
      document.body.setAttribute('hx-headers', JSON.stringify(headers));
      window.sameDocument = true;
    }""")
    page.locator("button[name=lang][value=fr]").click()  # a whole-page step: no version to mix
    page.wait_for_selector(".step-type")
    page.wait_for_selector("body[data-offline-ready]", timeout=20_000)
    page.evaluate("""() => {
      const headers = JSON.parse(document.body.getAttribute('hx-headers'));
      headers['X-App-Version'] = 'an-old-page';
      document.body.setAttribute('hx-headers', JSON.stringify(headers));
      window.sameDocument = true;
    }""")
    with page.expect_response(lambda r: r.request.method == "POST" and r.status == 409):
        page.locator("button[name=feedback_type][value=compliment]").click()
    page.wait_for_selector(".step-topic")
    # Rendered on the device: its forms carry no server-written answers.
    assert page.locator("#flow input[name=idempotency_key]").count() == 0
    assert page.evaluate("window.sameDocument") is True
    page.locator("button[name=topic][value=welcome]").click()
    page.locator("#text").fill("Merci pour l'accueil de la sage-femme.")
    page.locator("button[name=nav][value=next]").click()
    page.locator("button[name=contact_consent][value=no]").click()
    page.locator("button[name=publish_consent][value=yes]").click()
    page.locator("button[name=gender][value=female]").click()
    page.locator("button[name=age_band][value='35_49']").click()
    page.locator("button[name=nav][value=send]").click()
    page.wait_for_selector("[data-receipt]")
    code = str(page.locator(".tracking-code").inner_text()).replace("-", "").strip()
    assert page.evaluate("window.sameDocument") is True  # the receipt stays until the person is done
    # Done: the kiosk starts again from a page of the server's own version, and what the old
    # page queued is sent.
    page.locator("[data-restart]").click()
    page.wait_for_selector(".step-language")
    assert page.evaluate("window.sameDocument") is None
    page.wait_for_selector("body[data-queued='0']", timeout=20_000)

    async def stored(session: Any) -> Any:
        return await session.scalar(select(FeedbackItem).where(FeedbackItem.tracking_code == code))

    item = in_database(live_server, stored)
    assert item is not None and item.feedback_type == "compliment" and item.publish_consent is True
