"""POST /sms/inbound: secrets and signatures, site codes, duplicates, STATUS, confirm/dispute."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from feedback import codes
from feedback.app import create_app
from feedback.db import Database
from feedback.domain import workflow
from feedback.domain.access import Actor
from feedback.models import Event, FeedbackItem, InboundSms, OutboxMessage, Site, User
from tests.conftest import make_settings

SECRET = "sms-test-secret"
PHONE = "+22376543210"
_counter = iter(range(10_000))


def sms(text: str, *, sender: str = PHONE, to: str = "36123", msg_id: str | None = None) -> dict[str, str]:
    return {"from": sender, "to": to, "text": text, "id": msg_id or f"gw-{next(_counter)}"}


async def post(client: httpx.AsyncClient, fields: dict[str, str], secret: str | None = SECRET) -> httpx.Response:
    headers = {"X-Sauti-Secret": secret} if secret is not None else {}
    return await client.post("/sms/inbound", data=fields, headers=headers)


async def items(db: Database) -> list[FeedbackItem]:
    async with db.read() as s:
        return list((await s.scalars(select(FeedbackItem).order_by(FeedbackItem.id))).all())


async def replies(db: Database) -> list[OutboxMessage]:
    async with db.read() as s:
        return list((await s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "sms_reply")
                                     .order_by(OutboxMessage.id))).all())


@pytest.mark.parametrize("headers", [
    {}, {"X-Sauti-Secret": "wrong"}, {"X-Sauti-Secret": ""}, {"X-Sauti-Signature": "sha256=" + "0" * 64},
    {"X-Sauti-Signature": "garbage"},
])
async def test_bad_secrets_are_refused_and_store_nothing(client: httpx.AsyncClient, db: Database,
                                                         headers: dict[str, str]) -> None:
    response = await client.post("/sms/inbound", data=sms("BKO-C4-LAF Pas d'eau"), headers=headers)
    assert response.status_code == 403
    assert await items(db) == [] and await replies(db) == []
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(InboundSms)) == 0


async def test_an_hmac_signature_of_the_body_is_accepted(client: httpx.AsyncClient, db: Database) -> None:
    body = json.dumps(sms("BKO-C4-LAF Il n'y a pas d'eau à la maternité")).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = await client.post("/sms/inbound", content=body, headers={
        "Content-Type": "application/json", "X-Sauti-Signature": f"sha256={signature}"})
    assert response.status_code == 200 and response.json()["result"] == "created"
    # The same signature does not cover another body.
    tampered = body.replace(b"eau", b"EAU")
    response = await client.post("/sms/inbound", content=tampered, headers={
        "Content-Type": "application/json", "X-Sauti-Signature": f"sha256={signature}"})
    assert response.status_code == 403
    assert len(await items(db)) == 1


@pytest.fixture
async def no_secret_client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, tmp_path, FEEDBACK_SMS_SECRET=""))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app.state.db.dispose()


async def test_without_a_configured_secret_the_webhook_is_closed(no_secret_client: httpx.AsyncClient) -> None:
    response = await post(no_secret_client, sms("BKO-C4-LAF test"), secret="")
    assert response.status_code == 403


async def test_site_code_message_creates_an_item_and_replies_with_the_code(client: httpx.AsyncClient, db: Database) -> None:
    response = await post(client, sms("bko-c4-laf  Il n'y a pas d'eau à la maternité depuis lundi"))
    assert response.status_code == 200
    (item,) = await items(db)
    assert response.json() == {"result": "created", "tracking_code": item.tracking_code}
    assert item.channel == "sms" and item.language == "fr" and item.publish_consent is None
    assert item.text == "Il n'y a pas d'eau à la maternité depuis lundi"
    assert item.contact_phone is None and item.contact_consent is False  # nobody asked for consent
    async with db.read() as s:
        assert (await s.get(Site, item.site_id)).code == "BKO-C4-LAF"  # type: ignore[union-attr]
        kinds = (await s.scalars(select(Event.kind).where(Event.item_id == item.id).order_by(Event.id))).all()
    assert list(kinds) == ["submitted", "routed"]
    (reply,) = await replies(db)
    assert reply.recipient == PHONE and reply.channel == "sms" and reply.locale == "fr" and reply.status == "pending"
    assert codes.display(item.tracking_code) in reply.body


async def test_bambara_text_gets_a_bambara_item_and_reply(client: httpx.AsyncClient, db: Database) -> None:
    await post(client, sms("BKOC4LAF Ji tɛ dɔgɔtɔrɔso la"))
    (item,) = await items(db)
    assert item.language == "bm"
    assert (await replies(db))[0].locale == "bm"


async def test_question_mark_makes_a_question(client: httpx.AsyncClient, db: Database) -> None:
    await post(client, sms("BKO-C4-LAF Quand est la prochaine vaccination ?"))
    assert (await items(db))[0].feedback_type == "question"


async def test_unknown_site_code_gets_a_reply_and_no_item(client: httpx.AsyncClient, db: Database) -> None:
    response = await post(client, sms("BKO-C9-XYZ Le centre est fermé"))
    assert response.status_code == 200 and response.json()["result"] == "unknown_site"
    assert await items(db) == []
    (reply,) = await replies(db)
    assert "BKO-C9-XYZ" in reply.body


async def test_without_a_site_code_and_no_default_the_reply_asks_for_one(client: httpx.AsyncClient, db: Database) -> None:
    response = await post(client, sms("Il n'y a pas de médicaments"))
    assert response.json()["result"] == "ask_site"
    assert await items(db) == []
    assert "BKO-" in (await replies(db))[0].body


@pytest.fixture
async def default_site_client(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    app = create_app(make_settings(database_url, tmp_path, FEEDBACK_SMS_DEFAULT_SITES="+223 36 12 34 56=BKO-C2-BAG"))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http, app.state.db
    await app.state.db.dispose()


async def test_the_gateway_numbers_default_site_is_used(default_site_client: tuple[httpx.AsyncClient, Database]) -> None:
    client, db = default_site_client
    response = await post(client, sms("Non, personne n'a répondu au téléphone", to="36123456"))
    assert response.json()["result"] == "created"
    (item,) = await items(db)
    async with db.read() as s:
        assert (await s.get(Site, item.site_id)).code == "BKO-C2-BAG"  # type: ignore[union-attr]
    # Another gateway number has no default.
    response = await post(client, sms("Bonjour", to="36999999"))
    assert response.json()["result"] == "ask_site"


@pytest.mark.parametrize(("body", "content_type"), [
    ({"to": "36123", "text": "BKO-C4-LAF x", "id": "m1"}, None),  # no sender
    ({"from": PHONE, "to": "36123", "text": "BKO-C4-LAF x"}, None),  # no message id
    ({"from": "ORANGE", "to": "36123", "text": "BKO-C4-LAF x", "id": "m2"}, None),  # not a number
    ({"from": PHONE, "text": "x", "id": "m" * 200}, None),  # id too long
    ("not json", "application/json"),
    ('["a", "list"]', "application/json"),
    ("<sms/>", "application/xml"),
    (b"\xff\xfe", "application/x-www-form-urlencoded"),
])
async def test_malformed_messages_are_400_and_store_nothing(
    client: httpx.AsyncClient, db: Database, body: Any, content_type: str | None
) -> None:
    headers = {"X-Sauti-Secret": SECRET}
    if content_type is None:
        response = await client.post("/sms/inbound", data=body, headers=headers)
    else:
        raw = body if isinstance(body, bytes) else body.encode()
        response = await client.post("/sms/inbound", content=raw, headers={**headers, "Content-Type": content_type})
    assert response.status_code == 400
    assert response.json()["result"] == "malformed"
    assert await items(db) == [] and await replies(db) == []


async def test_empty_text_gets_the_instructions(client: httpx.AsyncClient, db: Database) -> None:
    response = await post(client, sms("   "))
    assert response.json()["result"] == "help"
    assert await items(db) == [] and len(await replies(db)) == 1


async def test_duplicated_deliveries_create_one_item_and_one_reply(client: httpx.AsyncClient, db: Database) -> None:
    fields = sms("BKO-C4-LAF Les latrines sont fermées", msg_id="gw-dup-1")
    first = await post(client, fields)
    again = await post(client, fields)
    assert first.json()["result"] == "created" and again.json()["result"] == "duplicate"
    assert again.status_code == 200  # so the gateway stops retrying
    # Two deliveries racing each other.
    racing = sms("BKO-C4-LAF Pas de savon", msg_id="gw-dup-2")
    results = await asyncio.gather(post(client, racing), post(client, racing), post(client, racing))
    assert sorted(r.json()["result"] for r in results) == ["created", "duplicate", "duplicate"]
    assert len(await items(db)) == 2
    assert len(await replies(db)) == 2


async def test_json_body_with_other_gateway_field_names(client: httpx.AsyncClient, db: Database) -> None:
    payload = {"urn": "tel:+22366778899", "message": "BKO-C4-LAF Merci pour l'accueil", "message_id": "rp-1"}
    response = await client.post("/sms/inbound", json=payload, headers={"X-Sauti-Secret": SECRET})
    assert response.json()["result"] == "created"
    assert (await replies(db))[0].recipient == "+22366778899"


async def _create(client: httpx.AsyncClient, db: Database, text: str = "BKO-C4-LAF Pas d'eau") -> FeedbackItem:
    await post(client, sms(text))
    return (await items(db))[-1]


async def test_status_replies_in_the_senders_language(client: httpx.AsyncClient, db: Database) -> None:
    item = await _create(client, db, "BKO-C4-LAF Ji tɛ yen")  # a Bambara item
    spaced = codes.display(item.tracking_code).replace("-", " ").lower()
    response = await post(client, sms(f"status {spaced}"))
    assert response.json()["result"] == "status"
    reply = (await replies(db))[-1]
    assert reply.locale == "bm"  # STATUS says nothing of the language: the item's
    assert codes.display(item.tracking_code) in reply.body
    await post(client, sms(f"STATUT {item.tracking_code}"))
    assert (await replies(db))[-1].locale == "fr"  # a French keyword


@pytest.mark.parametrize("text", ["STATUS 23456789A", "STATUS", "STATUT 123"])
async def test_status_of_an_unknown_code(client: httpx.AsyncClient, db: Database, text: str) -> None:
    response = await post(client, sms(text))
    assert response.json()["result"] == "unknown_code"
    assert await items(db) == []


async def _resolve(db: Database, item_id: int) -> None:
    async with db.write() as s, s.begin():
        item = await s.get(FeedbackItem, item_id)
        agent = await s.scalar(select(User).where(User.login == "agent.laf"))
        assert item is not None and agent is not None
        await workflow.apply(s, item, "resolve", Actor.for_user(agent), public_text="Le robinet est réparé.")


async def test_submitter_confirms_by_sms(client: httpx.AsyncClient, db: Database) -> None:
    item = await _create(client, db)
    # Nothing to confirm yet: refused, nothing changes.
    response = await post(client, sms(f"OUI {item.tracking_code}"))
    assert response.json()["result"] == "refused"
    assert (await items(db))[-1].status == "received"
    await _resolve(db, item.id)
    status = await post(client, sms(f"STATUT {item.tracking_code}"))
    assert status.json()["result"] == "status" and "OUI" in (await replies(db))[-1].body
    response = await post(client, sms(f"oui {codes.display(item.tracking_code)}"))
    assert response.json()["result"] == "confirmed"
    stored = (await items(db))[-1]
    assert stored.status == "closed" and stored.verification == "verified"


async def test_submitter_disputes_by_sms_and_the_reason_stays_internal(client: httpx.AsyncClient, db: Database) -> None:
    item = await _create(client, db)
    await _resolve(db, item.id)
    response = await post(client, sms(f"NON {item.tracking_code} le robinet fuit toujours"))
    assert response.json()["result"] == "disputed"
    stored = (await items(db))[-1]
    assert stored.status == "reopened" and stored.verification == "disputed"
    async with db.read() as s:
        note = await s.scalar(select(Event).where(Event.item_id == item.id, Event.kind == "internal_note"))
    assert note is not None and note.public is False and note.body == "le robinet fuit toujours"


async def test_no_without_a_code_is_ordinary_feedback(client: httpx.AsyncClient, db: Database) -> None:
    response = await post(client, sms("Non merci"))
    assert response.json()["result"] == "ask_site"


async def test_a_too_long_message_is_answered_not_stored(client: httpx.AsyncClient, db: Database) -> None:
    response = await post(client, sms("BKO-C4-LAF " + "a" * 6000))
    assert response.status_code == 200 and response.json()["result"] == "invalid"
    assert await items(db) == []
