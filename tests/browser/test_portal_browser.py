"""The partner journey in a real browser: sign in, find the item with the htmx search,
acknowledge, resolve with a public response, sign out; and the inbox on a narrow phone screen."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from feedback.db import Database
from feedback.domain import intake
from feedback.models import FeedbackItem
from feedback.seed import DEMO_PASSWORD
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser


def run(coroutine: Any) -> Any:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _store(server: LiveServer, text: str) -> tuple[int, str]:
    db = Database(server.database_url)
    try:
        async with db.write() as session, session.begin():
            item = await intake.store(session, intake.Submission(
                site_code="BKO-C4-LAF", channel="kiosk", feedback_type="complaint", topic_slug="hygiene",
                text=text, publish_consent=True, idempotency_key=uuid.uuid4().hex))
            return item.id, item.tracking_code
    finally:
        await db.dispose()


async def _load(server: LiveServer, item_id: int) -> FeedbackItem:
    db = Database(server.database_url)
    try:
        async with db.read() as session:
            item = await session.get(FeedbackItem, item_id)
            assert item is not None
            return item
    finally:
        await db.dispose()


def sign_in(page: Any, server: LiveServer, login: str) -> None:
    page.goto(server.url("/login?lang=en"))
    page.fill("#login", login)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form[action$='/login'] button[type=submit]")
    page.wait_for_url("**/portal/**")


def test_partner_acknowledges_and_resolves(live_server: LiveServer, new_page: Callable[..., Any]) -> None:
    marker = f"robinet-{uuid.uuid4().hex[:6]}"
    item_id, code = run(_store(live_server, f"Le {marker} de la maternité fuit depuis une semaine."))
    run(_store(live_server, "Une autre remarque sur l'hygiène."))
    page = new_page()
    sign_in(page, live_server, "agent.laf")
    assert page.locator("#results tbody tr").count() >= 2

    # The search narrows the list through htmx (no full reload: the header stays the same node).
    page.evaluate("document.querySelector('.staff-nav').dataset.kept = 'yes'")
    page.fill("#f-q", marker)
    page.wait_for_function("() => document.querySelectorAll('#results tbody tr').length === 1")
    assert page.evaluate("document.querySelector('.staff-nav').dataset.kept") == "yes"
    # hx-push-url: the filtered list keeps its address (Back and bookmarks work).
    page.wait_for_function("(q) => location.search.includes('q=' + q)", arg=marker)

    page.click(f"#results a[href$='/portal/items/{item_id}']")
    page.wait_for_url(f"**/portal/items/{item_id}**")
    page.click("form.action-acknowledge button[type=submit]")
    page.wait_for_url("**done=acknowledge**")
    assert run(_load(live_server, item_id)).status == "acknowledged"

    # Resolve: the public response is required by the browser and by the server.
    page.fill("form.action-resolve textarea[name=public_text]", "Le plombier a remplacé le robinet lundi.")
    page.click("form.action-resolve button[type=submit]")
    page.wait_for_url("**done=resolve**")
    item = run(_load(live_server, item_id))
    assert item.status == "resolved" and item.public_response == "Le plombier a remplacé le robinet lundi."
    assert page.locator(".timeline .event-public_response").count() == 1

    page.click(".staff-nav form button[type=submit]")
    page.wait_for_url("**/login?notice=signed_out**")
    page.goto(live_server.url(f"/portal/items/{item_id}"))
    assert "/login" in page.url
    assert code


def test_inbox_reflows_on_a_small_phone(live_server: LiveServer, new_page: Callable[..., Any]) -> None:
    run(_store(live_server, "Pas de savon aux latrines."))
    page = new_page(viewport={"width": 360, "height": 640})
    sign_in(page, live_server, "agent.laf")
    assert page.locator("#results tbody tr").count() >= 1
    # No sideways scrolling on a 360 px screen: the table became a list of cards.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.evaluate("getComputedStyle(document.querySelector('table.reflow thead')).position") == "absolute"
