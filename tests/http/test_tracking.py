"""/track: codes typed loosely, clear messages for wrong ones, rate limits, and the submitter's
confirm, dispute and rate actions (each once per item, each an event)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from feedback import codes
from feedback.db import Database
from feedback.domain import intake, workflow
from feedback.domain.access import Actor
from feedback.models import Event, FeedbackItem, User, utcnow
from tests.conftest import csrf_token

SECRET_TEXT = "Awa Traoré a payé 5000 F au major, appelez le 76 12 34 56"


async def _item(db: Database, *, resolved: bool = False, topic: str = "hygiene") -> FeedbackItem:
    received = utcnow() - timedelta(days=3)
    async with db.write() as session, session.begin():
        item = await intake.store(session, intake.Submission(
            site_code="BKO-C4-LAF", channel="kiosk", feedback_type="complaint", topic_slug=topic,
            text=SECRET_TEXT, contact_phone="76 12 34 56", contact_name="Awa Traoré", contact_consent=True,
        ), now=received)
        if resolved:
            staff = await session.scalar(select(User).where(User.login == "sauvegarde"))
            actor = Actor.for_user(staff)
            await workflow.apply(session, item, "acknowledge", actor, now=received + timedelta(hours=2))
            await workflow.apply(session, item, "resolve", actor, public_text="Les latrines sont réparées.",
                                 now=received + timedelta(days=1))
    return item


async def _reload(db: Database, item_id: int) -> FeedbackItem:
    async with db.read() as session:
        found = await session.get(FeedbackItem, item_id)
        assert found is not None
        return found


async def _events(db: Database, item_id: int, kind: str) -> int:
    async with db.read() as session:
        return int(await session.scalar(
            select(func.count()).select_from(Event).where(Event.item_id == item_id, Event.kind == kind)) or 0)


def _typo(code: str) -> str:
    wrong = codes.ALPHABET[(codes.ALPHABET.index(code[2]) + 1) % len(codes.ALPHABET)]
    return code[:2] + wrong + code[3:]


async def test_form_accepts_case_spaces_and_dashes(client: httpx.AsyncClient, db: Database) -> None:
    item = await _item(db)
    loose = " " + codes.display(item.tracking_code).lower().replace("-", " - ") + " "
    response = await client.get("/track/", params={"code": loose})
    assert response.status_code == 303
    assert response.headers["location"] == f"/track/{item.tracking_code}"
    page = await client.get(f"/track/{codes.display(item.tracking_code).lower()}")
    assert page.status_code == 301 and page.headers["location"] == f"/track/{item.tracking_code}"


async def test_wrong_codes_get_clear_messages(client: httpx.AsyncClient, db: Database) -> None:
    item = await _item(db)
    typo = await client.get("/track/", params={"code": _typo(item.tracking_code), "lang": "en"})
    assert typo.status_code == 400
    assert "typo" in typo.text
    short = await client.get("/track/", params={"code": "K7M4", "lang": "en"})
    assert short.status_code == 400 and "9 characters" in short.text
    unknown = codes.new_tracking_code()
    missing = await client.get("/track/", params={"code": unknown, "lang": "en"})
    assert missing.status_code == 404 and "no feedback with this code" in missing.text
    assert (await client.get(f"/track/{unknown}")).status_code == 404
    assert (await client.get("/track/not-a-code")).status_code == 404


async def test_page_shows_public_facts_never_the_text_or_contact(client: httpx.AsyncClient, db: Database) -> None:
    item = await _item(db, resolved=True)
    page = await client.get(f"/track/{item.tracking_code}", params={"lang": "en"})
    assert page.status_code == 200
    text = page.text
    assert "CSCOM de Lafiabougou" in text
    assert "Les latrines sont réparées." in text  # the partner's public response
    assert "Resolved" in text and "Deadlines" in text and "met" in text
    for secret in ("Awa", "Traoré", "76 12 34 56", "+22376123456", "5000 F"):
        assert secret not in text
    assert page.headers["cache-control"] == "no-store"


async def test_sensitive_item_shows_only_its_status(client: httpx.AsyncClient, db: Database) -> None:
    item = await _item(db, topic="protection")
    page = await client.get(f"/track/{item.tracking_code}", params={"lang": "en"})
    assert page.status_code == 200
    assert "Confidential" in page.text
    assert "sauvegarde" not in page.text.lower()


async def test_confirm_once(client: httpx.AsyncClient, db: Database) -> None:
    item = await _item(db, resolved=True)
    path = f"/track/{item.tracking_code}"
    token = await csrf_token(client, path)
    response = await client.post(f"{path}/confirm", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"].endswith("?done=confirm")
    stored = await _reload(db, item.id)
    assert (stored.status, stored.verification) == ("closed", "verified")
    again = await client.post(f"{path}/confirm", data={"csrf_token": token}, params={"lang": "en"})
    assert again.status_code == 409
    assert await _events(db, item.id, "confirmed") == 1


async def test_confirm_needs_a_resolution(client: httpx.AsyncClient, db: Database) -> None:
    item = await _item(db)
    path = f"/track/{item.tracking_code}"
    token = await csrf_token(client, path)
    response = await client.post(f"{path}/confirm", data={"csrf_token": token}, params={"lang": "en"})
    assert response.status_code == 409
    assert "only after the partner has resolved it" in response.text
    assert (await _reload(db, item.id)).status == "received"


async def test_dispute_reopens_once_and_keeps_the_reason_internal(
    client: httpx.AsyncClient, db: Database
) -> None:
    item = await _item(db, resolved=True)
    path = f"/track/{item.tracking_code}"
    token = await csrf_token(client, path)
    response = await client.post(f"{path}/dispute", data={"csrf_token": token, "reason": "Toujours fermées, Moussa le sait"})
    assert response.status_code == 303
    stored = await _reload(db, item.id)
    assert (stored.status, stored.verification) == ("reopened", "disputed")
    page = await client.get(path)
    assert "Moussa" not in page.text
    # Resolved again: the submitter cannot dispute a second time.
    async with db.write() as session, session.begin():
        fresh = await session.get(FeedbackItem, item.id)
        staff = await session.scalar(select(User).where(User.login == "sauvegarde"))
        await workflow.apply(session, fresh, "resolve", Actor.for_user(staff), public_text="Vraiment réparées.")
    page = await client.get(path, params={"lang": "en"})
    assert f"{path}/dispute" not in page.text and f"{path}/confirm" in page.text
    again = await client.post(f"{path}/dispute", data={"csrf_token": token}, params={"lang": "en"})
    assert again.status_code == 409
    assert await _events(db, item.id, "disputed") == 1


async def test_rate_once_with_three_faces(client: httpx.AsyncClient, db: Database) -> None:
    item = await _item(db, resolved=True)
    path = f"/track/{item.tracking_code}"
    token = await csrf_token(client, path)
    bad = await client.post(f"{path}/rate", data={"csrf_token": token, "satisfaction": "7"})
    assert bad.status_code == 400
    response = await client.post(f"{path}/rate", data={"csrf_token": token, "satisfaction": "2"})
    assert response.status_code == 303
    assert (await _reload(db, item.id)).satisfaction == 2
    again = await client.post(f"{path}/rate", data={"csrf_token": token, "satisfaction": "3"})
    assert again.status_code == 409
    assert (await _reload(db, item.id)).satisfaction == 2
    assert await _events(db, item.id, "rated") == 1


async def test_actions_need_the_csrf_token(client: httpx.AsyncClient, db: Database) -> None:
    item = await _item(db, resolved=True)
    await client.get(f"/track/{item.tracking_code}")
    response = await client.post(f"/track/{item.tracking_code}/confirm", data={})
    assert response.status_code == 403
    assert (await _reload(db, item.id)).status == "resolved"


async def test_guessing_codes_is_rate_limited(client: httpx.AsyncClient, app: Any) -> None:
    app.state.settings = dataclasses.replace(app.state.settings, rate_limit_track_per_minute=3)
    statuses = [(await client.get(f"/track/{codes.new_tracking_code()}")).status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    limited = await client.get("/track/", params={"code": codes.new_tracking_code(), "lang": "en"})
    assert limited.status_code == 429
    assert "Too many requests" in limited.text
