"""The partner portal over HTTP: inbox, item page, actions, evidence, safeguarding, audit."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from feedback.db import Database
from feedback.models import Attachment, Event, FeedbackItem, utcnow
from tests.conftest import csrf_token, login
from tests.staff_factories import PNG, get_item, make_item, partner_id, user_id

EN = {"lang": "en"}


async def _events(db: Database, item_id: int) -> list[Event]:
    async with db.read() as session:
        return list((await session.scalars(
            select(Event).where(Event.item_id == item_id).order_by(Event.id))).all())


async def _act(client: httpx.AsyncClient, item_id: int, **data: str) -> httpx.Response:
    token = await csrf_token(client, f"/portal/items/{item_id}")
    return await client.post(f"/portal/items/{item_id}/actions", params=EN, data={"csrf_token": token, **data})


async def test_partner_journey_acknowledge_then_resolve(client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db, text="Personne ne nous a accueillis à la maternité.")
    await login(client, "agent.laf")
    inbox = await client.get("/portal/", params=EN)
    assert inbox.status_code == 200
    assert item.tracking_code[:3] in inbox.text and "Personne ne nous a accueillis" in inbox.text

    page = await client.get(f"/portal/items/{item.id}", params=EN)
    assert page.status_code == 200
    assert "Acknowledge by" in page.text and "Answer by" in page.text
    assert 'value="acknowledge"' in page.text and 'value="resolve"' in page.text

    assert (await _act(client, item.id, action="acknowledge")).status_code == 303
    assert (await get_item(db, item.id)).status == "acknowledged"
    # Acknowledging twice is refused with the reason, on the page, not with a crash.
    again = await _act(client, item.id, action="acknowledge")
    assert again.status_code == 409
    assert "This cannot be done while the item is" in again.text
    # Resolving needs a public response.
    empty = await _act(client, item.id, action="resolve", public_text="  ")
    assert empty.status_code == 400
    assert "Please write a public response" in empty.text
    done = await _act(client, item.id, action="resolve",
                      public_text="Nous avons parlé à l'équipe d'accueil ; une sage-femme reçoit désormais.")
    assert done.status_code == 303
    assert done.headers["location"] == f"/portal/items/{item.id}?done=resolve"

    stored = await get_item(db, item.id)
    assert stored.status == "resolved"
    assert stored.public_response.startswith("Nous avons parlé")
    page = await client.get(f"/portal/items/{item.id}", params=EN)
    assert "Oumar Keïta" in page.text  # the actor of each event is on the timeline
    kinds = [e.kind for e in await _events(db, item.id)]
    assert kinds[-3:] == ["acknowledged", "status_changed", "public_response"]
    agent = await user_id(db, "agent.laf")
    assert all(e.actor_user_id == agent for e in (await _events(db, item.id))[-3:])


async def test_inbox_orders_overdue_first_then_newest(client: httpx.AsyncClient, db: Database) -> None:
    now = utcnow()
    newest = await make_item(db, text="newest")
    older = await make_item(db, text="older", now=now - timedelta(hours=5))
    late = await make_item(db, text="late", now=now - timedelta(days=9))
    later = await make_item(db, text="very late", now=now - timedelta(days=20))
    await login(client, "agent.laf")
    text = (await client.get("/portal/", params=EN)).text
    positions = [text.index(f"{i.tracking_code[:3]}-{i.tracking_code[3:6]}") for i in (later, late, newest, older)]
    assert positions == sorted(positions)
    overdue_only = (await client.get("/portal/", params={"overdue": "1", **EN})).text
    assert "very late" in overdue_only and "newest" not in overdue_only


async def test_inbox_filters_search_folding_and_counts(client: httpx.AsyncClient, db: Database) -> None:
    await make_item(db, text="An ka dɔkɔtɔrɔso kɛnɛ tɛ", feedback_type="suggestion")
    await make_item(db, text="Le médecin était très poli", feedback_type="compliment")
    resolved = await make_item(db, text="Attente trop longue", topic="waiting")
    await login(client, "agent.laf")
    await _act(client, resolved.id, action="resolve", public_text="Un deuxième guichet est ouvert.")

    async def listing(**params: str) -> str:
        return (await client.get("/portal/", params={**params, **EN})).text

    assert "dɔkɔtɔrɔso" in await listing(q="dokotoroso")  # ɔ found by o
    assert "dɔkɔtɔrɔso" in await listing(q="KƐNƐ")
    assert "médecin" in await listing(q="medecin")  # é found by e
    assert "médecin" not in await listing(q="dokotoroso")
    only_suggestions = await listing(type="suggestion")
    assert "dɔkɔtɔrɔso" in only_suggestions and "médecin" not in only_suggestions
    assert "Attente trop longue" in await listing(status="resolved")
    assert "médecin" not in await listing(status="resolved")
    today = utcnow().date()
    assert "médecin" not in await listing(to=(today - timedelta(days=1)).isoformat())
    assert "médecin" in await listing(**{"from": today.isoformat()})
    counts = await listing()
    assert re.search(r"Received <b>2</b>", counts) and re.search(r"Resolved <b>1</b>", counts)
    # Rubbish in the query string is ignored, never a 500.
    assert (await client.get("/portal/", params={"site": "x", "from": "31/02", "page": "-4"})).status_code == 200


async def test_inbox_htmx_gets_only_the_list(client: httpx.AsyncClient, db: Database) -> None:
    await make_item(db)
    await login(client, "agent.laf")
    full = await client.get("/portal/", params=EN)
    assert re.search(r'hx-get="[^"]*/portal/"', full.text) and 'hx-push-url="true"' in full.text
    assert "HX-Request" in full.headers["vary"]
    partial = await client.get("/portal/", params=EN, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<section id="results"')
    assert "<html" not in partial.text
    assert "HX-Request" in partial.headers["vary"]


async def test_inbox_is_paginated(client: httpx.AsyncClient, db: Database) -> None:
    for n in range(27):
        await make_item(db, text=f"message numéro {n:02d}")
    await login(client, "agent.laf")
    first = (await client.get("/portal/", params=EN)).text
    assert "27 items" in first and "page 1 of 2" in first
    second = (await client.get("/portal/", params={"page": "2", **EN})).text
    assert "page 2 of 2" in second
    assert second.count('<tr') - 1 == 2  # header row + 2 items
    assert "message numéro 00" in second


async def test_role_specific_inboxes(app: Any, db: Database) -> None:
    s1 = await make_item(db, text="ordinaire")
    s3 = await make_item(db, topic="protection", text="menace grave")
    other_site = await make_item(db, site="BKO-C2-BAG", text="ailleurs")

    async def inbox_of(account: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            await login(c, account)
            return await c.get("/portal/", params=EN)

    officer = (await inbox_of("sauvegarde")).text
    assert "menace grave" in officer and "ordinaire" not in officer  # the S2/S3 queue by default
    agent = (await inbox_of("agent.laf")).text
    assert "ordinaire" in agent and "menace grave" not in agent and "ailleurs" not in agent
    monitor = (await inbox_of("comite.laf")).text
    assert "ordinaire" in monitor and "ailleurs" not in monitor and "menace grave" not in monitor
    moderator = await inbox_of("moderatrice")
    assert moderator.status_code == 303 and moderator.headers["location"] == "/moderation/"
    assert s1.id and s3.id and other_site.id


async def test_refer_hands_the_item_to_another_partner(app: Any, client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db)
    bag = await partner_id(db, "dtc-bag")
    await login(client, "agent.laf")
    no_partner = await _act(client, item.id, action="refer", note="x")
    assert no_partner.status_code == 400 and "Choose the partner" in no_partner.text
    response = await _act(client, item.id, action="refer", to_partner_id=str(bag),
                          note="Cela concerne Bagadadji.")
    assert response.status_code == 303 and response.headers["location"] == "/portal/?referred=1"
    assert (await client.get(f"/portal/items/{item.id}")).status_code == 404
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as other:
        await login(other, "agent.bag")
        page = await other.get(f"/portal/items/{item.id}", params=EN)
        assert page.status_code == 200
        assert "Cela concerne Bagadadji." in page.text  # the referral note reaches them, internally
    note = [e for e in await _events(db, item.id) if e.kind == "internal_note"]
    assert note and note[0].public is False


async def test_internal_note_is_never_public(client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db)
    await login(client, "chef.laf")
    token = await csrf_token(client, f"/portal/items/{item.id}")
    empty = await client.post(f"/portal/items/{item.id}/notes", params=EN, data={"csrf_token": token, "note": ""})
    assert empty.status_code == 400
    response = await client.post(f"/portal/items/{item.id}/notes",
                                 data={"csrf_token": token, "note": "Appeler le major lundi."})
    assert response.status_code == 303
    event = (await _events(db, item.id))[-1]
    assert (event.kind, event.public, event.body) == ("internal_note", False, "Appeler le major lundi.")
    public = await client.get(f"/track/{item.tracking_code}")
    assert "Appeler le major" not in public.text


async def test_voice_note_playback_is_private(app: Any, client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db, voice=True, text="")
    async with db.read() as session:
        attachment = await session.scalar(select(Attachment).where(Attachment.item_id == item.id))
    assert attachment is not None
    url = f"/portal/items/{item.id}/attachments/{attachment.id}"
    assert (await client.get(url)).status_code == 303  # not signed in
    await login(client, "agent.laf")
    page = await client.get(f"/portal/items/{item.id}")
    assert re.search(f'<audio controls preload="none" src="[^"]*{url}"', page.text)
    audio = await client.get(url)
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/wav"
    assert audio.headers["cache-control"] == "private, no-store"
    assert audio.content.startswith(b"RIFF")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as other:
        await login(other, "agent.bag")
        assert (await other.get(url)).status_code == 404
        assert (await other.get(f"/portal/items/{item.id}/attachments/{attachment.id + 999}")).status_code == 404


async def test_photo_evidence_upload(client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db)
    await login(client, "agent.laf")
    token = await csrf_token(client, f"/portal/items/{item.id}")
    url = f"/portal/items/{item.id}/photos"
    fake = await client.post(url, params=EN, data={"csrf_token": token},
                             files={"photo": ("x.jpg", b"<?php echo 1; ?>", "image/jpeg")})
    assert fake.status_code == 400 and "This file is not a photo" in fake.text
    big = await client.post(url, params=EN, data={"csrf_token": token},
                            files={"photo": ("x.png", PNG + b"\0" * (2 * 1024 * 1024), "image/png")})
    assert big.status_code in (400, 413)
    ok = await client.post(url, data={"csrf_token": token}, files={"photo": ("p.png", PNG, "image/png")})
    assert ok.status_code == 303
    event = (await _events(db, item.id))[-1]
    assert event.kind == "attachment_added" and event.public is False
    async with db.read() as session:
        photo = await session.get(Attachment, event.data["attachment_id"])
    assert photo is not None and photo.content_type == "image/png" and photo.kind == "photo"


async def test_viewing_a_sensitive_item_is_logged(app: Any, db: Database) -> None:
    s3 = await make_item(db, topic="protection", text="menace")
    s2 = await make_item(db, sensitivity="S2", text="on m'a fait payer")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as manager:
        await login(manager, "chef.laf")
        assert (await manager.get(f"/portal/items/{s3.id}")).status_code == 404
        assert (await manager.get(f"/portal/items/{s2.id}", params=EN)).status_code == 200
        second = await manager.get(f"/portal/items/{s2.id}", params=EN)
        assert "Viewed" not in second.text  # who viewed is for the safeguarding officer
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as officer:
        await login(officer, "sauvegarde")
        page = await officer.get(f"/portal/items/{s2.id}", params=EN)
        assert page.text.count("<b>Viewed</b>") == 3 and "Awa Sidibé" in page.text
    viewed = [e for e in await _events(db, s2.id) if e.kind == "viewed"]
    assert len(viewed) == 3 and all(not e.public for e in viewed)
    assert viewed[0].actor_user_id == await user_id(db, "chef.laf")
    assert not [e for e in await _events(db, s3.id) if e.kind == "viewed"]  # the 404 logged nothing


async def test_community_monitor_verifies_and_observes(app: Any, client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as agent:
        await login(agent, "agent.laf")
        await _act(agent, item.id, action="resolve", public_text="Réparé.")
    await login(client, "comite.laf")
    page = await client.get(f"/portal/items/{item.id}", params=EN)
    assert 'value="confirm"' in page.text and 'value="resolve"' not in page.text
    assert (await _act(client, item.id, action="resolve", public_text="x")).status_code == 409
    token = await csrf_token(client, f"/portal/items/{item.id}")
    observed = await client.post(f"/portal/items/{item.id}/observations",
                                 data={"csrf_token": token, "observation": "Le robinet coule de nouveau."})
    assert observed.status_code == 303
    assert (await _act(client, item.id, action="confirm")).status_code == 303
    stored = await get_item(db, item.id)
    assert stored.status == "closed" and stored.verification == "verified"
    kinds = [(e.kind, e.public) for e in await _events(db, item.id)]
    assert ("observation", False) in kinds and ("confirmed", True) in kinds


async def test_audit_log_for_admins(app: Any, client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as agent:
        await login(agent, "agent.laf")
        await _act(agent, item.id, action="acknowledge")
        assert (await agent.get("/portal/audit")).status_code == 404
    await login(client, "admin")
    log = await client.get("/portal/audit", params=EN)
    assert log.status_code == 200
    assert "agent.laf" in log.text and "Acknowledged" in log.text
    other = await client.get("/portal/audit", params={"user": str(await user_id(db, "chef.laf")), **EN})
    assert "agent.laf</td>" not in other.text and "Nothing in this period." in other.text
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    assert "Nothing in this period." in (await client.get("/portal/audit", params={"from": tomorrow, **EN})).text


POST_ROUTES = [
    ("agent.laf", "/portal/items/{id}/actions"),
    ("agent.laf", "/portal/items/{id}/notes"),
    ("agent.laf", "/portal/items/{id}/photos"),
    ("comite.laf", "/portal/items/{id}/observations"),
    ("moderatrice", "/moderation/items/{id}"),
    ("moderatrice", "/moderation/items/{id}/unpublish"),
    ("agent.laf", "/password"),
    ("agent.laf", "/logout"),
    (None, "/login"),
]


@pytest.mark.parametrize(("account", "path"), POST_ROUTES)
async def test_every_post_route_refuses_a_missing_csrf_token(
    client: httpx.AsyncClient, db: Database, account: str | None, path: str
) -> None:
    item = await make_item(db)
    if account:
        await login(client, account)
    count = len(await _events(db, item.id))
    response = await client.post(path.format(id=item.id), data={"action": "acknowledge", "note": "x"})
    assert response.status_code == 403
    forged = await client.post(path.format(id=item.id), data={"csrf_token": "0" * 64, "note": "x"})
    assert forged.status_code == 403
    assert len(await _events(db, item.id)) == count
    assert (await get_item(db, item.id)).status == "received"


async def test_reset_route_refuses_a_missing_csrf_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/reset/abc", data={"new_password": "x" * 12})).status_code == 403


async def test_unknown_item_and_bad_action_are_clean_errors(client: httpx.AsyncClient, db: Database) -> None:
    item = await make_item(db)
    await login(client, "agent.laf")
    assert (await client.get("/portal/items/999999")).status_code == 404
    bad = await _act(client, item.id, action="explode")
    assert bad.status_code == 400 and "Unknown action." in bad.text
    token = await csrf_token(client, f"/portal/items/{item.id}")
    gone = await client.post("/portal/items/999999/actions", data={"csrf_token": token, "action": "acknowledge"})
    assert gone.status_code == 404
    async with db.read() as session:
        assert (await session.get(FeedbackItem, item.id)).status == "received"  # type: ignore[union-attr]
