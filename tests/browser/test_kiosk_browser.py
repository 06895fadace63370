"""The kiosk in a real browser: by touch in Bamanankan with a voice note, without JavaScript, and
the idle privacy reset."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import pytest
from sqlalchemy import select

from feedback.db import Database
from feedback.models import Attachment, FeedbackItem
from tests.browser.conftest import KIOSK_IDLE_SECONDS, KIOSK_WARNING_SECONDS, LiveServer

pytestmark = pytest.mark.browser

SITE = "BKO-C4-LAF"
TEXT = "Dɔgɔtɔrɔso makɔnɔni ka jan kosɛbɛ, ɲɛgɛn ŋaniya tɛ"


def stored(server: LiveServer, code: str) -> tuple[FeedbackItem, list[Attachment]]:
    """The item of a receipt code and its attachments, read from the live server's database."""

    async def query() -> tuple[FeedbackItem, list[Attachment]]:
        db = Database(server.database_url)
        try:
            async with db.read() as session:
                item = await session.scalar(select(FeedbackItem).where(FeedbackItem.tracking_code == code))
                assert item is not None, code
                files = (await session.scalars(select(Attachment).where(Attachment.item_id == item.id))).all()
                return item, list(files)
        finally:
            await db.dispose()

    # Playwright's sync API owns this thread's event loop; the query gets a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, query()).result()


def receipt_code(page: Any) -> str:
    return str(page.locator(".tracking-code").inner_text()).replace("-", "").strip()


def test_kiosk_by_touch_in_bambara_with_a_voice_note(live_server: LiveServer, new_page: Any) -> None:
    page = new_page(has_touch=True, is_mobile=False, permissions=["microphone"])
    # The first load's weight (30 KB budget) is measured in test_page_weight.py.
    page.goto(live_server.url(f"/kiosk/{SITE}"))

    page.locator("button[name=lang][value=bm]").tap()
    page.wait_for_selector(".step-type")
    assert page.evaluate("document.documentElement.lang") == "bm"
    # From here on htmx swaps the steps: the page is never reloaded.
    page.evaluate("window.stillTheSamePage = true")
    page.locator("button[value=complaint]").tap()
    page.locator("button[value=waiting]").tap()
    page.wait_for_selector(".step-say")
    assert page.locator("[data-recorder]").is_visible()  # voice notes are offered with JS
    page.locator("#text").tap()
    page.locator("#text").fill(TEXT)
    page.locator("[data-record]").tap()
    page.wait_for_selector("[data-stop]:not([hidden])")  # the microphone is on
    page.wait_for_timeout(2000)
    page.locator("[data-stop]").tap()
    page.wait_for_selector("[data-recorded]:not([hidden])")
    page.locator("button[name=nav][value=next]").tap()
    page.locator("button[name=contact_consent][value=no]").tap()
    page.locator("button[name=publish_consent][value=yes]").tap()
    page.locator("button[value=female]").tap()
    page.locator("button[value='25_34']").tap()
    page.wait_for_selector(".step-review")
    assert page.locator("[data-voice-review] audio").count() == 1
    # Back keeps the answers: go back to the age screen and forward again.
    page.locator("button[name=nav][value=back]").tap()
    page.wait_for_selector(".step-age")
    page.locator("button[value='25_34']").tap()
    page.wait_for_selector(".step-review")
    page.locator("button[value=send]").tap()
    page.wait_for_selector("[data-receipt]")

    assert page.evaluate("window.stillTheSamePage") is True
    assert page.evaluate("document.documentElement.lang") == "bm"
    assert page.locator(".qr svg").is_visible()
    item, files = stored(live_server, receipt_code(page))
    assert (item.channel, item.language, item.text) == ("kiosk", "bm", TEXT)
    assert (item.gender, item.age_band, item.publish_consent) == ("female", "25_34", True)
    assert [(f.kind, f.content_type) for f in files] == [("voice", "audio/webm")]
    assert files[0].size > 1000


def test_kiosk_without_javascript(live_server: LiveServer, new_page: Any) -> None:
    page = new_page(java_script_enabled=False)
    page.goto(live_server.url(f"/kiosk/{SITE}"))
    page.locator("button[name=lang][value=bm]").click()
    page.locator("button[value=question]").click()
    page.locator("button[value=medicines]").click()
    assert not page.locator("[data-recorder]").is_visible()  # no voice notes without JS
    page.locator("#text").fill(TEXT)
    page.locator("button[name=nav][value=next]").click()
    # A bad number: the message, and the number kept for correction.
    page.locator("#contact_phone").fill("12")
    page.locator("button[name=contact_consent][value=yes]").click()
    assert page.locator(".error-summary").is_visible()
    assert page.locator("#contact_phone").input_value() == "12"
    page.locator("button[name=nav][value=back]").click()
    assert page.locator("#text").input_value() == TEXT
    page.locator("button[name=nav][value=next]").click()
    page.locator("#contact_phone").fill("+223 76 12 34 56")
    page.locator("button[name=contact_consent][value=yes]").click()
    page.locator("button[name=publish_consent][value=no]").click()
    page.locator("button[value=undisclosed]").click()
    page.locator("button[value=undisclosed]").click()
    page.locator("button[value=send]").click()
    page.wait_for_selector("[data-receipt]")
    assert "76 12 34 56" not in page.content() and "22376123456" not in page.content()
    item, files = stored(live_server, receipt_code(page))
    assert (item.channel, item.language, item.feedback_type) == ("kiosk", "bm", "question")
    assert item.contact_phone == "+22376123456" and files == []


def test_idle_kiosk_warns_then_forgets_everything(live_server: LiveServer, new_page: Any) -> None:
    page = new_page(permissions=["microphone"])
    start = live_server.url(f"/kiosk/{SITE}")
    page.goto(start)
    page.locator("button[name=lang][value=en]").click()
    page.locator("button[value=complaint]").click()
    page.locator("button[value=cost]").click()
    page.locator("#text").fill("private words of the last person")
    dialog = page.locator("#idle-warning")
    # Idle: the warning comes, and "I need more time" keeps everything.
    dialog.wait_for(state="visible", timeout=(KIOSK_IDLE_SECONDS + 2) * 1000)
    page.get_by_role("button", name="I need more time").click()
    assert not dialog.is_visible()
    assert page.locator("#text").input_value() == "private words of the last person"
    # Idle again, no answer: back to the language screen, and nothing to see with Back.
    dialog.wait_for(state="visible", timeout=(KIOSK_IDLE_SECONDS + 2) * 1000)
    page.wait_for_selector(".step-language", timeout=(KIOSK_WARNING_SECONDS + 3) * 1000)
    assert page.url == start
    assert "private words" not in page.content()
    page.go_back()
    page.wait_for_load_state()
    assert "private words" not in page.content()
