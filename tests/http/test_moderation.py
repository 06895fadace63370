"""Moderation over HTTP: the queue, highlighting, redaction, publication, sensitivity."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from feedback.db import Database
from feedback.models import Event
from tests.conftest import csrf_token, login
from tests.staff_factories import get_item, make_item, partner_id

EN = {"lang": "en"}
PII_TEXT = "Le Dr Sangaré m'a insultée. Appelez-moi au 76 12 34 56. <script>alert(1)</script>"


async def _kinds(db: Database, item_id: int) -> list[str]:
    async with db.read() as session:
        return list((await session.scalars(select(Event.kind).where(Event.item_id == item_id).order_by(Event.id))).all())


async def _save(client: httpx.AsyncClient, item_id: int, **data: str) -> httpx.Response:
    token = await csrf_token(client, f"/moderation/items/{item_id}")
    return await client.post(f"/moderation/items/{item_id}", params=EN, data={"csrf_token": token, **data})


async def test_queue_lists_unreviewed_items_oldest_first(client: httpx.AsyncClient, db: Database) -> None:
    first = await make_item(db, text="premier message")
    second = await make_item(db, site="BKO-C2-BAG", text="deuxième message")
    await make_item(db, topic="protection", text="menace cachée")
    await login(client, "moderatrice")
    queue = (await client.get("/moderation/", params=EN)).text
    assert queue.index("premier message") < queue.index("deuxième message")
    assert "menace cachée" not in queue
    await _save(client, first.id, public_summary="Accueil lent.", sensitivity="S1", criticality="action", intent="save")
    queue = (await client.get("/moderation/", params=EN)).text
    assert "premier message" not in queue and "deuxième message" in queue
    assert second.id


async def test_personal_data_is_highlighted_safely_and_redacted(client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db, text=PII_TEXT)
    await login(client, "moderatrice")
    page = (await client.get(f"/moderation/items/{item.id}", params=EN)).text
    assert '<mark class="pii pii-phone"' in page and ">76 12 34 56<" in page
    assert '<mark class="pii pii-name"' in page and ">Sangaré<" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    summary = re.search(r'<textarea id="public_summary"[^>]*>([^<]*)</textarea>', page)
    assert summary is not None
    assert "76 12" not in summary.group(1) and "Sangaré" not in summary.group(1) and "[…]" in summary.group(1)


async def test_publication_rules(client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db, text=PII_TEXT)
    await login(client, "moderatrice")
    # Still S1: refused, and nothing of the attempt is kept.
    s1 = await _save(client, item.id, public_summary="Accueil irrespectueux.", sensitivity="S1",
                     criticality="action", intent="publish")
    assert s1.status_code == 409 and "Only items marked “S0 public” can be published" in s1.text
    assert (await get_item(db, item.id)).public_summary is None
    # Personal data left in the summary: refused unless the override is ticked.
    leak = await _save(client, item.id, public_summary="Appelez le 76 12 34 56.", sensitivity="S0",
                       criticality="action", intent="publish")
    assert leak.status_code == 409 and "still contains personal data" in leak.text
    assert 'name="override"' in leak.text
    assert not (await get_item(db, item.id)).published
    ok = await _save(client, item.id, public_summary="Une patiente a été mal accueillie.", sensitivity="S0",
                     criticality="monitor", intent="publish")
    assert ok.status_code == 303
    stored = await get_item(db, item.id)
    assert stored.published and stored.sensitivity == "S0" and stored.criticality == "monitor"
    assert stored.text == PII_TEXT  # the original is kept
    assert {"moderated", "sensitivity_changed", "published"} <= set(await _kinds(db, item.id))
    token = await csrf_token(client, f"/moderation/items/{item.id}")
    off = await client.post(f"/moderation/items/{item.id}/unpublish", data={"csrf_token": token, "reason": "erreur"})
    assert off.status_code == 303
    assert not (await get_item(db, item.id)).published
    assert (await _kinds(db, item.id))[-1] == "unpublished"


async def test_override_publishes_with_a_trace(client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db)
    await login(client, "moderatrice")
    response = await _save(client, item.id, public_summary="Le Dr Traoré a été remercié.", sensitivity="S0",
                           criticality="action", intent="publish", override="1")
    assert response.status_code == 303
    async with db.read() as session:
        event = await session.scalar(select(Event).where(Event.item_id == item.id, Event.kind == "published"))
    assert event is not None and event.data == {"override": True, "kinds": ["name"]}


async def test_no_consent_means_no_publication(client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db, publish_consent=False)
    await login(client, "moderatrice")
    response = await _save(client, item.id, public_summary="Résumé.", sensitivity="S0", criticality="action",
                           intent="publish")
    assert response.status_code == 409 and "did not agree" in response.text
    assert not (await get_item(db, item.id)).published


async def test_raising_to_s3_sends_the_item_to_safeguarding(app: Any, client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db, text="Un agent a demandé des faveurs.")
    await login(client, "moderatrice")
    response = await _save(client, item.id, public_summary="", sensitivity="S3", criticality="urgent", intent="save")
    assert response.status_code == 303 and response.headers["location"] == "/moderation/?notice=safeguarding"
    stored = await get_item(db, item.id)
    assert stored.sensitivity == "S3" and stored.partner_id == await partner_id(db, "sauvegarde")
    assert stored.shared_partner_id is None
    assert (await client.get(f"/moderation/items/{item.id}")).status_code == 404
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as agent:
        await login(agent, "agent.laf")
        assert (await agent.get(f"/portal/items/{item.id}")).status_code == 404
        assert "Un agent a demandé" not in (await agent.get("/portal/")).text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as officer:
        await login(officer, "sauvegarde")
        assert (await officer.get(f"/portal/items/{item.id}")).status_code == 200
    kinds = await _kinds(db, item.id)
    assert "sensitivity_changed" in kinds and kinds.count("routed") == 2


async def test_transcription_and_translation(client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db, voice=True, text="")
    await login(client, "moderatrice")
    page = await client.get(f"/moderation/items/{item.id}", params=EN)
    assert 'name="transcript"' in page.text and "<audio" in page.text
    response = await _save(client, item.id, transcript="Dɔgɔtɔrɔ tɛ yen sɔgɔma", translation="Le médecin est absent le matin",
                           public_summary="Médecin absent le matin.", sensitivity="S1", criticality="action",
                           intent="save")
    assert response.status_code == 303
    stored = await get_item(db, item.id)
    assert stored.transcript == "Dɔgɔtɔrɔ tɛ yen sɔgɔma" and stored.translation.startswith("Le médecin")
    assert "transcribed" in await _kinds(db, item.id)
    assert "dogotoro" in stored.search_text


async def test_other_roles_cannot_moderate(client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db)
    await login(client, "agent.laf")
    assert (await client.get("/moderation/")).status_code == 404
    assert (await client.get(f"/moderation/items/{item.id}")).status_code == 404
