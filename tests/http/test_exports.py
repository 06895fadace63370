"""Open data exports: HXL-tagged CSV, JSON, aggregates, DHIS2, the tracking JSON; privacy of each."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.db import Database
from feedback.models import Dhis2Mapping, utcnow
from feedback.queries import exports
from tests.http.opendata_items import assert_nothing_personal, make_item, make_key


def parse_csv(text: str) -> tuple[list[str], list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    header, tags = rows[0], rows[1]
    return header, tags, [dict(zip(header, row, strict=True)) for row in rows[2:]]


async def hidden_items(db: Database) -> list[str]:
    return [
        await make_item(db, publish=False),
        await make_item(db, sensitivity="S1", publish=False),
        await make_item(db, topic="cost", sensitivity="S2", publish=False, summary="Paiement"),
        await make_item(db, topic="protection", sensitivity="S3", publish=False, summary="Abus"),
        await make_item(db, publish_consent=None, publish=False),
    ]


async def test_csv_has_header_then_hxl_row_and_public_fields_only(client: httpx.AsyncClient, db: Database) -> None:
    received = datetime(2026, 3, 12, 15, 42, tzinfo=UTC)
    code = await make_item(db, response="=HYPERLINK(\"http://evil\")", now=received)
    hidden = await hidden_items(db)
    response = await client.get("/export/feedback.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    header, tags, rows = parse_csv(response.text)
    assert header[:3] == ["tracking_code", "date_reported", "date_published"]
    assert all(tag.startswith("#") for tag in tags)
    for tag in ("#date+reported", "#date+resolved", "#adm1+name", "#adm2+name", "#loc+code", "#loc+name",
                "#org+name", "#indicator+type", "#indicator+category", "#status", "#meta+id"):
        assert tag in tags
    assert [r["tracking_code"] for r in rows] == [code]
    [row] = rows
    assert row["date_reported"] == "2026-03-09"  # the Monday of its week
    assert row["date_resolved"] == "2026-03-09"
    assert row["region"] == "District de Bamako" and row["commune"] == "Commune IV"
    assert row["site_code"] == "BKO-C4-LAF" and row["partner"] == "Direction technique — CSCOM de Lafiabougou"
    assert row["feedback_type"] == "complaint" and row["topic"] == "waiting" and row["status"] == "resolved"
    assert row["response"] == "'=HYPERLINK(\"http://evil\")"  # never a spreadsheet formula
    for secret in hidden:
        assert secret not in response.text
    assert_nothing_personal(response.text)


async def test_json_export_matches_csv(client: httpx.AsyncClient, db: Database) -> None:
    first = await make_item(db)
    second = await make_item(db, topic="hygiene", site="BKO-C6-MAG")
    await hidden_items(db)
    response = await client.get("/export/feedback.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    data = response.json()
    assert [d["tracking_code"] for d in data] == [first, second]
    assert set(data[0]) == {name for name, _tag in exports.EXPORT_COLUMNS}
    assert data[1]["commune"] == "Commune VI" and data[1]["open"] is True
    assert_nothing_personal(response.text)
    assert (await client.get("/export/feedback.json", params={"site": "BKO-C4-LAF"})).json()[0]["tracking_code"] == first


async def test_filters(client: httpx.AsyncClient, db: Database) -> None:
    now = utcnow()
    laf = await make_item(db, topic="waiting", now=now - timedelta(days=40))
    mag = await make_item(db, topic="hygiene", site="BKO-C6-MAG", now=now - timedelta(days=1))

    async def codes(**params: str) -> list[str]:
        response = await client.get("/export/feedback.json", params=params)
        assert response.status_code == 200, response.text
        return [d["tracking_code"] for d in response.json()]

    assert await codes(site="bko-c6-mag") == [mag]
    assert await codes(topic="waiting") == [laf]
    assert await codes(partner="dtc-laf") == [laf]
    assert await codes(**{"from": (now - timedelta(days=10)).date().isoformat()}) == [mag]
    assert await codes(to=(now - timedelta(days=30)).date().isoformat()) == [laf]
    assert await codes(**{"from": "2020-01-01", "to": "2020-02-01"}) == []


BAD_FILTERS = [
    {"from": "last week"}, {"to": "2026-02-30"}, {"from": "2026-03-10", "to": "2026-03-01"}, {"site": "NOPE"},
    {"partner": "nope"}, {"topic": "nope"}, {"from": "0001-01-01"}, {"to": "9999-12-31"},
]


async def test_bad_filters_are_400(client: httpx.AsyncClient) -> None:
    for params in BAD_FILTERS:
        for path in ("/export/feedback.csv", "/export/feedback.json"):
            response = await client.get(path, params=params)
            assert response.status_code == 400, (path, params, response.text)


async def test_export_streams_in_batches(db: Database) -> None:
    same_moment = utcnow()  # ties on received_at must neither repeat nor skip an item
    made = [await make_item(db, now=same_moment) for _ in range(5)]
    async with db.read() as session:
        batches = [[i.tracking_code for i in b]
                   async for b in exports.iter_public_items(session, exports.ExportFilter(), batch=2)]
        chunks = [c async for c in exports.csv_chunks(session, exports.ExportFilter())]
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [code for b in batches for code in b] == made
    assert len(chunks) == 2 and all(code in chunks[1] for code in made)


async def test_aggregates_count_everything_with_small_counts_hidden(client: httpx.AsyncClient, db: Database) -> None:
    now = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
    for _ in range(6):
        await make_item(db, topic="hygiene", publish=False, sensitivity="S1", now=now)
    await make_item(db, topic="hygiene", now=now)
    await make_item(db, topic="protection", sensitivity="S3", publish=False, summary="Abus", now=now)
    response = await client.get("/export/aggregates.csv", params={"from": "2026-02", "to": "2026-02"})
    assert response.status_code == 200
    header, tags, rows = parse_csv(response.text)
    assert header == [name for name, _tag in exports.AGGREGATE_COLUMNS] and tags[0] == "#date+month"
    site_rows = [r for r in rows if r["level"] == "site"]
    national = [r for r in rows if r["level"] == "national"]
    assert {"month": "2026-02", "level": "site", "region": "District de Bamako", "commune": "Commune IV",
            "site_code": "BKO-C4-LAF", "site_name": "CSCOM de Lafiabougou", "topic": "hygiene",
            "status": "received", "count": "7"} in site_rows
    # S3 never per site; in national totals only, and under 5 shows as "<5".
    assert not any(r["topic"] == "protection" for r in site_rows)
    assert {"topic": "protection", "count": "<5"}.items() <= next(r for r in national if r["topic"] == "protection").items()
    assert_nothing_personal(response.text)
    assert (await client.get("/export/aggregates.csv", params={"from": "2026-13"})).status_code == 400


async def _map(session: AsyncSession) -> None:
    session.add(Dhis2Mapping(indicator="received", data_element="fbRcvd01", category_option_combo="HllvX50cXC0"))


async def test_dhis2_data_value_sets(client: httpx.AsyncClient, db: Database) -> None:
    now = utcnow().replace(day=3)
    for _ in range(5):
        await make_item(db, topic="hygiene", publish=False, sensitivity="S1", now=now)
    await make_item(db, site="BKO-C6-MAG", publish=False, sensitivity="S1", now=now)
    await make_item(db, topic="protection", sensitivity="S3", publish=False, summary="Abus", now=now)
    async with db.write() as session, session.begin():
        await _map(session)
    response = await client.get("/export/dhis2/dataValueSets.json")
    assert response.status_code == 200
    values = response.json()["dataValues"]
    period = f"{now.year:04d}{now.month:02d}"
    received = [v for v in values if v["dataElement"] == "fbRcvd01"]
    assert received == [{"dataElement": "fbRcvd01", "period": period, "orgUnit": "MLLAFC4", "value": "5",
                         "categoryOptionCombo": "HllvX50cXC0"}]  # S3 not counted per site
    assert {"dataElement": "SAUTI_RECEIVED_COMPLAINT", "period": period, "orgUnit": "MLLAFC4", "value": "5"} in values
    assert not any(v["orgUnit"] == "MLMAGC6" for v in values)  # 1 item: under 5, left out
    key = await make_key(db)
    exact = (await client.get("/export/dhis2/dataValueSets.json", headers={"X-Api-Key": key})).json()["dataValues"]
    assert {"dataElement": "fbRcvd01", "period": period, "orgUnit": "MLMAGC6", "value": "1",
            "categoryOptionCombo": "HllvX50cXC0"} in exact
    for params in ({"from": "2020-01", "to": "2026-01"}, {"from": "2026-05", "to": "2026-04"}, {"to": "202613"}):
        assert (await client.get("/export/dhis2/dataValueSets.json", params=params)).status_code == 400


async def test_tracking_json_is_the_public_view(client: httpx.AsyncClient, db: Database) -> None:
    received = datetime(2026, 3, 12, 15, 42, tzinfo=UTC)
    code = await make_item(db, response="Réparé.", now=received, publish=False, publish_consent=None)
    response = await client.get(f"/api/track/{code[:3]}-{code[3:6]}-{code[6:]}")
    assert response.status_code == 200
    data = response.json()
    assert data["tracking_code"] == code and data["status"] == "resolved" and data["open"] is False
    assert data["site"] == {"code": "BKO-C4-LAF", "name": "CSCOM de Lafiabougou"}
    assert data["topic"]["code"] == "waiting" and data["public_response"] == "Réparé."
    assert data["week_received"] == "2026-03-09"
    assert all(e["week"] == "2026-03-09" for e in data["events"])
    assert "public_response" in [e["kind"] for e in data["events"]]
    assert_nothing_personal(response.text)
    sensitive = await make_item(db, topic="protection", sensitivity="S3", publish=False, summary="Abus")
    data = (await client.get(f"/api/track/{sensitive}")).json()
    assert data["topic"] is None and data["partner"] is None
    assert (await client.get("/api/track/AAAAAAAAA")).status_code == 404
    assert (await client.get("/api/track/nope")).json()["error"]
