"""XSS: every free-text field holds hostile markup; every page, feed, export and API that shows it
renders it inert (escaped in HTML, well-formed and escaped in XML/Atom, JSON as JSON)."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from typing import Any

import httpx
from defusedxml import ElementTree
from sqlalchemy import select

from feedback.db import Database
from feedback.domain import intake, moderation, workflow
from feedback.domain.access import Actor
from feedback.models import FeedbackItem, Partner, Site, Topic, User
from tests.conftest import csrf_token, login
from tests.http.opendata_items import make_key

FIELDS = ("text", "contact", "response", "note", "observation", "summary", "transcript", "dispute",
          "partner", "site", "topic", "user", "sms", "apidesc", "apiname", "kiosk")


def payload(field: str) -> str:
    """Markup that would run if rendered raw, tagged with the field it was put in."""
    return f"""XSS{field}<script>alert(1)</script>"'><img src=x onerror=alert(1)>javascript:alert(1)SSTI{{{{7*191}}}}"""


class Tags(HTMLParser):
    """Every real element and attribute of a page (escaped text stays text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower() for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")
        if tag == "img" and ("src", "x") in attrs:
            self.problems.append("injected <img>")
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.problems.append(f"event handler {name} on <{tag}>")
            if name.lower() in ("href", "src", "action", "formaction", "xlink:href", "data") and value and \
                    re.sub(r"\s", "", value).lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name}")

    handle_startendtag = handle_starttag


def assert_inert_html(text: str, where: str) -> None:
    assert "<script>alert(1)" not in text, where
    assert "SSTI1337" not in text, f"template injection on {where}"
    parser = Tags()
    parser.feed(text)
    assert not parser.problems, (where, parser.problems)


def assert_inert_xml(text: str, where: str) -> None:
    root = ElementTree.fromstring(text.encode())  # well-formed, no entities, no DTD
    assert "SSTI1337" not in text, where
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1].lower()
        assert local not in ("script", "img", "svg"), (where, local)
        # Atom content of type html is decoded once by feed readers: it must still be escaped then.
        if element.get("type") in ("html", "xhtml") and element.text:
            assert_inert_html(element.text, f"{where} <{local} type=html>")


def walk_json(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in walk_json(v)]
    if isinstance(value, list):
        return [s for v in value for s in walk_json(v)]
    return [value] if isinstance(value, str) else []


async def plant(app: Any, client: httpx.AsyncClient, db: Database) -> dict[str, Any]:
    """Hostile text in every field, through the real forms where there is one."""
    async with db.write() as session, session.begin():
        site = await session.scalar(select(Site).where(Site.code == "BKO-C4-LAF"))
        partner = await session.scalar(select(Partner).where(Partner.slug == "dtc-laf"))
        topic = await session.scalar(select(Topic).where(Topic.slug == "welcome"))
        agent = await session.scalar(select(User).where(User.login == "agent.laf"))
        assert site and partner and topic and agent
        site.name, partner.name, agent.name = payload("site"), payload("partner"), payload("user")
        topic.label_fr = topic.label_en = topic.label_bm = payload("topic")
        admin = Actor.for_user(await session.scalar(select(User).where(User.login == "admin")))  # type: ignore[arg-type]
        moderator = Actor.for_user(await session.scalar(select(User).where(User.login == "moderatrice")))  # type: ignore[arg-type]
        items = []
        for n in range(2):
            item = await intake.store(session, intake.Submission(
                site_code="BKO-C4-LAF", channel="web", feedback_type="complaint", topic_slug="welcome",
                text=payload("text"), contact_name=payload("contact"), contact_phone="76 12 34 56",
                contact_consent=True, publish_consent=True, idempotency_key=f"xss-item-{n}-0123456789"))
            await moderation.moderate(session, item, moderator, moderation.Changes(
                public_summary=payload("summary"), transcript=payload("transcript"), sensitivity="S0"))
            await moderation.publish(session, item, moderator, override=True)
            await workflow.apply(session, item, "resolve", admin, public_text=payload("response"))
            items.append(item)
    published, disputed = items

    token = await csrf_token(client, f"/track/{disputed.tracking_code}")
    response = await client.post(f"/track/{disputed.tracking_code}/dispute",
                                 data={"csrf_token": token, "reason": payload("dispute")})
    assert response.status_code in (200, 303), response.status_code

    response = await client.post("/sms/inbound", headers={"X-Sauti-Secret": "sms-test-secret"},
                                 data={"from": "+22376543210", "to": "36123", "id": "xss-sms",
                                       "text": "BKO-C4-LAF " + payload("sms")})
    assert response.status_code == 200, response.text

    key = await make_key(db)
    response = await client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "waiting", "address_id": "BKO-C4-LAF",
        "description": payload("apidesc"), "first_name": payload("apiname")[:80], "email": "x@example.org"})
    assert response.status_code in (200, 201), response.text

    token = await csrf_token(client, "/kiosk/BKO-C4-LAF")
    response = await client.post("/kiosk/BKO-C4-LAF", data={
        "csrf_token": token, "lang": "fr", "feedback_type": "complaint", "topic": "welcome",
        "text": payload("kiosk"), "contact_consent": "no", "publish_consent": "yes", "gender": "female",
        "age_band": "25_34", "idempotency_key": "xss-kiosk-0123456789ab", "step": "review", "nav": "send"})
    assert response.status_code == 200 and "XSSkiosk" not in response.text
    assert_inert_html(response.text, "kiosk receipt")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as staff:
        await login(staff, "admin")
        token = await csrf_token(staff, f"/portal/items/{published.id}")
        response = await staff.post(f"/portal/items/{published.id}/notes",
                                    data={"csrf_token": token, "note": payload("note")})
        assert response.status_code == 303, response.status_code
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as monitor:
        await login(monitor, "comite.laf")
        token = await csrf_token(monitor, f"/portal/items/{published.id}")
        response = await monitor.post(f"/portal/items/{published.id}/observations",
                                      data={"csrf_token": token, "observation": payload("observation")})
        assert response.status_code == 303, response.status_code

    async with db.read() as session:
        all_items = list((await session.scalars(select(FeedbackItem).order_by(FeedbackItem.id))).all())
    return {"published": published, "disputed": disputed, "items": all_items, "site": site,
            "partner": partner, "topic": topic, "agent": agent}


async def test_hostile_text_is_inert_everywhere(app: Any, client: httpx.AsyncClient, db: Database) -> None:
    planted = await plant(app, client, db)
    seen: set[str] = set()

    def note_markers(text: str) -> None:
        seen.update(f for f in FIELDS if f"XSS{f}" in text)

    published, disputed = planted["published"], planted["disputed"]
    public_html = [
        "/", "/?lang=en", "/board/", "/board/?lang=en", "/board/sites/BKO-C4-LAF", "/board/partners/dtc-laf",
        "/board/items", "/board/items?site=BKO-C4-LAF", "/board/display/BKO-C4-LAF",
        *(f"/board/display/BKO-C4-LAF?slide={n}" for n in range(4)),
        f"/track/{published.tracking_code}", f"/track/{disputed.tracking_code}", "/track/", "/submit",
        "/kiosk/BKO-C4-LAF",
    ]
    for path in public_html:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert_inert_html(response.text, path)
        note_markers(response.text)
    # The kiosk's topic screen (labels edited by an admin).
    token = await csrf_token(client, "/kiosk/BKO-C4-LAF")
    topic_screen = await client.post("/kiosk/BKO-C4-LAF", data={
        "csrf_token": token, "lang": "fr", "feedback_type": "complaint", "step": "type",
        "idempotency_key": "xss-topic-0123456789ab"})
    assert_inert_html(topic_screen.text, "kiosk topic screen")
    assert "XSStopic" in topic_screen.text

    for path in ("/feeds/board.atom", "/feeds/sites/BKO-C4-LAF.atom", "/feeds/partners/dtc-laf.atom",
                 "/open311/v2/requests.xml", f"/open311/v2/requests/{published.tracking_code}.xml",
                 "/open311/v2/services.xml", "/open311/v2/discovery.xml"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "xml" in response.headers["content-type"], path
        assert_inert_xml(response.text, path)
        note_markers(response.text)

    for path in ("/export/feedback.json", "/open311/v2/requests.json", "/open311/v2/services.json",
                 f"/open311/v2/requests/{published.tracking_code}.json", f"/api/track/{published.tracking_code}",
                 "/api/openapi.json"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("application/json"), path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "SSTI1337" not in response.text
        json.loads(response.text)
        note_markers(response.text)

    for path in ("/export/feedback.csv", "/export/aggregates.csv"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/csv"), path
        for row in csv.reader(io.StringIO(response.text)):
            for cell in row:
                assert cell[:1] not in ("=", "+", "@") or cell.lstrip("+-").replace(".", "").isdigit(), (path, cell)
        note_markers(response.text)

    public_seen = set(seen)
    # What the public may see of these items: the moderated summary, the public response, and the
    # names an admin gave to places; never the original text, names, notes or transcripts.
    assert {"summary", "response", "site", "partner", "topic"} <= public_seen, public_seen
    assert not public_seen & {"text", "contact", "note", "observation", "transcript", "sms", "apidesc",
                              "apiname", "kiosk", "dispute"}, public_seen

    admin_pages = [
        "/portal/", "/portal/?q=XSS", "/portal/?status=reopened", "/portal/audit", "/admin/", "/admin/partners",
        "/admin/sites", "/admin/topics", "/admin/users", "/admin/log", "/admin/routing_rules", "/admin/register",
        "/admin/api-keys", "/admin/codes", f"/admin/partners/{planted['partner'].id}",
        f"/admin/sites/{planted['site'].id}", f"/admin/topics/{planted['topic'].id}",
        f"/admin/users/{planted['agent'].id}",
        *(f"/portal/items/{item.id}" for item in planted["items"]),
    ]
    moderator_pages = ["/moderation/", "/moderation/?view=published",
                       *(f"/moderation/items/{item.id}" for item in planted["items"])]
    for account, pages in (("admin", admin_pages), ("moderatrice", moderator_pages),
                           ("agent.laf", ["/portal/", f"/portal/items/{published.id}"]),
                           ("comite.laf", ["/portal/", f"/portal/items/{published.id}"])):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as staff:
            await login(staff, account)
            for path in pages:
                response = await staff.get(path)
                assert response.status_code == 200, (account, path, response.status_code)
                assert_inert_html(response.text, path)
                note_markers(response.text)
    assert seen == set(FIELDS), set(FIELDS) - seen


async def test_htmx_fragments_are_escaped_too(client: httpx.AsyncClient, db: Database, app: Any) -> None:
    """The partial a page sends to htmx escapes exactly like the full page."""
    planted = await plant(app, client, db)
    for path in ("/board/items", "/board/", f"/track/{planted['published'].tracking_code}"):
        response = await client.get(path, headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert_inert_html(response.text, path + " (htmx)")


def test_the_checks_catch_raw_markup() -> None:
    """The detectors themselves: raw payloads fail, escaped ones pass."""
    import html

    import pytest

    for raw in (f"<p>{payload('x')}</p>", '<a href=" JavaScript:alert(1)">x</a>', "<p>SSTI1337</p>",
                '<input value="" onfocus="alert(1)">'):
        with pytest.raises(AssertionError):
            assert_inert_html(raw, "raw")
    assert_inert_html(f"<p>{html.escape(payload('x'))}</p><input value=\"{html.escape(payload('y'))}\">", "escaped")
    with pytest.raises(AssertionError):
        assert_inert_xml(f'<feed><content type="html">{html.escape(payload("z"))}</content></feed>', "atom")
    assert_inert_xml(f'<feed><content type="html">{html.escape(html.escape(payload("z")))}</content></feed>', "atom")
