"""The same journey as test_journey.py with the keyboard alone: no click, no tap.

Tab and Shift+Tab move, Enter and Space act; words are typed into fields and a select is
changed with the arrow keys, as any keyboard user does. Every control reached must show where
the focus is.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from feedback.seed import DEMO_PASSWORD
from tests.browser.conftest import LiveServer
from tests.browser.flows import SITE, load_item, receipt_code, wait_for_step

pytestmark = pytest.mark.browser

FOCUS_SHOWN = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  return outline || style.boxShadow !== 'none';
}"""


class Keyboard:
    """Moves through a page with Tab (or Shift+Tab) and acts with Enter or Space."""

    def __init__(self, page: Any, unseen_focus: list[str]) -> None:
        self.page = page
        self.unseen_focus = unseen_focus  # controls that got the focus without showing it

    def to(self, selector: str, *, backwards: bool = False, limit: int = 150) -> None:
        key = "Shift+Tab" if backwards else "Tab"
        for _ in range(limit):
            self.page.keyboard.press(key)
            if self.page.evaluate("(s) => !!document.activeElement && document.activeElement.matches(s)", selector):
                if not self.page.evaluate(FOCUS_SHOWN):
                    self.unseen_focus.append(f"{self.page.url} {selector}")
                return
        raise AssertionError(f"{selector} cannot be reached with {key} on {self.page.url}")

    def press(self, selector: str, key: str = "Enter", **options: Any) -> None:
        self.to(selector, **options)
        self.page.keyboard.press(key)

    def type_into(self, selector: str, text: str, **options: Any) -> None:
        self.to(selector, **options)
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.type(text)

    def sign_in(self, server: LiveServer, login: str) -> None:
        self.page.goto(server.url("/login"))
        self.type_into("#login", login)
        self.type_into("#password", DEMO_PASSWORD)
        self.page.keyboard.press("Enter")
        self.page.wait_for_url(lambda url: "/login" not in url)


def test_the_journey_with_the_keyboard_alone(calm_server: LiveServer, new_page: Callable[..., Any]) -> None:
    marker = uuid.uuid4().hex[:6]
    text = f"Sɔgɔma fɛ, ɲɛgɛnw tɛ saniya ({marker})"
    summary = f"Les latrines ne sont pas propres le matin ({marker})."
    response = "Les latrines sont nettoyées à 7 h et à 13 h."
    unseen: list[str] = []

    # 1. The kiosk in Bamanankan, with a voice note, from the keyboard.
    page = new_page(permissions=["microphone"], viewport={"width": 1280, "height": 800})
    keys = Keyboard(page, unseen)
    page.goto(calm_server.url(f"/kiosk/{SITE}"))
    keys.press("button[name=lang][value=bm]")
    wait_for_step(page, "type")
    assert page.evaluate("document.documentElement.lang") == "bm"
    keys.press("button[name=feedback_type][value=complaint]", "Space")
    wait_for_step(page, "topic")
    keys.press("button[name=topic][value=hygiene]")
    wait_for_step(page, "say")
    keys.type_into("#text", text)
    keys.press("[data-record]")
    page.wait_for_selector("[data-stop]:not([hidden])")
    page.wait_for_timeout(1500)
    keys.press("[data-stop]", "Space")
    page.wait_for_selector("[data-recorded]:not([hidden])")
    keys.press("button[name=nav][value=next]")
    wait_for_step(page, "contact")
    keys.press("button[name=contact_consent][value=no]")
    wait_for_step(page, "publish")
    keys.press("button[name=publish_consent][value=yes]", "Space")
    wait_for_step(page, "gender")
    keys.press("button[name=gender][value=female]")
    wait_for_step(page, "age")
    # Back (reached backwards) and forward again keep the answers.
    keys.press("button[name=nav][value=back]", backwards=True)
    wait_for_step(page, "gender")
    keys.press("button[name=gender][value=female]")
    wait_for_step(page, "age")
    keys.press("button[name=age_band][value='35_49']")
    wait_for_step(page, "review")
    assert page.locator("[data-voice-review] audio").count() == 1
    keys.press("button[name=nav][value=send]")
    wait_for_step(page, "receipt")
    code = receipt_code(page)
    item = load_item(calm_server, code=code)
    assert (item.language, item.text, item.gender, item.age_band) == ("bm", text, "female", "35_49")

    # 2. The partner resolves it.
    partner = new_page()
    keys = Keyboard(partner, unseen)
    keys.sign_in(calm_server, "agent.laf")
    keys.type_into("#f-q", code)
    partner.wait_for_function("() => document.querySelectorAll('#results tbody tr').length === 1")
    keys.press(f"#results a[href$='/portal/items/{item.id}']")
    partner.wait_for_url(f"**/portal/items/{item.id}*")
    keys.press("form.action-acknowledge button[type=submit]")
    partner.wait_for_url("**done=acknowledge**")
    keys.type_into("form.action-resolve textarea[name=public_text]", response)
    keys.press("form.action-resolve button[type=submit]")
    partner.wait_for_url("**done=resolve**")
    assert load_item(calm_server, code=code).status == "resolved"

    # 3. The moderator publishes it; the sensitivity select is changed with the arrow keys.
    moderator = new_page()
    keys = Keyboard(moderator, unseen)
    keys.sign_in(calm_server, "moderatrice")
    keys.press(f"a[href$='/moderation/items/{item.id}']")
    moderator.wait_for_url(f"**/moderation/items/{item.id}*")
    keys.type_into("#public_summary", summary)
    keys.to("#sensitivity")
    for _ in range(4):
        if moderator.locator("#sensitivity").input_value() == "S0":
            break
        moderator.keyboard.press("ArrowUp")
    assert moderator.locator("#sensitivity").input_value() == "S0"
    keys.press("button[name=intent][value=publish]")
    moderator.wait_for_selector("p.notice[role=status]")
    assert load_item(calm_server, code=code).published

    # 4. She chooses her language with the switch, types her code and confirms.
    home = new_page(viewport={"width": 360, "height": 740})
    keys = Keyboard(home, unseen)
    home.goto(calm_server.url("/track"))
    keys.press("nav.language-switch a[lang=bm]")
    home.wait_for_function("() => document.documentElement.lang === 'bm'")
    keys.type_into("#code", code.lower())
    home.keyboard.press("Enter")
    home.wait_for_url(f"**/track/{code}*")
    keys.press(f"form[action$='/track/{code}/confirm'] button[type=submit]", "Space")
    home.wait_for_url("**done=confirm**")
    assert load_item(calm_server, code=code).verification == "verified"

    # 5. The site board, and from it the list of everything published there.
    board = new_page()
    keys = Keyboard(board, unseen)
    board.goto(calm_server.url(f"/board/sites/{SITE}"))
    assert board.locator(".published-item", has_text=summary).count() == 1
    keys.press(f"a[href$='/board/items?site={SITE}']")
    board.wait_for_url("**/board/items?site=*")
    assert response in board.locator(".published-item", has_text=summary).inner_text()
    assert unseen == [], "focus not visible on: " + ", ".join(unseen)
