"""Helpers shared by the browser journeys: data made through the domain, signing in, the kiosk
steps, and axe-core.

Playwright's sync API owns the test thread's event loop, so database work runs with
``asyncio.run`` in a thread of its own (``run``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select

from feedback.db import Database
from feedback.domain import intake, moderation, workflow
from feedback.domain.access import Actor
from feedback.models import Attachment, FeedbackItem, User
from feedback.seed import DEMO_PASSWORD
from tests.browser.conftest import LiveServer

T = TypeVar("T")
SITE = "BKO-C4-LAF"  # routed to dtc-laf, the partner of agent.laf
LANGUAGES = ("fr", "bm", "en")
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
# The kiosk steps in order, each recognised by the class the flow puts on #flow.
KIOSK_STEPS = ("language", "type", "topic", "say", "contact", "publish", "gender", "age", "review", "receipt")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run database work beside Playwright (which holds this thread's event loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _with_db(server: LiveServer, work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    db = Database(server.database_url)
    try:
        return await work(db)
    finally:
        await db.dispose()


def load_item(server: LiveServer, *, code: str | None = None, item_id: int | None = None) -> FeedbackItem:
    """One item of the live server's database, by tracking code or id."""

    async def work(db: Database) -> FeedbackItem:
        async with db.read() as session:
            query = select(FeedbackItem).where(
                FeedbackItem.tracking_code == code if code is not None else FeedbackItem.id == item_id
            )
            item = await session.scalar(query)
            assert item is not None, (code, item_id)
            return item

    return run(_with_db(server, work))


def attachment_kinds(server: LiveServer, item_id: int) -> list[tuple[str, str]]:
    """(kind, content type) of an item's attachments."""

    async def work(db: Database) -> list[tuple[str, str]]:
        async with db.read() as session:
            files = await session.scalars(select(Attachment).where(Attachment.item_id == item_id))
            return [(f.kind, f.content_type) for f in files]

    return run(_with_db(server, work))


@dataclass(frozen=True)
class Sample:
    """Items in every state a page shows: one waiting, one resolved and published."""

    waiting_id: int
    waiting_code: str
    resolved_id: int
    resolved_code: str
    summary: str


def make_sample(server: LiveServer) -> Sample:
    """A new item waiting at SITE, and one resolved, moderated (S0) and published."""
    marker = uuid.uuid4().hex[:6]
    summary = f"Les latrines de la maternité sont sales ({marker})."

    async def work(db: Database) -> Sample:
        async with db.write() as session, session.begin():
            users = {u.login: u for u in (await session.scalars(select(User))).all()}
            agent = Actor.for_user(users["agent.laf"])
            waiting = await intake.store(session, intake.Submission(
                site_code=SITE, channel="kiosk", feedback_type="complaint", topic_slug="waiting",
                text=f"On attend trop longtemps le matin ({marker}).", publish_consent=True,
                idempotency_key=uuid.uuid4().hex))
            resolved = await intake.store(session, intake.Submission(
                site_code=SITE, channel="kiosk", feedback_type="complaint", topic_slug="hygiene",
                text=f"Les latrines sont sales, appelez Awa au 76 12 34 56 ({marker}).", publish_consent=True,
                idempotency_key=uuid.uuid4().hex))
            await workflow.apply(session, resolved, "acknowledge", agent)
            await workflow.apply(session, resolved, "resolve", agent,
                                 public_text="Les latrines sont nettoyées deux fois par jour.")
            moderator = Actor.for_user(users["moderatrice"])
            await moderation.moderate(session, resolved, moderator,
                                      moderation.Changes(public_summary=summary, sensitivity="S0"))
            await moderation.publish(session, resolved, moderator)
            return Sample(waiting.id, waiting.tracking_code, resolved.id, resolved.tracking_code, summary)

    return run(_with_db(server, work))


def choose_language(page: Any, server: LiveServer, lang: str, then: str = "/") -> None:
    """Choose the language as people do, with the switch (it stays in a cookie)."""
    page.goto(server.url(f"/language?lang={lang}&next={then}"))


def sign_in(page: Any, server: LiveServer, login: str, lang: str | None = None) -> None:
    """Sign in through the login form (in ``lang`` when given, chosen with the switch)."""
    if lang is not None:
        choose_language(page, server, lang, "/login")
    else:
        page.goto(server.url("/login"))
    page.fill("#login", login)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form[action$='/login'] button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def step_of(page: Any) -> str:
    """The kiosk step on screen (``data-step`` of #flow, or ``receipt``)."""
    if page.locator("[data-receipt]").count():
        return "receipt"
    return str(page.locator("#flow").get_attribute("data-step"))


def wait_for_step(page: Any, step: str, timeout: float = 10_000) -> None:
    selector = "[data-receipt]" if step == "receipt" else f"#flow.step-{step}"
    page.wait_for_selector(selector, timeout=timeout)


def receipt_code(page: Any) -> str:
    return str(page.locator(".tracking-code").inner_text()).replace("-", "").strip()


# ---- axe-core ----------------------------------------------------------------------------

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' — ' + (n.failureSummary || '').split('\\n').slice(1, 2).join(' ').trim())}));
}"""


AXE_URL = "/__tests__/axe.min.js"


def _serve_axe(route: Any) -> None:
    route.fulfill(body=AXE.read_bytes(), content_type="text/javascript",
                  headers={"Cache-Control": "max-age=3600"})


def axe_problems(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations of the page as it is now.

    axe is answered by the browser itself (a route on this page, the server never has it) at a
    same-origin address, so the page's CSP allows it and the page is checked exactly as people
    get it (a CSP bypass would also let blocked inline styles through). A fixed address also
    lets Chromium cache the compiled script between pages.
    """
    if not getattr(page, "_axe_routed", False):
        page.route(f"**{AXE_URL}", _serve_axe)
        page._axe_routed = True
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    return list(page.evaluate(AXE_RUN))


def describe(label: str, problems: list[dict[str, Any]]) -> str:
    lines = [f"{label}:"]
    for p in problems:
        lines.append(f"  [{p['impact']}] {p['id']}: {p['help']}")
        lines.extend(f"      {node}" for node in p["nodes"])
    return "\n".join(lines)


SMALL_TARGETS = """(minimum) => {
  const found = [];
  for (const el of document.querySelectorAll('button, a[href], input:not([type=hidden]), textarea, select, audio[controls], [role=button]')) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width === 0 || box.height === 0 || style.visibility === 'hidden' || el.closest('[hidden], dialog:not([open])')) continue;
    if (box.width < minimum || box.height < minimum) {
      found.push(`${el.tagName.toLowerCase()}${el.name ? '[name=' + el.name + ']' : ''}${el.value && el.tagName === 'BUTTON' ? '[value=' + el.value + ']' : ''} "${(el.innerText || el.getAttribute('aria-label') || '').trim().slice(0, 30)}" ${Math.round(box.width)}×${Math.round(box.height)}`);
    }
  }
  return found;
}"""


def small_targets(page: Any, minimum: int = 48) -> list[str]:
    """Visible controls smaller than ``minimum`` CSS pixels in either direction."""
    return list(page.evaluate(SMALL_TARGETS, minimum))
