"""The whole accountability loop in a real browser, end to end.

A woman gives feedback at the kiosk of the Lafiabougou health centre in Bamanankan, by touch
only, typing a few words and recording a voice note; the centre's partner (agent.laf) resolves it
with a public response; the moderator publishes a clean summary; she confirms the fix on the
tracking page with her receipt's code; the boards show it. The same loop with the keyboard alone
is in test_keyboard.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.flows import (
    SITE,
    attachment_kinds,
    choose_language,
    load_item,
    receipt_code,
    sign_in,
    wait_for_step,
)

pytestmark = pytest.mark.browser


def check_boards(page: Any, server: LiveServer, summary: str, response: str) -> None:
    """The site board and the "you said, we did" list show the summary and the response."""
    page.goto(server.url(f"/board/sites/{SITE}"))
    entry = page.locator(".published-item", has_text=summary)
    assert entry.count() == 1
    assert response in entry.inner_text()
    page.goto(server.url(f"/board/items?site={SITE}"))
    entry = page.locator(".published-item", has_text=summary)
    assert entry.count() == 1
    assert response in entry.locator(".did").inner_text()


def test_kiosk_to_board_by_touch(calm_server: LiveServer, new_page: Callable[..., Any]) -> None:
    marker = uuid.uuid4().hex[:6]
    text = f"Dɔgɔtɔrɔso la, mɔgɔw bɛ makɔnɔ kosɛbɛ sɔgɔma fɛ ({marker})"
    summary = f"Une mère signale une longue attente le matin ({marker})."
    response = "Une deuxième sage-femme commence à 7 h 30 depuis lundi."

    # 1. The kiosk, by touch only, in Bamanankan: text and a voice note.
    kiosk = new_page(has_touch=True, permissions=["microphone"], viewport={"width": 1280, "height": 800})
    kiosk.goto(calm_server.url(f"/kiosk/{SITE}"))
    assert kiosk.evaluate("document.documentElement.lang") == "fr"  # French until someone chooses
    kiosk.locator("button[name=lang][value=bm]").tap()
    wait_for_step(kiosk, "type")
    assert kiosk.evaluate("document.documentElement.lang") == "bm"
    kiosk.locator("button[name=feedback_type][value=complaint]").tap()
    kiosk.locator("button[name=topic][value=waiting]").tap()
    wait_for_step(kiosk, "say")
    kiosk.locator("#text").tap()
    kiosk.locator("#text").fill(text)
    kiosk.locator("[data-record]").tap()
    kiosk.wait_for_selector("[data-stop]:not([hidden])")
    kiosk.wait_for_timeout(1500)  # the fake microphone plays a tone meanwhile
    kiosk.locator("[data-stop]").tap()
    kiosk.wait_for_selector("[data-recorded]:not([hidden])")
    kiosk.locator("button[name=nav][value=next]").tap()
    kiosk.locator("button[name=contact_consent][value=no]").tap()
    kiosk.locator("button[name=publish_consent][value=yes]").tap()
    kiosk.locator("button[name=gender][value=female]").tap()
    kiosk.locator("button[name=age_band][value='25_34']").tap()
    wait_for_step(kiosk, "review")
    assert kiosk.locator("[data-voice-review] audio").count() == 1
    kiosk.locator("button[name=nav][value=send]").tap()
    wait_for_step(kiosk, "receipt")
    assert kiosk.evaluate("document.documentElement.lang") == "bm"
    code = receipt_code(kiosk)
    item = load_item(calm_server, code=code)
    assert (item.channel, item.language, item.text, item.publish_consent) == ("kiosk", "bm", text, True)
    assert item.partner_id is not None and item.status == "received"
    assert attachment_kinds(calm_server, item.id) == [("voice", "audio/webm")]

    # 2. The partner of the centre signs in, finds it by its code, and resolves it.
    partner = new_page()
    sign_in(partner, calm_server, "agent.laf")
    partner.fill("#f-q", code)
    partner.wait_for_function("() => document.querySelectorAll('#results tbody tr').length === 1")
    partner.click(f"#results a[href$='/portal/items/{item.id}']")
    partner.wait_for_url(f"**/portal/items/{item.id}*")
    assert text in partner.locator("blockquote.original").inner_text()
    assert partner.locator("audio").count() == 1  # the voice note reached the partner
    partner.click("form.action-acknowledge button[type=submit]")
    partner.wait_for_url("**done=acknowledge**")
    partner.fill("form.action-resolve textarea[name=public_text]", response)
    partner.click("form.action-resolve button[type=submit]")
    partner.wait_for_url("**done=resolve**")
    assert load_item(calm_server, code=code).status == "resolved"

    # 3. The moderator writes a clean summary, marks it S0 public and publishes it.
    moderator = new_page()
    sign_in(moderator, calm_server, "moderatrice")
    moderator.click(f"a[href$='/moderation/items/{item.id}']")
    moderator.wait_for_url(f"**/moderation/items/{item.id}*")
    moderator.fill("#public_summary", summary)
    moderator.select_option("#sensitivity", "S0")
    moderator.click("button[name=intent][value=publish]")
    moderator.wait_for_selector("p.notice[role=status]")
    published = load_item(calm_server, code=code)
    assert (published.published, published.sensitivity, published.public_summary) == (True, "S0", summary)

    # 4. At home, she follows her receipt's code (in Bamanankan) and confirms the fix.
    home = new_page(viewport={"width": 360, "height": 740})
    choose_language(home, calm_server, "bm", "/track")
    assert home.evaluate("document.documentElement.lang") == "bm"
    home.fill("#code", code[:3] + "-" + code[3:6] + " " + code[6:].lower())
    home.locator("form.track-form button[type=submit]").click()
    home.wait_for_url(f"**/track/{code}*")
    assert response in home.locator("blockquote.did").first.inner_text()
    home.locator(f"form[action$='/track/{code}/confirm'] button[type=submit]").click()
    home.wait_for_url("**done=confirm**")
    assert home.locator(".badge.verified").count() >= 1
    assert load_item(calm_server, code=code).verification == "verified"

    # 5. The boards show what was said and what was done (in English for this visitor).
    visitor = new_page()
    choose_language(visitor, calm_server, "en", f"/board/sites/{SITE}")
    assert visitor.evaluate("document.documentElement.lang") == "en"
    check_boards(visitor, calm_server, summary, response)
    # Nothing personal: the original words stay inside the portal.
    assert marker in visitor.content() and text not in visitor.content()
