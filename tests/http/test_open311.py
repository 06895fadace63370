"""Open311 GeoReport v2 under /open311/v2: field by field against the specification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from defusedxml import ElementTree as SafeET
from sqlalchemy import select

from feedback.db import Database
from feedback.i18n import translate
from feedback.models import Event, FeedbackItem, utcnow
from tests.http.opendata_items import EMAIL, assert_nothing_personal, load, make_item, make_key

BASE = "/open311/v2"
REQUEST_FIELDS = [
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
]


def xml(response: httpx.Response):  # type: ignore[no-untyped-def]
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return SafeET.fromstring(response.content)


def monday(moment: datetime) -> str:
    day = (moment - timedelta(days=moment.weekday())).date()
    return f"{day.isoformat()}T00:00:00+00:00"


# -- discovery and services ------------------------------------------------------------------


async def test_discovery_in_both_formats(client: httpx.AsyncClient) -> None:
    data = (await client.get(f"{BASE}/discovery.json")).json()
    endpoint = data["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert set(data) == {"changeset", "contact", "key_service", "endpoints"}
    root = xml(await client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


async def test_services_one_per_topic_localised(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/services.json")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    services = response.json()
    by_code = {s["service_code"]: s for s in services}
    assert "waiting" in by_code and "protection" in by_code
    waiting = by_code["waiting"]
    assert waiting["service_name"] == "Attente et horaires"  # French by default
    assert waiting["type"] == "realtime" and waiting["metadata"] is True
    assert set(waiting) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    english = {s["service_code"]: s for s in (await client.get(f"{BASE}/services.json?lang=en")).json()}
    assert english["waiting"]["service_name"] == "Waiting time & opening hours"
    bambara = await client.get(f"{BASE}/services.json", headers={"Accept-Language": "bm, fr;q=0.5"})
    assert {s["service_code"]: s for s in bambara.json()}["waiting"]["service_name"] == "Makɔnɔni ni waati"
    root = xml(await client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    assert len(root.findall("service")) == len(services)
    first = root.find("service")
    assert first is not None and first.findtext("metadata") == "true" and first.findtext("type") == "realtime"
    # No extension means XML, the specification's required format.
    assert (await client.get(f"{BASE}/services")).headers["content-type"].startswith("text/xml")


@pytest.mark.parametrize("prefix", ["services", "service"])
async def test_service_definition_has_type_and_codes(client: httpx.AsyncClient, prefix: str) -> None:
    data = (await client.get(f"{BASE}/{prefix}/cost.json?lang=en")).json()
    assert data["service_code"] == "cost"
    attributes = {a["code"]: a for a in data["attributes"]}
    kind = attributes["type"]
    assert kind["datatype"] == "singlevaluelist" and kind["variable"] is True and kind["required"] is False
    assert [v["key"] for v in kind["values"]] == ["complaint", "suggestion", "compliment", "question", "help_request"]
    codes = attributes["topic_code"]
    assert codes["datatype"] == "singlevaluelist" and codes["order"] == 2 and codes["values"]
    root = xml(await client.get(f"{BASE}/{prefix}/cost.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "cost"
    values = root.findall("attributes/attribute/values/value")
    assert values and values[0].findtext("key") == "complaint"


async def test_unknown_service_is_404_in_the_spec_error_format(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/services/nope.json")
    assert response.status_code == 404
    assert response.json()[0]["code"] == 404 and response.json()[0]["description"]
    response = await client.get(f"{BASE}/services/nope.xml")
    root = xml(response)
    assert response.status_code == 404 and root.tag == "errors"
    assert root.findtext("error/code") == "404"


# -- reading requests ---------------------------------------------------------------------------


async def test_requests_fields_json_and_xml(client: httpx.AsyncClient, db: Database) -> None:
    received = datetime(2026, 3, 12, 15, 42, 7, tzinfo=UTC)  # a Thursday
    code = await make_item(db, response="Nous avons ouvert la salle à 7 h 30.", now=received)
    params = {"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-03-31T00:00:00+00:00"}
    response = await client.get(f"{BASE}/requests.json", params=params)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json; charset=utf-8"
    [data] = response.json()
    assert list(data) == REQUEST_FIELDS
    assert data["service_request_id"] == code
    assert data["status"] == "closed"  # resolved, awaiting confirmation
    resolved = translate("Resolved, awaiting confirmation", "fr")
    assert data["status_notes"] == f"{resolved}: Nous avons ouvert la salle à 7 h 30."
    assert data["service_code"] == "waiting" and data["service_name"] == "Attente et horaires"
    assert data["description"] == "Une mère signale une longue attente le matin."
    assert data["agency_responsible"] == "Direction technique — CSCOM de Lafiabougou"
    # Dates by week: Monday 00:00 UTC, with the zone (DESIGN §10).
    assert data["requested_datetime"] == "2026-03-09T00:00:00+00:00"
    assert data["updated_datetime"] == "2026-03-09T00:00:00+00:00"
    item = await load(db, code)
    assert item.resolve_by is not None
    assert data["expected_datetime"] == monday(item.resolve_by)
    assert data["address"] == "CSCOM de Lafiabougou" and data["address_id"] == "BKO-C4-LAF"
    assert data["lat"] == pytest.approx(12.643) and data["long"] == pytest.approx(-8.04)
    assert data["media_url"] is None and data["zipcode"] is None and data["service_notice"] is None
    assert_nothing_personal(response.text)

    root = xml(await client.get(f"{BASE}/requests.xml", params=params))
    assert root.tag == "service_requests"
    [request] = root.findall("request")
    assert [child.tag for child in request] == REQUEST_FIELDS
    assert request.findtext("service_request_id") == code
    assert request.findtext("requested_datetime") == "2026-03-09T00:00:00+00:00"
    assert request.findtext("lat") == "12.643"


async def test_only_published_consented_s0_items_are_listed(client: httpx.AsyncClient, db: Database) -> None:
    public = await make_item(db)
    hidden = [
        await make_item(db, publish=False),  # moderated but not published
        await make_item(db, sensitivity="S1", publish=False),
        await make_item(db, topic="cost", sensitivity="S2", publish=False, summary="Paiement"),
        await make_item(db, topic="protection", sensitivity="S3", publish=False, summary="Abus"),
        await make_item(db, publish_consent=None, publish=False),  # SMS/API: never asked
    ]
    response = await client.get(f"{BASE}/requests.json")
    ids = [r["service_request_id"] for r in response.json()]
    assert ids == [public]
    for code in hidden:
        assert (await client.get(f"{BASE}/requests/{code}.json")).status_code == 404
        listed = await client.get(f"{BASE}/requests.json", params={"service_request_id": code})
        assert listed.json() == []
    assert_nothing_personal(response.text)


async def test_request_by_id_and_status_mapping(client: httpx.AsyncClient, db: Database) -> None:
    open_code = await make_item(db)
    response = await client.get(f"{BASE}/requests/{open_code}.json")
    [data] = response.json()
    assert data["status"] == "open" and data["status_notes"] == translate("Received", "fr")
    # Codes are read as people type them.
    spaced = f"{open_code[:3]}-{open_code[3:6]} {open_code[6:].lower()}"
    assert (await client.get(f"{BASE}/requests/{spaced}.json")).json()[0]["service_request_id"] == open_code
    root = xml(await client.get(f"{BASE}/requests/{open_code}.xml"))
    assert root.findtext("request/status") == "open"
    missing = await client.get(f"{BASE}/requests/AAAAAAAAA.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


async def test_filters(client: httpx.AsyncClient, db: Database) -> None:
    now = utcnow()
    waiting = await make_item(db, topic="waiting", now=now - timedelta(days=1))
    hygiene = await make_item(db, topic="hygiene", response="Réparé.", now=now - timedelta(days=2))
    old = await make_item(db, topic="waiting", now=now - timedelta(days=200))

    async def ids(**params: str) -> list[str]:
        response = await client.get(f"{BASE}/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert set(await ids()) == {waiting, hygiene}  # default window: the last 90 days
    assert await ids(service_code="hygiene") == [hygiene]
    assert set(await ids(service_code="hygiene,waiting")) == {waiting, hygiene}
    assert await ids(status="open") == [waiting]
    assert await ids(status="closed") == [hygiene]
    assert set(await ids(status="open,closed")) == {waiting, hygiene}
    start = (now - timedelta(days=220)).isoformat()
    end = (now - timedelta(days=150)).isoformat()
    assert await ids(start_date=start, end_date=end) == [old]
    assert await ids(start_date=start) == [old]  # start plus 90 days
    # service_request_id overrides every other filter.
    assert set(await ids(service_request_id=f"{old},{hygiene}", service_code="waiting", status="open")) == {old, hygiene}
    assert await ids(jurisdiction_id="bamako", service_code="hygiene") == [hygiene]  # accepted, ignored
    # Pages, newest first.
    assert await ids(page_size="1") == [waiting]
    assert await ids(page_size="1", page="2") == [hygiene]
    assert await ids(page_size="1", page="3") == []


BAD_PARAMETERS = [
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-13-45T00:00:00Z"}, "end_date"),
        ({"start_date": "2026-03-10T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"}, "before"),
        ({"start_date": "2025-01-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "90"),
        ({"start_date": "9999-12-31T23:59:59-12:00"}, ""),
        ({"page": "0"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "99999999999999999999999"}, "page"),
        ({"page_size": "5000"}, "page_size"),
        ({"page_size": "-1"}, "page_size"),
        ({"status": "pending"}, "status"),
        ({"service_code": "nope"}, "nope"),
        ({"service_request_id": ",".join(["A"] * 1001)}, "1000"),
]


async def test_bad_parameters_are_400_never_500(client: httpx.AsyncClient) -> None:
    for params, fragment in BAD_PARAMETERS:
        response = await client.get(f"{BASE}/requests.json", params=params | {"lang": "en"})
        assert response.status_code == 400, (params, response.text)
        [error] = response.json()
        assert error["code"] == 400 and fragment in error["description"], params
        root = xml(await client.get(f"{BASE}/requests.xml", params=params))
        assert root.tag == "errors" and root.findtext("error/code") == "400"


async def test_unknown_format_and_paths(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/requests.csv")
    assert response.status_code == 400
    assert xml(response).findtext("error/code") == "400"
    response = await client.get(f"{BASE}/no/such/thing.json")
    assert response.status_code == 404 and response.json() == [{"code": 404, "description": response.json()[0]["description"]}]
    assert xml(await client.get(f"{BASE}/nothing")).tag == "errors"


async def test_xml_escapes_everything(client: httpx.AsyncClient, db: Database) -> None:
    summary = 'Le <b>robinet</b> & "l\'eau" ]]> coupée\x07 ici'
    code = await make_item(db, summary=summary)
    response = await client.get(f"{BASE}/requests/{code}.xml")
    root = xml(response)
    assert root.findtext("request/description") == 'Le <b>robinet</b> & "l\'eau" ]]> coupée ici'
    assert b"<b>" not in response.content


# -- creating requests ---------------------------------------------------------------------------


async def test_post_needs_a_valid_key(client: httpx.AsyncClient, db: Database) -> None:
    form = {"service_code": "waiting", "address_id": "BKO-C4-LAF", "description": "Attente trop longue."}
    missing = await client.post(f"{BASE}/requests.json", data=form)
    assert missing.status_code == 403 and missing.json()[0]["code"] == 403
    wrong = await client.post(f"{BASE}/requests.xml", data=form | {"api_key": "sk_wrong"})
    assert wrong.status_code == 403 and xml(wrong).findtext("error/code") == "403"
    huge = await client.post(f"{BASE}/requests.json", data=form | {"api_key": "k" * 5000})
    assert huge.status_code == 403
    async with db.read() as session:
        assert (await session.scalar(select(FeedbackItem.id).limit(1))) is None


async def test_post_creates_an_item_through_intake(client: httpx.AsyncClient, db: Database) -> None:
    key = await make_key(db)
    form = {
        "api_key": key, "jurisdiction_id": "bamako", "service_code": "medicines", "address_id": "bko-c4-laf",
        "description": "Pas de vaccin contre la rougeole.", "attribute[type]": "question",
        "phone": "76 12 34 56", "email": EMAIL, "first_name": "Awa", "last_name": "Traoré",
    }
    response = await client.post(f"{BASE}/requests.json", data=form)  # no CSRF token: the key protects it
    assert response.status_code == 200, response.text
    [created] = response.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    code = created["service_request_id"]
    assert f"/track/{code}" in created["service_notice"]
    item = await load(db, code)
    assert item.channel == "api" and item.feedback_type == "question" and item.publish_consent is None
    assert item.sensitivity == "S1" and item.partner_id is not None and not item.published
    assert item.contact_consent and item.contact_phone == "+22376123456" and item.contact_email == EMAIL
    assert item.contact_name == "Awa Traoré" and item.text == "Pas de vaccin contre la rougeole."
    async with db.read() as session:
        kinds = set((await session.scalars(select(Event.kind).where(Event.item_id == item.id))).all())
    assert {"submitted", "routed", "internal_note"} <= kinds
    # It goes to moderation: never listed one by one (no consent to publish was asked).
    assert (await client.get(f"{BASE}/requests/{code}.json")).status_code == 404
    token = await client.get(f"{BASE}/tokens/{code}.json")
    assert token.json() == [{"service_request_id": code, "token": code}]
    assert xml(await client.get(f"{BASE}/tokens/{code}.xml")).findtext("request/token") == code
    assert (await client.get(f"{BASE}/tokens/AAAAAAAAA.json")).status_code == 404


async def test_post_by_coordinates_and_xml(client: httpx.AsyncClient, db: Database) -> None:
    key = await make_key(db, partner=None)
    form = {"api_key": key, "service_code": "hygiene", "lat": "12.6012", "long": "-7.9821",
            "description": "Pas d'eau à la maternité."}
    response = await client.post(f"{BASE}/requests.xml", data=form)
    root = xml(response)
    code = root.findtext("request/service_request_id")
    assert response.status_code == 200 and code
    item = await load(db, code)
    assert item.feedback_type == "complaint" and not item.contact_consent and item.contact_phone is None
    async with db.read() as session:
        from feedback.models import Site

        site = await session.get(Site, item.site_id)
    assert site is not None and site.code == "BKO-C5-DAO"  # the nearest centre


POST_ERRORS = [
        ({"description": ""}, "description"),
        ({"description": "x" * 4001}, "4000"),
        ({"service_code": "nope"}, "service_code"),
        ({"service_code": ""}, "service_code"),
        ({"address_id": "NOWHERE"}, "address_id"),
        ({"address_id": "", "lat": "48.85", "long": "2.35"}, "near"),
        ({"address_id": "", "lat": "nan", "long": "2"}, "lat"),
        ({"address_id": ""}, "location"),
        ({"attribute[type]": "rant"}, "attribute[type]"),
        ({"attribute[topic_code]": "nope"}, "code"),
        ({"phone": "12"}, "phone"),
        ({"email": "not-an-address"}, "email"),
]


async def test_post_errors_are_400(client: httpx.AsyncClient, db: Database) -> None:
    key = await make_key(db)
    form = {"api_key": key, "service_code": "waiting", "address_id": "BKO-C4-LAF", "description": "Attente."}
    for changes, fragment in POST_ERRORS:
        response = await client.post(f"{BASE}/requests.json?lang=en", data=form | changes)
        assert response.status_code == 400, (changes, response.text)
        descriptions = " ".join(e["description"] for e in response.json())
        assert fragment.lower() in descriptions.lower(), changes
    async with db.read() as session:
        assert (await session.scalar(select(FeedbackItem.id).limit(1))) is None


async def test_post_revoked_key_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    from feedback.domain import apikeys
    from feedback.models import ApiKey

    key = await make_key(db)
    async with db.write() as session, session.begin():
        stored = await session.scalar(select(ApiKey))
        assert stored is not None and stored.key_hash != key and stored.prefix == key[:8]
        assert await apikeys.revoke(session, stored.id)
    form = {"api_key": key, "service_code": "waiting", "address_id": "BKO-C4-LAF", "description": "Attente."}
    assert (await client.post(f"{BASE}/requests.json", data=form)).status_code == 403


async def test_post_malformed_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{BASE}/requests.json", content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code in (400, 403)
    assert response.json()[0]["code"] == response.status_code
