"""/board: the national, site and partner boards, "You said, we did" with "me too", the
waiting-room display, the kiosk silence flag, and the size of the first load."""

from __future__ import annotations

import dataclasses
import gzip
import re
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from feedback.db import Database
from feedback.domain import intake, moderation, workflow
from feedback.domain.access import Actor
from feedback.models import FeedbackItem, Support, User, utcnow
from tests.conftest import csrf_token


async def _published(db: Database, site: str = "BKO-C4-LAF", topic: str = "hygiene",
                     summary: str = "Une usagère signale des latrines fermées.") -> FeedbackItem:
    """An item resolved by its partner, reviewed and published by the moderator."""
    received = utcnow() - timedelta(days=6)
    async with db.write() as session, session.begin():
        users = {u.login: u for u in (await session.scalars(select(User))).all()}
        item = await intake.store(session, intake.Submission(
            site_code=site, channel="kiosk", feedback_type="complaint", topic_slug=topic,
            text="Les latrines sont fermées, dit Mariam", publish_consent=True,
        ), now=received)
        staff = Actor.for_user(users["sauvegarde"])
        await workflow.apply(session, item, "resolve", staff, public_text="Les latrines ont été réparées.",
                             now=received + timedelta(days=2))
        moderator = Actor.for_user(users["moderatrice"])
        await moderation.moderate(session, item, moderator,
                                  moderation.Changes(public_summary=summary, sensitivity="S0"))
        await moderation.publish(session, item, moderator)
    return item


async def _many(db: Database, count: int, site: str = "BKO-C4-LAF") -> None:
    async with db.write() as session, session.begin():
        for n in range(count):
            await intake.store(session, intake.Submission(
                site_code=site, channel="sms", feedback_type="suggestion", topic_slug="waiting",
                text=f"idée {n}", gender="female" if n % 2 else "male"))


async def test_national_board(client: httpx.AsyncClient, db: Database) -> None:
    await _many(db, 12)
    response = await client.get("/board/", params={"lang": "en"})
    assert response.status_code == 200
    text = response.text
    assert 'data-figure="received">12<' in text
    assert "CSCOM de Lafiabougou" in text and "Health centres" in text
    assert 'role="img"' in text and "<caption>" in text
    assert "By gender (self-described)" in text
    assert response.headers["vary"].startswith("HX-Request")
    # An unknown period falls back to the default one.
    assert (await client.get("/board/", params={"period": "<script>"})).status_code == 200


async def test_period_changes_the_window(client: httpx.AsyncClient, db: Database) -> None:
    async with db.write() as session, session.begin():
        for days in (1, 70, 200):
            await intake.store(session, intake.Submission(
                site_code="BKO-C4-LAF", channel="sms", feedback_type="question", topic_slug="waiting",
                text="?"), now=utcnow() - timedelta(days=days))
    app = client._transport.app  # type: ignore[attr-defined]
    received = {}
    for period in ("month", "3m", "12m"):
        app.state.board_cache.clear() if hasattr(app.state, "board_cache") else None
        page = await client.get("/board/", params={"period": period})
        received[period] = int(re.search(r'data-figure="received">(\d+)<', page.text).group(1))  # type: ignore[union-attr]
    assert received["12m"] == 3
    assert received["month"] <= received["3m"] <= 2


async def test_site_and_partner_boards(client: httpx.AsyncClient, db: Database) -> None:
    await _many(db, 3)
    site = await client.get("/board/sites/bko-c4-laf", params={"lang": "en"})
    assert site.status_code == 200
    assert "CSCOM de Lafiabougou" in site.text
    assert 'data-figure="received">fewer than 5<' in site.text
    assert "not enough feedback yet" in site.text
    partner = await client.get("/board/partners/dtc-laf", params={"lang": "en"})
    assert partner.status_code == 200 and 'data-figure="received">fewer than 5<' in partner.text
    assert (await client.get("/board/sites/NOPE")).status_code == 404
    assert (await client.get("/board/partners/nope")).status_code == 404
    # The safeguarding focal point has no public board.
    assert (await client.get("/board/partners/sauvegarde")).status_code == 404


async def test_silent_kiosk_is_flagged(client: httpx.AsyncClient) -> None:
    silent = await client.get("/board/sites/BKO-C6-NIA", params={"lang": "en"})
    assert 'data-kiosk-silent="true"' in silent.text
    assert "silent for more than 2 days" in silent.text
    alive = await client.get("/board/sites/BKO-C4-LAF")
    assert 'data-kiosk-silent="false"' in alive.text and 'data-kiosk-silent="true"' not in alive.text
    national = await client.get("/board/", params={"lang": "en"})
    row = national.text.split("CSCOM de Niamakoro")[1].split("</tr>")[0]
    assert "silent" in row


