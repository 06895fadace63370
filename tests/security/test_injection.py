"""SQL-injection-shaped input in every search box, filter, code, slug and API parameter:
never a 5xx, never an effect (row counts unchanged, tables intact, wildcards taken literally)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from sqlalchemy import func, select

import feedback.models  # noqa: F401 (every table registered)
from feedback.db import Base, Database
from feedback.models import FeedbackItem
from tests.conftest import csrf_token, login
from tests.http.opendata_items import make_item as make_published
from tests.http.opendata_items import make_key
from tests.staff_factories import make_item

PAYLOADS = (
    "' OR '1'='1",
    "' OR 1=1 --",
    "1; DROP TABLE feedback_items; --",
    "'; DELETE FROM users; --",
    "\" OR \"\"=\"",
    "1 UNION SELECT login, password_hash FROM users --",
    "%",
    "_",
    "%' AND 1=0 UNION SELECT NULL --",
    "1) OR (1=1",
    "\\'; SELECT pg_sleep(5); --",
    "BKO-C4-LAF' --",
    "'||(SELECT sqlite_version())||'",
)


async def table_counts(db: Database) -> dict[str, int]:
    counts = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = int(await session.scalar(select(func.count()).select_from(table)) or 0)
    return counts


def ok(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.status_code)
    assert "syntax error" not in response.text.lower() and "sqlalchemy" not in response.text.lower()
    assert "OperationalError" not in response.text and "ProgrammingError" not in response.text


async def seed(db: Database) -> list[str]:
    await make_item(db, text="Pas d'eau aux latrines du CSCOM")
    await make_item(db, text="L'accueil était très lent ce matin.")
    return [await make_published(db), await make_published(db, topic="welcome")]


async def test_public_parameters(client: httpx.AsyncClient, db: Database) -> None:
    await seed(db)
    before = await table_counts(db)
    key = await make_key(db)
    before = await table_counts(db)
    for payload in PAYLOADS:
        p = quote(payload, safe="")
        for path in (
            f"/track/{p}", f"/api/track/{p}", f"/board/sites/{p}", f"/board/partners/{p}",
            f"/board/display/{p}", f"/feeds/sites/{p}.atom", f"/feeds/partners/{p}.atom", f"/kiosk/{p}",
            f"/open311/v2/requests/{p}.json", f"/open311/v2/requests/{p}.xml", f"/open311/v2/tokens/{p}.json",
            f"/open311/v2/services/{p}.json", f"/open311/v2/services/{p}.xml",
        ):
            ok(await client.get(path))
        for path, params in (
            ("/track/", {"code": payload}),
            ("/board/", {"period": payload}),
            ("/board/items", {"site": payload, "topic": payload, "status": payload, "page": payload,
                              "since": payload, "until": payload}),
            ("/submit", {"site": payload}),
            ("/export/feedback.csv", {"site": payload, "partner": payload, "topic": payload,
                                      "since": payload, "until": payload}),
            ("/export/feedback.json", {"site": payload, "partner": payload, "topic": payload}),
            ("/export/aggregates.csv", {"site": payload, "since": payload}),
            ("/export/dhis2/dataValueSets.json", {"period": payload, "api_key": payload}),
            ("/open311/v2/requests.json", {"service_request_id": payload, "service_code": payload,
                                           "start_date": payload, "end_date": payload, "status": payload,
                                           "jurisdiction_id": payload}),
            ("/open311/v2/requests.xml", {"service_request_id": f"{payload},{payload}", "status": payload}),
            ("/language", {"lang": payload, "next": payload}),
            ("/login", {"next": payload}),
        ):
            ok(await client.get(path, params=params))
        created = await client.post("/open311/v2/requests.json", data={
            "api_key": payload, "service_code": payload, "description": payload, "address_id": payload})
        ok(created)
        assert created.status_code in (400, 403)
    # A valid key with hostile fields: stored literally, as one new item, or refused.
    response = await client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "waiting", "address_id": "BKO-C4-LAF",
        "description": PAYLOADS[2], "first_name": PAYLOADS[0], "email": "a@b.c' --"})
    ok(response)
    after = await table_counts(db)
    if response.status_code in (200, 201):
        async with db.read() as session:
            newest = await session.scalar(select(FeedbackItem).order_by(FeedbackItem.id.desc()).limit(1))
        assert newest is not None and newest.original_text == PAYLOADS[2]
        grew = {t for t in after if after[t] != before[t]}
        assert grew <= {"feedback_item", "event", "outbox_message", "api_key"} | {t for t in grew if t.startswith("stat_")}
        assert after["feedback_item"] == before["feedback_item"] + 1
    else:
        assert after == before


async def test_sms_and_login_with_injection(client: httpx.AsyncClient, db: Database) -> None:
    await seed(db)
    before = await table_counts(db)
    for n, payload in enumerate(PAYLOADS):
        for text in (f"STATUS {payload}", f"{payload} bonjour", f"CONFIRM {payload}"):
            response = await client.post("/sms/inbound", headers={"X-Sauti-Secret": "sms-test-secret"},
                                         data={"from": "+22376543210", "to": "36123", "text": text,
                                               "id": f"inj-{n}-{text[:3]}"})
            ok(response)
    token = await csrf_token(client, "/login")
    for payload in PAYLOADS[:6]:
        response = await client.post("/login", data={"login": payload, "password": payload, "csrf_token": token})
        ok(response)
        assert response.status_code in (400, 401, 403, 429), response.status_code
    after = await table_counts(db)
    # SMS may create items (unknown site → default) and replies; nothing else may change or vanish.
    for table, count in before.items():
        assert after[table] >= count, table
    assert after["user_account"] == before["user_account"] and after["site"] == before["site"]


async def test_staff_search_takes_wildcards_literally(client: httpx.AsyncClient, db: Database) -> None:
    await seed(db)
    before = await table_counts(db)
    await login(client, "admin")
    found = await client.get("/portal/", params={"q": "latrines"})
    ok(found)
    assert "latrines" in found.text.lower()
    listed = found.text.count("/portal/items/")
    for payload in PAYLOADS:
        for params in ({"q": payload}, {"status": payload, "type": payload, "sensitivity": payload,
                                        "site": payload, "topic": payload, "from": payload, "to": payload,
                                        "page": payload, "overdue": payload}):
            response = await client.get("/portal/", params=params)
            ok(response)
            if "q" in params:
                # No row mentions these strings: an injected OR or an unescaped % would list them all.
                assert response.text.count("/portal/items/") < max(listed, 1), payload
        for path, params in (("/moderation/", {"view": payload, "page": payload}),
                             ("/portal/audit", {"user": payload, "from": payload, "to": payload, "page": payload}),
                             ("/admin/users", {"q": payload}), ("/admin/log", {"page": payload, "q": payload})):
            ok(await client.get(path, params=params))
        ok(await client.get(f"/portal/items/{quote(payload, safe='')}"))
    assert await table_counts(db) == before


async def test_admin_stores_hostile_names_literally(client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "admin")
    token = await csrf_token(client, "/admin/partners/new")
    before = await table_counts(db)
    name = "ASACO'); DROP TABLE partners; --"
    response = await client.post("/admin/partners/new", data={
        "csrf_token": token, "name": name, "slug": "asaco-inj", "kind": "asaco", "locale": "fr"})
    ok(response)
    after = await table_counts(db)
    assert response.status_code == 303
    assert after["partner"] == before["partner"] + 1
    listing = await client.get("/admin/partners")
    ok(listing)
    assert "ASACO&#39;); DROP TABLE partners; --" in listing.text or "ASACO&#x27;); DROP" in listing.text
