"""The privacy proof (DESIGN §10, issue 9 §6).

Items full of Mali phone numbers, e-mail addresses and names go through the whole lifecycle
(kiosk, web, SMS and Open311 intake; acknowledge, resolve, confirm, dispute, rate; moderation and
publication; S2/S3 kept confidential). Then every public page, feed, export and API answer is
crawled — from a known list and by following every link from / and /board — and none of the
personal data is found in any form: with or without spaces, dots, dashes, +223 or 00223, any case,
with or without accents. The tracking codes of S2/S3 and unpublished items appear on no listing.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest_asyncio
from sqlalchemy import select
from starlette.applications import Starlette

from feedback.app import create_app
from feedback.db import Database
from feedback.domain import intake, moderation, workflow
from feedback.domain.access import Actor
from feedback.models import FeedbackItem, Partner, Site, User
from tests.conftest import csrf_token, make_settings
from tests.http.opendata_items import make_key

PHONES = ("+223 76 12 34 56", "76123456", "0022376123456", "66 55 44 33", "79.98.76.54", "90-11-22-33")
EMAILS = ("mariam.coulibaly@example.org", "oumar.keita@orange.ml", "assitan.s@gmail.com")
NAMES = ("Mariam Coulibaly", "Oumar Keïta", "Assitan Sissoko")
PERSONAL_TEXT = (
    "Je suis Mariam Coulibaly, appelez-moi au +223 76 12 34 56 ou 76123456 ou 0022376123456, "
    "écrivez à mariam.coulibaly@example.org. Mon voisin Oumar Keïta (oumar.keita@orange.ml, "
    "66 55 44 33) a vu l'infirmier demander de l'argent. Assitan Sissoko : 79.98.76.54, 90-11-22-33, "
    "assitan.s@gmail.com."
)
# What staff write for the public: deliberately free of personal data.
CLEAN_SUMMARY = "Une usagère signale une longue attente et un accueil difficile le matin."
CLEAN_RESPONSE = "Le CSCOM a ajouté un agent d'accueil le matin depuis lundi."

EXCLUDED_PREFIXES = ("/portal", "/moderation", "/admin", "/login", "/logout", "/password", "/reset",
                     "/static", "/kiosk-api", "/language", "/sw.js")
MAX_PAGES = 600


def fold(text: str) -> str:
    """Lower case without accents, entities decoded (so 'KEÏTA', 'Ke&iuml;ta' and 'keita' match)."""
    text = html.unescape(text)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


def digits_pattern(number: str) -> re.Pattern[str]:
    """The subscriber digits with any spacing, dots, dashes or brackets between them."""
    local = re.sub(r"\D", "", number)[-8:]
    return re.compile(r"[\s.\-()/\u00a0\u202f]{0,3}".join(local))


PHONE_PATTERNS = [digits_pattern(p) for p in PHONES]
WORDS = [fold(w) for w in (*NAMES, *EMAILS, "Coulibaly", "Keita", "Sissoko", "orange.ml", "gmail.com",
                           "infirmier demander", "Je suis Mariam")]


def personal_data_in(text: str) -> list[str]:
    # JSON escapes non-ASCII (\u00ef): decode it so accented names are compared as text.
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    folded = fold(text)
    found = [w for w in WORDS if w in folded]
    found += [p.pattern for p in PHONE_PATTERNS if p.search(folded)]
    return found


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("href", "src", "action", "hx-get") and tag != "form":
                self.links.append(value)
            if tag == "form" and name == "action" and value and dict(attrs).get("method", "get").lower() == "get":
                self.links.append(value)


@pytest_asyncio.fixture
async def open_app(database_url: str, tmp_path: Path) -> AsyncIterator[Starlette]:
    """The app with its abuse limits off (the crawler asks for many pages from one address)."""
    settings = make_settings(database_url, tmp_path, FEEDBACK_RATE_LIMIT_TRACK="0", FEEDBACK_RATE_LIMIT_KIOSK="0",
                             FEEDBACK_RATE_LIMIT_CLIENT="0")
    application = create_app(settings)
    yield application
    await application.state.db.dispose()


def client_for(app: Starlette) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 4800))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def actor(db: Database, login_name: str) -> Actor:
    async with db.read() as session:
        user = await session.scalar(select(User).where(User.login == login_name))
    assert user is not None
    return Actor.for_user(user)


async def run_lifecycle(app: Starlette, http: httpx.AsyncClient) -> None:
    """Personal data in through every channel; then the work staff and submitters do."""
    db: Database = app.state.db
    answers = {"lang": "fr", "feedback_type": "complaint", "topic": "welcome", "text": PERSONAL_TEXT,
               "contact_consent": "yes", "contact_phone": "+223 76 12 34 56", "publish_consent": "yes",
               "gender": "female", "age_band": "25_34", "step": "review", "nav": "send"}
    for n in range(6):  # enough at one centre for the board to show figures, not "fewer than 5"
        token = await csrf_token(http, "/kiosk/BKO-C4-LAF")
        response = await http.post("/kiosk/BKO-C4-LAF", data={
            **answers, "csrf_token": token, "idempotency_key": f"privacy-kiosk-{n:04d}-abcdef"})
        assert response.status_code == 200, response.text[:300]
    for n, site in enumerate(("BKO-C4-LAF", "BKO-C5-SAB")):
        token = await csrf_token(http, "/submit")
        response = await http.post("/submit", data={
            **answers, "site": site, "topic": "waiting", "contact_phone": "0022376123456",
            "csrf_token": token, "idempotency_key": f"privacy-web-{n:04d}-abcdef"})
        assert response.status_code == 200, response.text[:300]
    for n, text in enumerate((f"BKO-C4-LAF {PERSONAL_TEXT}", f"BKO-C5-SAB {PERSONAL_TEXT}", PERSONAL_TEXT)):
        response = await http.post("/sms/inbound", headers={"X-Sauti-Secret": "sms-test-secret"},
                                   data={"from": "+22376123456", "to": "36123", "id": f"privacy-{n}", "text": text})
        assert response.status_code == 200, response.text
    key = await make_key(db)
    response = await http.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "waiting", "address_id": "BKO-C4-LAF", "description": PERSONAL_TEXT,
        "first_name": "Oumar", "last_name": "Keïta", "email": "oumar.keita@orange.ml", "phone": "66 55 44 33"})
    assert response.status_code in (200, 201), response.text
    # Sensitive reports, straight through intake, with every contact field filled.
    async with db.write() as session, session.begin():
        for topic, sensitivity in (("cost", "S2"), ("protection", "S3"), ("protection", "S3")):
            await intake.store(session, intake.Submission(
                site_code="BKO-C4-LAF", channel="web", feedback_type="complaint", topic_slug=topic,
                text=PERSONAL_TEXT, contact_phone="79 98 76 54", contact_email="assitan.s@gmail.com",
                contact_name="Assitan Sissoko", contact_consent=True, publish_consent=True,
                gender="female", age_band="18_24", sensitivity=sensitivity))

    admin, moderator, officer = [await actor(db, n) for n in ("admin", "moderatrice", "sauvegarde")]
    async with db.write() as session, session.begin():
        items = list((await session.scalars(select(FeedbackItem).order_by(FeedbackItem.id))).all())
        assert len(items) >= 14
        for n, item in enumerate(items):
            if item.sensitivity in ("S2", "S3"):
                await workflow.apply(session, item, "acknowledge", officer)
                await workflow.apply(session, item, "resolve", officer, public_text=CLEAN_RESPONSE,
                                     note=f"Entretien avec {NAMES[2]} au 79 98 76 54")
                continue
            await workflow.apply(session, item, "acknowledge", admin, note=f"Rappeler {NAMES[0]} au 76 12 34 56")
            if n % 3 != 2:
                await workflow.apply(session, item, "resolve", admin, public_text=CLEAN_RESPONSE)
            if item.channel == "kiosk" and n % 2 == 0:
                await moderation.moderate(session, item, moderator, moderation.Changes(
                    public_summary=CLEAN_SUMMARY, sensitivity="S0", transcript=PERSONAL_TEXT))
                await moderation.publish(session, item, moderator)
            elif item.channel == "kiosk":
                # Moderated as public but left unpublished: in totals only.
                await moderation.moderate(session, item, moderator, moderation.Changes(
                    public_summary=CLEAN_SUMMARY, sensitivity="S0"))
        codes = {i.tracking_code: i.status for i in items}
    # The submitters act on their items by code: confirm, dispute (with a reason full of personal
    # data), rate.
    resolved = [code for code, status in codes.items() if status == "resolved"]
    for n, code in enumerate(resolved[:4]):
        token = await csrf_token(http, f"/track/{code}")
        if n % 2:
            response = await http.post(f"/track/{code}/dispute", data={"csrf_token": token, "reason": PERSONAL_TEXT})
        else:
            response = await http.post(f"/track/{code}/confirm", data={"csrf_token": token})
        assert response.status_code == 303, response.status_code
        response = await http.post(f"/track/{code}/rate", data={"csrf_token": token, "satisfaction": "3"})
        assert response.status_code in (303, 409), response.status_code


async def known_paths(db: Database) -> tuple[list[str], dict[str, FeedbackItem]]:
    async with db.read() as session:
        items = {i.tracking_code: i for i in (await session.scalars(select(FeedbackItem))).all()}
        sites = [s.code for s in (await session.scalars(select(Site))).all()]
        partners = [p.slug for p in (await session.scalars(select(Partner))).all()]
    paths = [
        "/", "/board/", "/board/?period=12m", "/board/?period=all", "/board/items", "/track/", "/submit",
        "/feeds/board.atom", "/export/feedback.csv", "/export/feedback.json", "/export/aggregates.csv",
        "/export/dhis2/dataValueSets.json", "/api/openapi.json", "/healthz",
        "/open311/v2/discovery.json", "/open311/v2/discovery.xml", "/open311/v2/services.json",
        "/open311/v2/services.xml", "/open311/v2/requests.json", "/open311/v2/requests.xml",
        "/open311/v2/requests.json?status=closed", "/open311/v2/requests.xml?status=open",
    ]
    for code in sites:
        paths += [f"/board/sites/{code}", f"/board/display/{code}", f"/feeds/sites/{code}.atom",
                  f"/kiosk/{code}", f"/board/items?site={code}",
                  *(f"/board/display/{code}?slide={n}" for n in range(4))]
    for slug in partners:
        paths += [f"/board/partners/{slug}", f"/feeds/partners/{slug}.atom"]
    for code in items:
        paths += [f"/track/{code}", f"/api/track/{code}", f"/open311/v2/requests/{code}.json",
                  f"/open311/v2/requests/{code}.xml", f"/open311/v2/tokens/{code}.json"]
    return paths, items


def is_public(path: str) -> bool:
    return path.startswith("/") and not path.startswith(EXCLUDED_PREFIXES)


async def crawl(http: httpx.AsyncClient, start: list[str]) -> dict[str, str]:
    pages: dict[str, str] = {}
    queue = list(dict.fromkeys(start))
    while queue and len(pages) < MAX_PAGES:
        path = queue.pop(0)
        if path in pages:
            continue
        response = await http.get(path)
        assert response.status_code < 500, (path, response.status_code)
        pages[path] = response.text
        if "html" not in response.headers.get("content-type", ""):
            continue
        parser = Links()
        parser.feed(response.text)
        for link in parser.links:
            absolute = urljoin(f"http://testserver{path}", html.unescape(link))
            parts = urlsplit(absolute)
            if parts.netloc != "testserver":
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if is_public(parts.path) and target not in pages and target not in queue:
                queue.append(target)
    return pages


async def test_no_personal_data_anywhere_public(open_app: Starlette) -> None:
    async with client_for(open_app) as http:
        await run_lifecycle(open_app, http)
        paths, items = await known_paths(open_app.state.db)
    # A fresh visitor: no cookies from the submissions above.
    async with client_for(open_app) as visitor:
        pages = await crawl(visitor, paths)
    assert len(pages) >= len(paths)
    followed = set(pages) - set(paths)
    assert followed, "the crawler followed links from / and /board"

    # Not a vacuous crawl: the published work is visible where the public looks for it.
    assert any(CLEAN_SUMMARY in text for path, text in pages.items() if path.startswith("/board")), "summary"
    assert any(CLEAN_SUMMARY in text for path, text in pages.items() if path.startswith("/feeds")), "feed"
    assert any(CLEAN_SUMMARY in text for path, text in pages.items() if path.startswith("/open311")), "open311"
    assert any(CLEAN_RESPONSE in html.unescape(text) for path, text in pages.items() if path.startswith("/track/")), "track"
    leaks = {path: found for path, text in pages.items() if (found := personal_data_in(text))}
    assert not leaks, leaks

    hidden = {code for code, item in items.items()
              if item.sensitivity in ("S2", "S3") or not item.published}
    assert any(items[c].sensitivity == "S3" for c in hidden) and any(items[c].published for c in items)
    for path, text in pages.items():
        own = {c for c in hidden if c in path}
        for code in hidden - own:
            assert code not in text, (path, code, items[code].sensitivity)
    # Listings never carry an S2/S3 code, not even the item's own (tracking is by code only).
    for path, text in pages.items():
        if not path.startswith(("/track/", "/api/track/", "/open311/v2/requests/", "/open311/v2/tokens/")):
            for code in hidden:
                assert code not in text, (path, code)


def test_the_detector_finds_every_form() -> None:
    """The checks would catch the data in the forms a page might print it."""
    samples = [
        "+223 76 12 34 56", "76 12 34 56", "76123456", "0022376123456", "+22376123456", "76.12.34.56",
        "76-12-34-56", "(76) 12 34 56", "76&nbsp;12&nbsp;34&nbsp;56", "MARIAM COULIBALY", "Keita",
        "Ke&iuml;ta", '{"name": "Oumar Ke\\u00efta"}', "oumar.keita@orange.ml", "79 98 76 54",
    ]
    for sample in samples:
        assert personal_data_in(f"<p>{sample}</p>"), sample
    assert not personal_data_in("<p>12 items received, 7 acknowledged in 2.5 days; 2026-03-14</p>")