async def test_you_said_we_did_list_and_filters(client: httpx.AsyncClient, db: Database) -> None:
    item = await _published(db)
    other = await _published(db, site="BKO-C1-BAN", topic="medicines", summary="Un usager signale une rupture de vaccins.")
    page = await client.get("/board/items", params={"lang": "en"})
    assert page.status_code == 200
    assert "Une usagère signale des latrines fermées." in page.text
    assert "Les latrines ont été réparées." in page.text
    assert "week of" in page.text
    assert "Mariam" not in page.text  # never the original text
    only = await client.get("/board/items", params={"site": "BKO-C1-BAN"})
    assert "rupture de vaccins" in only.text and "latrines fermées" not in only.text
    by_topic = await client.get("/board/items", params={"topic": "hygiene", "status": "resolved"})
    assert f'id="item-{item.id}"' in by_topic.text and f'id="item-{other.id}"' not in by_topic.text
    bad = await client.get("/board/items", params={"status": "nonsense", "lang": "en"})
    assert bad.status_code == 400 and "Unknown status." in bad.text
    fragment = await client.get("/board/items", params={"site": "BKO-C1-BAN"},
                                headers={"HX-Request": "true", "HX-Target": "results"})
    assert fragment.text.lstrip().startswith('<section id="results"')
    assert "<html" not in fragment.text
    assert (await client.get("/board/items", params={"before": "x"})).status_code == 400


async def test_me_too_once_per_device(client: httpx.AsyncClient, app: Any, db: Database) -> None:
    item = await _published(db)
    token = await csrf_token(client, "/board/items")
    first = await client.post(f"/board/items/{item.id}/me-too", data={"csrf_token": token, "next": "/board/items"})
    assert first.status_code == 303 and first.headers["location"].startswith("/board/items")
    assert "device" in client.cookies
    second = await client.post(f"/board/items/{item.id}/me-too", data={"csrf_token": token})
    assert second.status_code == 303
    async with db.read() as session:
        assert (await session.get(FeedbackItem, item.id)).me_too_count == 1  # type: ignore[union-attr]
        supports = (await session.scalars(select(Support))).all()
    assert len(supports) == 1 and len(supports[0].device_hash) == 64
    assert supports[0].device_hash != client.cookies["device"]
    # Another device counts; htmx gets the button back, not a redirect.
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        other_token = await csrf_token(other, "/board/items")
        response = await other.post(f"/board/items/{item.id}/me-too", data={"csrf_token": other_token},
                                    headers={"HX-Request": "true"}, params={"lang": "en"})
        assert response.status_code == 200
        assert "2 people said" in response.text and "<html" not in response.text
        assert response.headers["vary"].startswith("HX-Request")
    # Unpublished or unknown items cannot be supported.
    assert (await client.post("/board/items/999999/me-too", data={"csrf_token": token})).status_code == 404


async def test_me_too_is_rate_limited(client: httpx.AsyncClient, app: Any, db: Database) -> None:
    item = await _published(db)
    app.state.settings = dataclasses.replace(app.state.settings, rate_limit_client_per_minute=2)
    token = await csrf_token(client, "/board/items")
    statuses = []
    for _ in range(3):
        client.cookies.delete("device")
        statuses.append((await client.post(f"/board/items/{item.id}/me-too", data={"csrf_token": token})).status_code)
    assert statuses == [303, 303, 429]


async def test_display_rotates_through_languages_by_polling(client: httpx.AsyncClient, db: Database) -> None:
    await _published(db)
    page = await client.get("/board/display/BKO-C4-LAF")
    assert page.status_code == 200
    assert 'hx-trigger="every 20s"' in page.text
    assert '<html lang="bm"' in page.text  # the site's first language
    assert "<noscript><meta http-equiv=\"refresh\"" in page.text
    assert "<script>" not in page.text and "style=" not in page.text
    slides = []
    for n in range(4):
        fragment = await client.get("/board/display/BKO-C4-LAF", params={"slide": n}, headers={"HX-Request": "true"})
        assert "<html" not in fragment.text and fragment.headers["vary"].startswith("HX-Request")
        lang = re.search(r'id="slide" class="slide" lang="(\w+)"', fragment.text).group(1)  # type: ignore[union-attr]
        slides.append((lang, "You said" in fragment.text or "latrines" in fragment.text))
    assert [lang for lang, _ in slides] == ["bm", "fr", "bm", "fr"]
    assert [is_item for _, is_item in slides] == [False, False, True, True]
    assert (await client.get("/board/display/NOPE")).status_code == 404


async def test_board_first_load_is_small(client: httpx.AsyncClient, db: Database) -> None:
    await _many(db, 15)
    total = 0
    for path in ("/board/", "/board/sites/BKO-C4-LAF", "/board/items"):
        page = await client.get(path, headers={"Accept-Encoding": "gzip"})
        size = len(gzip.compress(page.content, 6))
        assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', page.text)
        for asset in assets:
            body = (await client.get(asset)).content
            size += len(gzip.compress(body, 6))
        assert size <= 60 * 1024, (path, size)
        total = max(total, size)
    assert total > 0
