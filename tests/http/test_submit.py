"""The web intake (/submit): the kiosk's flow with a health-centre chooser, in the site's layout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from feedback.app import create_app
from feedback.i18n import translate
from feedback.models import FeedbackItem
from feedback.settings import Settings
from tests.conftest import make_settings
from tests.http.test_kiosk import begin, complete, field, h1

SUBMIT = "/submit"


async def test_first_screen_chooses_the_health_centre(client: httpx.AsyncClient) -> None:
    response = await client.get(SUBMIT, params={"lang": "en"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert h1(html) == "Which health centre is your feedback about?"
    assert 'class="site-header"' in html  # the public site's layout, unlike the kiosk
    assert 'name="site" value="BKO-C4-LAF"' in html and "CSCOM de Lafiabougou" in html
    assert "data-idle" not in html  # no idle reset on a personal device
    assert field(html, "lang") == "en"


async def test_site_can_be_preselected(client: httpx.AsyncClient) -> None:
    html = (await client.get(SUBMIT, params={"site": "bko-c4-laf"})).text
    assert 'class="choice chosen" name="site" value="BKO-C4-LAF"' in html


@pytest.mark.parametrize("lang", ["fr", "bm", "en"])
async def test_whole_web_flow(client: httpx.AsyncClient, db: Any, lang: str) -> None:
    start = await begin(client, SUBMIT, lang=lang)
    state = {**start, "lang": lang}
    steps = [
        ("site", {"site": "BKO-C2-HIP"}, "What do you want to tell us?"),
        ("type", {"feedback_type": "compliment"}, "What is it about?"),
        ("topic", {"topic": "welcome"}, "Tell us"),
        ("say", {"text": "I ni ce, baarakɛlaw ka ɲi", "nav": "next"}, "May we call you back?"),
        ("contact", {"contact_consent": "no"}, "May we publish a short summary, without your name?"),
        ("publish", {"publish_consent": "yes"}, "Are you a woman or a man?"),
        ("gender", {"gender": "male"}, "How old are you?"),
        ("age", {"age_band": "50_plus"}, "Check and send"),
    ]
    for step, answer, heading in steps:
        response = await client.post(SUBMIT, data={**state, "step": step, **answer})
        assert response.status_code == 200, response.text[:500]
        assert h1(response.text) == translate(heading, lang)
        assert f'<html lang="{lang}"' in response.text
        state = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', response.text))
        state.pop("step")
    assert "CSCOM de l&#39;Hippodrome" in response.text  # the review names the chosen centre
    receipt = await client.post(SUBMIT, data={**state, "step": "review", "nav": "send"})
    assert receipt.status_code == 200
    assert "data-receipt" in receipt.text and "CSCOM de l&#39;Hippodrome" in receipt.text
    async with db.read() as session:
        [item] = (await session.scalars(select(FeedbackItem))).all()
    assert (item.channel, item.feedback_type, item.language) == ("web", "compliment", lang)
    assert item.contact_phone is None and item.publish_consent is True
    assert item.tracking_code in receipt.text


@pytest.mark.parametrize("site", ["", "NOPE-123"])
async def test_unknown_site_stays_on_the_chooser(client: httpx.AsyncClient, db: Any, site: str) -> None:
    start = await begin(client, SUBMIT)
    response = await client.post(SUBMIT, data={**start, "lang": "en", "step": "site", "site": site})
    assert response.status_code == 422
    assert "Please choose a health centre." in response.text
    final = await client.post(SUBMIT, data=complete(start, lang="en", site=site))
    assert final.status_code == 422
    assert 'name="step" value="site"' in final.text
    async with db.read() as session:
        assert (await session.scalars(select(FeedbackItem))).all() == []


async def test_back_from_type_returns_to_the_chooser(client: httpx.AsyncClient) -> None:
    start = await begin(client, SUBMIT)
    response = await client.post(
        SUBMIT, data={**start, "lang": "en", "site": "BKO-C4-LAF", "step": "type", "nav": "back"}
    )
    assert h1(response.text) == "Which health centre is your feedback about?"
    assert 'class="choice chosen" name="site" value="BKO-C4-LAF"' in response.text


@pytest.fixture
def client_limited(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, FEEDBACK_RATE_LIMIT_CLIENT="2")


async def test_client_rate_limit_gives_429(client_limited: Settings) -> None:
    app = create_app(client_limited)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4711))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            statuses = []
            for site in ("BKO-C4-LAF", "BKO-C1-BAN", "BKO-C2-BAG"):
                start = await begin(client, SUBMIT)
                response = await client.post(SUBMIT, data=complete(start, lang="en", site=site))
                statuses.append(response.status_code)
            assert statuses == [200, 200, 429]
            assert "Too many requests" in response.text
    finally:
        await app.state.db.dispose()


async def test_limits_can_be_switched_off(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        database_url, tmp_path, FEEDBACK_RATE_LIMIT_CLIENT="0", FEEDBACK_RATE_LIMIT_KIOSK="0"
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.10", 4711))
    # Far more than any limit, as a load test would send: nothing is refused when switched off.
    for _ in range(500):
        app.state.rate_limiter.hit("submit-kiosk:BKO-C4-LAF", 0)
        app.state.rate_limiter.hit("submit-client:198.51.100.10", 0)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            start = await begin(client, "/kiosk/BKO-C4-LAF")
            for number in range(3):
                data = complete({**start, "idempotency_key": f"load-test-key-{number:08d}"})
                response = await client.post("/kiosk/BKO-C4-LAF", data=data)
                assert response.status_code == 200
    finally:
        await app.state.db.dispose()
