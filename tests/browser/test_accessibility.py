"""Accessibility in a real browser: axe-core on every page type in every language, `lang` right,
and kiosk touch targets of at least 48 px.

axe-core is vendored for the tests only (tests/browser/vendor): the browser answers its address
itself and the server never has it (see ``flows.axe_problems``). Each test gathers every serious or
critical violation of its pages and prints them all at the end, so one run shows the whole list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.flows import (
    LANGUAGES,
    SITE,
    Sample,
    axe_problems,
    choose_language,
    describe,
    make_sample,
    sign_in,
    small_targets,
    step_of,
    wait_for_step,
)

pytestmark = pytest.mark.browser

# The answers that walk the kiosk through every screen (one tap per screen).
KIOSK_TAPS: list[tuple[str, str]] = [
    ("type", "button[name=feedback_type][value=suggestion]"),
    ("topic", "button[name=topic][value=welcome]"),
    ("say", "button[name=nav][value=next]"),  # the text is typed first, see below
    ("contact", "button[name=contact_consent][value=no]"),
    ("publish", "button[name=publish_consent][value=no]"),
    ("gender", "button[name=gender][value=undisclosed]"),
    ("age", "button[name=age_band][value=undisclosed]"),
    ("review", "button[name=nav][value=send]"),
]


@pytest.fixture(scope="module")
def sample(calm_server: LiveServer) -> Sample:
    return make_sample(calm_server)


class Findings:
    """Problems of many pages, reported together."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.pages = 0

    def check(self, page: Any, label: str, lang: str | None = None, *, targets: bool = False) -> None:
        self.pages += 1
        problems = axe_problems(page)
        if problems:
            self.lines.append(describe(label, problems))
        if lang is not None:
            actual = page.evaluate("document.documentElement.lang")
            if actual != lang:
                self.lines.append(f"{label}: <html lang={actual!r}>, expected {lang!r}")
        if targets:
            small = small_targets(page)
            if small:
                self.lines.append(f"{label}: touch targets under 48 px:\n      " + "\n      ".join(small))

    def assert_clean(self) -> None:
        assert not self.lines, "\n" + "\n".join(self.lines)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_kiosk_every_step(lang: str, calm_server: LiveServer, new_page: Callable[..., Any]) -> None:
    findings = Findings()
    page = new_page(has_touch=True, permissions=["microphone"],
                    viewport={"width": 1280, "height": 800})
    page.goto(calm_server.url(f"/kiosk/{SITE}?lang={lang}"))
    wait_for_step(page, "language")
    findings.check(page, f"kiosk language ({lang})", lang, targets=True)
    # The idle warning, as it shows after a minute without a touch.
    page.evaluate("document.getElementById('idle-warning').showModal()")
    findings.check(page, f"kiosk idle warning ({lang})", lang, targets=True)
    page.evaluate("document.getElementById('idle-warning').close()")
    page.locator(f"button[name=lang][value={lang}]").tap()
    for step, answer in KIOSK_TAPS:
        wait_for_step(page, step)
        if step == "say":
            # The error state first: nothing said yet.
            page.locator("button[name=nav][value=next]").tap()
            page.wait_for_selector(".error-summary")
            findings.check(page, f"kiosk say with an error ({lang})", lang, targets=True)
            page.locator("#text").fill("Accueil très correct à la maternité.")
        findings.check(page, f"kiosk {step} ({lang})", lang, targets=True)
        page.locator(answer).tap()
    wait_for_step(page, "receipt")
    assert step_of(page) == "receipt"
    findings.check(page, f"kiosk receipt ({lang})", lang, targets=True)
    findings.assert_clean()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_public_pages(lang: str, calm_server: LiveServer, sample: Sample, new_page: Callable[..., Any]) -> None:
    findings = Findings()
    page = new_page()
    choose_language(page, calm_server, lang)
    paths = {
        "home": "/",
        "web submit": "/submit",
        "track form": "/track",
        "track resolved item": f"/track/{sample.resolved_code}",
        "board": "/board/",
        "board site": f"/board/sites/{SITE}",
        "board partner": "/board/partners/dtc-laf",
        "you said, we did": "/board/items",
        "login": "/login",
        "404": "/no-such-page",
    }
    for label, path in paths.items():
        response = page.goto(calm_server.url(path))
        assert response is not None and response.status == (404 if label == "404" else 200), (label, response)
        findings.check(page, f"{label} ({lang})", lang)
    # The tracking form's error state, and the waiting-room display (in the site's languages).
    page.goto(calm_server.url("/track"))
    page.fill("#code", "ZZZZ")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    findings.check(page, f"track form with an error ({lang})", lang)
    page.goto(calm_server.url(f"/board/display/{SITE}"))
    findings.check(page, f"board display ({lang})")
    findings.assert_clean()


STAFF_PAGES: dict[str, dict[str, str]] = {
    "agent.laf": {
        "portal inbox": "/portal/",
        "portal item to work on": "/portal/items/{waiting_id}",
        "portal resolved item": "/portal/items/{resolved_id}",
    },
    "moderatrice": {
        "moderation queue": "/moderation/",
        "moderation item": "/moderation/items/{waiting_id}",
        "moderation published item": "/moderation/items/{resolved_id}",
    },
    "admin": {
        "admin index": "/admin/",
        "admin sites": "/admin/sites",
        "admin users": "/admin/users",
        "admin routing rules": "/admin/routing_rules",
    },
}


@pytest.mark.parametrize("login", STAFF_PAGES)
def test_staff_pages(login: str, calm_server: LiveServer, sample: Sample, new_page: Callable[..., Any]) -> None:
    findings = Findings()
    page = new_page()
    sign_in(page, calm_server, login)
    for lang in LANGUAGES:
        for number, (label, path) in enumerate(STAFF_PAGES[login].items()):
            path = path.format(waiting_id=sample.waiting_id, resolved_id=sample.resolved_id)
            if number == 0:
                choose_language(page, calm_server, lang, path)
            else:
                page.goto(calm_server.url(path))
            assert page.url.endswith(path), (label, page.url)
            findings.check(page, f"{label} ({lang}, {login})", lang)
    findings.assert_clean()
