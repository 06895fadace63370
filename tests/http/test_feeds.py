"""Atom 1.0 feeds: valid documents, published S0 items only, dates by week."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from defusedxml import ElementTree as SafeET

from feedback.db import Database
from tests.http.opendata_items import assert_nothing_personal, make_item

NS = {"a": "http://www.w3.org/2005/Atom"}


def parse_feed(response: httpx.Response):  # type: ignore[no-untyped-def]
    """Parse safely and check what RFC 4287 requires of a feed and its entries."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = SafeET.fromstring(response.content)
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    for required in ("a:id", "a:title", "a:updated", "a:author/a:name"):
        assert feed.find(required, NS) is not None and feed.findtext(required, namespaces=NS), required
    selfs = [link for link in feed.findall("a:link", NS) if link.get("rel") == "self"]
    assert len(selfs) == 1 and selfs[0].get("href") == feed.findtext("a:id", namespaces=NS)
    _rfc3339(feed.findtext("a:updated", namespaces=NS))
    ids = set()
    for entry in feed.findall("a:entry", NS):
        for required in ("a:id", "a:title", "a:updated"):
            assert entry.findtext(required, namespaces=NS), required
        ids.add(entry.findtext("a:id", namespaces=NS))
        assert entry.find("a:link[@rel='alternate']", NS) is not None
        assert entry.find("a:summary", NS) is not None
        _rfc3339(entry.findtext("a:updated", namespaces=NS))
    assert len(ids) == len(feed.findall("a:entry", NS))  # ids are unique
    return feed


def _rfc3339(value: str | None) -> datetime:
    assert value is not None and value.endswith("Z")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_board_feed_lists_published_items_and_resolutions(client: httpx.AsyncClient, db: Database) -> None:
    received = datetime(2026, 3, 12, 15, 42, tzinfo=UTC)
    published = await make_item(db, summary="Latrines <fermées> & sales", now=received)
    resolved = await make_item(db, topic="hygiene", response="Réparées.", now=received)
    hidden = [
        await make_item(db, publish=False),
        await make_item(db, topic="protection", sensitivity="S3", publish=False, summary="Abus"),
        await make_item(db, publish_consent=None, publish=False, response="Fait."),
    ]
    response = await client.get("/feeds/board.atom")
    feed = parse_feed(response)
    entries = feed.findall("a:entry", NS)
    ids = [e.findtext("a:id", namespaces=NS) for e in entries]
    assert f"http://testserver/track/{published}#published" in ids
    assert f"http://testserver/track/{resolved}#published" in ids
    assert f"http://testserver/track/{resolved}#resolved" in ids
    assert len(ids) == 3
    assert all(e.findtext("a:updated", namespaces=NS) == "2026-03-09T00:00:00Z" for e in entries)
    assert feed.findtext("a:updated", namespaces=NS) == "2026-03-09T00:00:00Z"
    summaries = [e.findtext("a:summary", namespaces=NS) for e in entries]
    assert "Latrines <fermées> & sales" in summaries
    assert any(s and "Réparées." in s for s in summaries)
    for code in hidden:
        assert code not in response.text
    assert_nothing_personal(response.text)


async def test_site_and_partner_feeds(client: httpx.AsyncClient, db: Database) -> None:
    laf = await make_item(db)
    mag = await make_item(db, site="BKO-C6-MAG")
    feed = parse_feed(await client.get("/feeds/sites/BKO-C4-LAF.atom"))
    text = SafeET.tostring(feed, encoding="unicode")
    assert laf in text and mag not in text
    assert "CSCOM de Lafiabougou" in feed.findtext("a:title", namespaces=NS)
    feed = parse_feed(await client.get("/feeds/partners/dtc-mag.atom"))
    text = SafeET.tostring(feed, encoding="unicode")
    assert mag in text and laf not in text


async def test_empty_feed_is_still_valid(client: httpx.AsyncClient) -> None:
    feed = parse_feed(await client.get("/feeds/board.atom"))
    assert feed.findall("a:entry", NS) == []


@pytest.mark.parametrize("path", ["/feeds/sites/NOPE.atom", "/feeds/partners/nope.atom"])
async def test_unknown_feed_is_404(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 404
