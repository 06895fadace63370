"""The kiosk flow over HTTP: every step, in every language, with every bad input of issue 3."""

from __future__ import annotations

import asyncio
import re
import struct
import unicodedata
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from feedback.app import create_app
from feedback.domain import intake
from feedback.i18n import translate
from feedback.models import Attachment, Event, FeedbackItem, Site, VoicePrompt
from feedback.settings import Settings
from tests.conftest import make_settings

SITE = "BKO-C4-LAF"
KIOSK = f"/kiosk/{SITE}"
BAMBARA = "Makɔnɔni ka jan kosɛbɛ, ɲɛgɛn tɛ saniya, ŋaniya"


def field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*? value="([^"]*)"', html)
    assert match, f"no field {name}"
    return match.group(1)


def h1(html: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert match, html[:500]
    return match.group(1).strip()


def wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A real (silent) PCM WAV recording."""
    data = b"\x00\x00" * int(seconds * rate)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
        + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )


async def begin(client: httpx.AsyncClient, path: str = KIOSK, **params: str) -> dict[str, str]:
    """Open the first screen: the CSRF token and the idempotency key it carries."""
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text[:300]
    return {"csrf_token": field(response.text, "csrf_token"), "idempotency_key": field(response.text, "idempotency_key")}


def complete(start: dict[str, str], lang: str = "bm", **overrides: str) -> dict[str, str]:
    """Every answer of the flow, as the review screen's form carries them."""
    answers = {
        **start,
        "lang": lang,
        "feedback_type": "complaint",
        "topic": "waiting",
        "text": BAMBARA,
        "contact_consent": "yes",
        "contact_phone": "+22376123456",
        "publish_consent": "yes",
        "gender": "female",
        "age_band": "25_34",
        "step": "review",
        "nav": "send",
    }
    answers.update(overrides)
    return answers


async def items(db: Any) -> list[FeedbackItem]:
    async with db.read() as session:
        return list((await session.scalars(select(FeedbackItem).order_by(FeedbackItem.id))).all())


# ---- The start screen --------------------------------------------------------------------------


async def test_start_screen_offers_three_languages_and_is_never_cached(client: httpx.AsyncClient) -> None:
    response = await client.get(KIOSK)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "HX-Request" in response.headers["vary"]
    html = response.text
    assert '<html lang="fr"' in html
    for code, name in (("fr", "Français"), ("bm", "Bamanankan"), ("en", "English")):
        assert f'name="lang" value="{code}" lang="{code}"' in html
        assert name in html
    # Kiosk pages are full-screen: no site header; the idle timings reach the script.
    assert "site-header" not in html
    assert 'data-idle="60"' in html and 'data-warn="25"' in html
    assert re.search(r'<meta http-equiv="refresh" content="85;url=/kiosk/BKO-C4-LAF">', html)
    assert "CSCOM de Lafiabougou" in html
    # Each first screen carries a new idempotency key.
    again = await client.get(KIOSK)
    assert field(html, "idempotency_key") != field(again.text, "idempotency_key")


async def test_start_screen_shows_you_said_we_did_of_the_site_only(client: httpx.AsyncClient, db: Any) -> None:
    subs = [
        ("BKO-C4-LAF", "S0", True, "Long waits in the morning", "A second nurse now opens at 7"),
        ("BKO-C4-LAF", "S0", False, "Unpublished private text", "Not shown"),
        ("BKO-C4-LAF", "S2", True, "Sensitive summary", "Sensitive response"),
        ("BKO-C1-BAN", "S0", True, "Another centre's summary", "Another centre's response"),
    ]
    for index, (site, sensitivity, published, summary, response) in enumerate(subs):
        sub = intake.Submission(site_code=site, channel="web", feedback_type="complaint", topic_slug="waiting",
                                text=f"private text {index}", idempotency_key=f"news-key-{index:08d}")
        item, _ = await intake.submit_once(db.write, sub)
        # Moderation is another surface; here only the published result matters.
        async with db.write() as session, session.begin():
            await session.execute(
                update(FeedbackItem).where(FeedbackItem.id == item.id).values(
                    published=published, sensitivity=sensitivity, public_summary=summary,
                    public_response=response, published_at=item.received_at,
                )
            )
    html = (await client.get(KIOSK, params={"lang": "en"})).text
    assert "You said, we did" in html
    assert "Long waits in the morning" in html and "A second nurse now opens at 7" in html
    for hidden in ("Unpublished private text", "Sensitive summary", "Another centre", "private text"):
        assert hidden not in html


async def test_no_news_section_when_nothing_was_published(client: httpx.AsyncClient) -> None:
    assert "You said, we did" not in (await client.get(KIOSK, params={"lang": "en"})).text


async def test_unknown_site_is_a_translated_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/kiosk/NO-SUCH-SITE", params={"lang": "en"})
    assert response.status_code == 404
    assert "This page does not exist" in response.text
    assert '<html lang="en"' in response.text
    start = await begin(client)
    posted = await client.post("/kiosk/NO-SUCH-SITE", data=complete(start))
    assert posted.status_code == 404
    assert await items(client._transport.app.state.db) == []  # type: ignore[attr-defined]


async def test_site_codes_are_case_insensitive(client: httpx.AsyncClient) -> None:
    assert (await client.get("/kiosk/bko-c4-laf")).status_code == 200


# ---- The flow, step by step -------------------------------------------------------------------

STEPS = [
    ("language", {"lang": None}, "What do you want to tell us?"),
    ("type", {"feedback_type": "suggestion"}, "What is it about?"),
    ("topic", {"topic": "medicines"}, "Tell us"),
    ("say", {"text": BAMBARA, "nav": "next"}, "May we call you back?"),
    ("contact", {"contact_consent": "yes", "contact_phone": "76 12 34 56"}, "May we publish a short summary, without your name?"),
    ("publish", {"publish_consent": "no"}, "Are you a woman or a man?"),
    ("gender", {"gender": "undisclosed"}, "How old are you?"),
    ("age", {"age_band": "18_24"}, "Check and send"),
]


@pytest.mark.parametrize("lang", ["fr", "bm", "en"])
async def test_whole_flow_in_each_language(client: httpx.AsyncClient, db: Any, lang: str) -> None:
    start = await begin(client)
    state: dict[str, str] = {**start}
    for step, answer, next_heading in STEPS:
        data = {**state, "step": step, **{k: (lang if v is None else v) for k, v in answer.items()}}
        response = await client.post(KIOSK, data=data)
        assert response.status_code == 200, (step, response.text[:800])
        html = response.text
        # The page language follows the kiosk's language choice.
        assert f'<html lang="{lang}"' in html
        assert response.headers["cache-control"] == "no-store"
        assert h1(html) == translate(next_heading, lang)
        # The next form carries every answer so far as hidden fields.
        state = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
        state.pop("step", None)
        assert state["idempotency_key"] == start["idempotency_key"]
    assert state["contact_phone"] == "+22376123456"  # normalised on the contact step
    review = response.text
    assert "+22376123456" in review and "Makɔnɔni" in review
    assert 'hx-encoding="multipart/form-data"' in review

    receipt = await client.post(KIOSK, data={**state, "step": "review", "nav": "send"})
    assert receipt.status_code == 200, receipt.text[:800]
    assert f'<html lang="{lang}"' in receipt.text
    [item] = await items(db)
    assert item.channel == "kiosk" and item.language == lang
    assert (item.feedback_type, item.text) == ("suggestion", BAMBARA)
    assert item.contact_phone == "+22376123456" and item.contact_consent
    assert item.publish_consent is False
    assert (item.gender, item.age_band) == ("undisclosed", "18_24")
    assert item.idempotency_key == start["idempotency_key"]
    assert item.partner_id is not None  # handed to routing in the same transaction
    async with db.read() as session:
        kinds = (await session.scalars(select(Event.kind).where(Event.item_id == item.id))).all()
    assert sorted(kinds) == ["routed", "submitted"]
    # The receipt: the code large and grouped, a QR code to the tracking page, nothing personal.
    html = receipt.text
    grouped = "-".join(item.tracking_code[i : i + 3] for i in range(0, 9, 3))
    assert f'class="tracking-code" aria-label="{" ".join(item.tracking_code)}">{grouped}<' in html
    assert 'class="qr-code"' in html and html.count("<svg") >= 3
    assert f"http://testserver/track/{item.tracking_code}" in html
    for personal in ("22376123456", "76 12 34 56", "Makɔnɔni", "undisclosed", "18_24"):
        assert personal not in html
    assert "data-receipt" in html


async def test_back_returns_to_the_previous_step_with_the_answers_kept(client: httpx.AsyncClient) -> None:
    start = await begin(client)
    data = {**start, "lang": "en", "feedback_type": "complaint", "topic": "cost", "text": "Too expensive"}
    # Back from the contact step, with a number typed: the say step shows the text again.
    back = await client.post(KIOSK, data={**data, "step": "contact", "contact_phone": "76 00 00 01", "nav": "back"})
    assert back.status_code == 200
    assert h1(back.text) == "Tell us"
    assert ">Too expensive</textarea>" in back.text
    assert field(back.text, "contact_phone") == "76 00 00 01"  # kept, even though not checked yet
    # Back from the type step: the language screen, the same submission key.
    first = await client.post(KIOSK, data={**data, "step": "type", "nav": "back"})
    assert h1(first.text) == "Choose your language"
    assert field(first.text, "idempotency_key") == start["idempotency_key"]
    # The chosen topic is marked when the person comes back to it.
    topic = await client.post(KIOSK, data={**data, "step": "say", "nav": "back"})
    assert re.search(r'class="choice chosen" name="topic" value="cost"', topic.text)


async def test_review_change_opens_that_step(client: httpx.AsyncClient) -> None:
    start = await begin(client)
    data = complete(start, lang="en", nav="")
    response = await client.post(KIOSK, data={**data, "goto": "topic"})
    assert h1(response.text) == "What is it about?"
    assert field(response.text, "text") == BAMBARA


async def test_htmx_gets_only_the_flow_block(client: httpx.AsyncClient) -> None:
    start = await begin(client)
    response = await client.post(
        KIOSK, data={**start, "lang": "bm", "step": "type", "feedback_type": "question"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Vary" in response.headers and "HX-Request" in response.headers["vary"]
    assert response.headers["cache-control"] == "no-store"
    assert "<html" not in response.text and "<body" not in response.text
    # The fragment carries its own title, in the language chosen at the kiosk.
    assert response.text.lstrip().startswith(f"<title>{translate('What is it about?', 'bm')}")
    assert 'id="flow"' in response.text and 'hx-post="/kiosk/BKO-C4-LAF"' in response.text


# ---- Bad input ---------------------------------------------------------------------------------

BAD = [
    # (case, step, answer, message)
    ("empty", "say", {"text": "  ", "nav": "next"}, "Please say something"),
    ("too-long", "say", {"text": "a" * 5001, "nav": "next"}, "too long: at most 5000"),
    ("bad-phone", "contact", {"contact_consent": "yes", "contact_phone": "12345"}, "not a valid Mali phone number"),
    ("foreign-phone", "contact", {"contact_consent": "yes", "contact_phone": "+33 6 12 34 56 78"}, "not a valid Mali phone number"),
    ("no-phone", "contact", {"contact_consent": "yes", "contact_phone": ""}, "Please give a phone number"),
    ("unknown-topic", "topic", {"topic": "no-such-topic"}, "Please choose what your feedback is about"),
    ("unknown-type", "type", {"feedback_type": "rant"}, "Please choose what kind of feedback this is"),
    ("unknown-gender", "gender", {"gender": "robot"}, "Please choose one of the answers"),
    ("unknown-age", "age", {"age_band": "ancient"}, "Please choose one of the answers"),
    ("no-publish-answer", "publish", {"publish_consent": "maybe"}, "Please choose one of the answers"),
]


async def test_bad_answers_stay_on_the_step_with_a_message(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    for case, step, answer, message in BAD:
        data = {**complete(start, lang="en", nav=""), "step": step, **answer}
        response = await client.post(KIOSK, data=data)
        assert response.status_code == 422, case
        assert 'class="error-summary" role="alert"' in response.text, case
        assert message in response.text, case
        assert f'name="step" value="{step}"' in response.text, case
        # Everything else is kept as hidden fields.
        assert field(response.text, "idempotency_key") == start["idempotency_key"], case
        if step != "say":
            assert field(response.text, "text") == BAMBARA, case
        if "contact_phone" in answer:
            assert field(response.text, "contact_phone") == answer["contact_phone"], case
    assert await items(db) == []


TAMPERED = [
    ({"topic": "nope"}, "topic", "Please choose what your feedback is about"),
    ({"feedback_type": "nope"}, "type", "Please choose what kind of feedback this is"),
    ({"text": ""}, "say", "Please say something"),
    ({"text": "é" * 5001}, "say", "too long"),
    ({"contact_phone": "0000"}, "contact", "not a valid Mali phone number"),
    ({"age_band": "ancient"}, "age", "Please choose one of the answers"),
]


async def test_a_tampered_final_step_is_checked_again(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    for override, step, message in TAMPERED:
        response = await client.post(KIOSK, data=complete(start, lang="en", **override))
        assert response.status_code == 422, override
        assert message in response.text, override
        assert f'name="step" value="{step}"' in response.text, override
    assert await items(db) == []


async def test_mali_phone_forms_are_accepted(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    forms = ["76 12 34 56", "+223 76 12 34 56", "0022376123456", "76-12-34-56"]
    for number, phone in enumerate(forms):
        data = complete(start, contact_phone=phone, idempotency_key=f"phone-form-key-{number:04d}")
        response = await client.post(KIOSK, data=data)
        assert response.status_code == 200, (phone, response.text[:500])
    assert [item.contact_phone for item in await items(db)] == ["+22376123456"] * len(forms)


async def test_no_contact_means_no_number_is_kept(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    response = await client.post(KIOSK, data=complete(start, contact_consent="no", contact_phone="76 12 34 56"))
    assert response.status_code == 200
    [item] = await items(db)
    assert item.contact_phone is None and not item.contact_consent


async def test_missing_or_wrong_csrf_token_is_403(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    data = complete(start)
    missing = {k: v for k, v in data.items() if k != "csrf_token"}
    for bad in (missing, {**data, "csrf_token": "0" * 64}):
        response = await client.post(KIOSK, data=bad, params={"lang": "en"})
        assert response.status_code == 403
        assert "This form has expired" in response.text
    assert await items(db) == []


async def test_oversized_body_is_413(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    data = complete(start)
    files = {"voice": ("voice.wav", b"\x00" * (3 * 1024 * 1024 + 10), "audio/wav")}
    response = await client.post(KIOSK, data={**data, "has_voice": "1"}, files=files, params={"lang": "en"})
    assert response.status_code == 413
    assert "What you sent is too large" in response.text
    assert await items(db) == []


async def test_malformed_multipart_is_400_not_500(client: httpx.AsyncClient) -> None:
    start = await begin(client)
    response = await client.post(
        KIOSK,
        content=b"--xx\r\nContent-Disposition: form-data\r\n\r\nzzz\r\n--xx--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=xx", "X-CSRF-Token": start["csrf_token"]},
    )
    assert response.status_code == 400


# ---- Voice notes -------------------------------------------------------------------------------


async def test_voice_note_is_stored_with_the_item(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    recording = wav(2.0)
    files = {"voice": ("voice.webm", recording, "audio/webm")}  # the declared type is not trusted
    response = await client.post(KIOSK, data=complete(start, text="", has_voice="1"), files=files)
    assert response.status_code == 200, response.text[:500]
    [item] = await items(db)
    async with db.read() as session:
        attachment = await session.scalar(select(Attachment).where(Attachment.item_id == item.id))
        assert attachment is not None
        assert (attachment.kind, attachment.content_type, attachment.size) == ("voice", "audio/wav", len(recording))


REFUSED = [
    ("not-audio", b"<html><script>alert(1)</script></html>", "not a voice recording we can play"),
    ("too-big", b"OggS" + b"\x00" * (2 * 1024 * 1024), "at most 2 minutes (2 MB)"),
    ("too-long", wav(125.0, rate=4000), "at most 2 minutes (2 MB)"),
]


async def test_refused_voice_note_keeps_the_rest(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    for case, content, message in REFUSED:
        files = {"voice": ("voice.webm", content, "audio/webm")}
        response = await client.post(KIOSK, data=complete(start, lang="en", has_voice="1"), files=files)
        assert response.status_code == 422, case
        assert message in response.text, case
        assert h1(response.text) == "Tell us", case
        assert "data-voice-error" in response.text
        assert f">{BAMBARA}</textarea>" in response.text
        assert field(response.text, "contact_phone") == "+22376123456"
        assert field(response.text, "idempotency_key") == start["idempotency_key"]
        assert field(response.text, "has_voice") == ""
    assert await items(db) == []


async def test_announced_voice_note_that_did_not_arrive(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    response = await client.post(KIOSK, data=complete(start, lang="en", has_voice="1"))
    assert response.status_code == 422
    assert "The voice note did not arrive" in response.text
    assert await items(db) == []


# ---- Exactly once, text, limits ----------------------------------------------------------------


async def test_concurrent_identical_submissions_store_one_item(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    data = complete(start)
    responses = await asyncio.gather(*(client.post(KIOSK, data=data) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    codes = {re.search(r'class="tracking-code"[^>]*>([^<]+)<', r.text).group(1) for r in responses}  # type: ignore[union-attr]
    assert len(codes) == 1
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(FeedbackItem)) == 1
        assert await session.scalar(select(func.count()).select_from(Event)) == 2
    # A replay later (a resend after a timeout) gets the same receipt.
    replay = await client.post(KIOSK, data=data)
    assert codes.pop() in replay.text


async def test_text_is_stored_as_nfc_and_bambara_letters_survive(client: httpx.AsyncClient, db: Any) -> None:
    start = await begin(client)
    decomposed = unicodedata.normalize("NFD", "Café à Sébénikoro: ") + "ɛ ɔ ɲ ŋ Ɛ Ɔ Ɲ Ŋ"
    review = await client.post(KIOSK, data=complete(start, text=decomposed, nav=""))
    assert "ɛ ɔ ɲ ŋ Ɛ Ɔ Ɲ Ŋ" in review.text
    carried = field(review.text, "text")
    assert carried == unicodedata.normalize("NFC", decomposed)
    response = await client.post(KIOSK, data=complete(start, text=carried))
    assert response.status_code == 200
    [item] = await items(db)
    assert item.text == "Café à Sébénikoro: ɛ ɔ ɲ ŋ Ɛ Ɔ Ɲ Ŋ"
    assert unicodedata.is_normalized("NFC", item.text)
    assert "ɛ" not in item.search_text and "sebenikoro" in item.search_text


@pytest.fixture
def limited_settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, FEEDBACK_RATE_LIMIT_KIOSK="2", FEEDBACK_RATE_LIMIT_CLIENT="0")


async def test_kiosk_rate_limit_gives_a_translated_429(limited_settings: Settings) -> None:
    app = create_app(limited_settings)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 4711))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            statuses = []
            for _ in range(3):
                start = await begin(client)
                response = await client.post(KIOSK, data=complete(start, lang="en"))
                statuses.append(response.status_code)
            assert statuses == [200, 200, 429]
            assert "Too many requests" in response.text
            assert response.headers["retry-after"] == "60"
            assert '<html lang="en"' in response.text
            # The limit is per kiosk: another site's kiosk still works.
            start = await begin(client, "/kiosk/BKO-C1-BAN")
            other = await client.post("/kiosk/BKO-C1-BAN", data=complete(start))
            assert other.status_code == 200
            # Steps before the final one are not limited.
            step = await client.post(KIOSK, data={**start, "step": "type", "feedback_type": "question"})
            assert step.status_code == 200
        async with app.state.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(FeedbackItem)) == 3
    finally:
        await app.state.db.dispose()


# ---- Voice prompts -----------------------------------------------------------------------------


async def test_speaker_button_only_where_a_prompt_exists(client: httpx.AsyncClient, db: Any) -> None:
    html = (await client.get(KIOSK, params={"lang": "bm"})).text
    assert "data-prompt" not in html
    recording = wav(0.5)
    async with db.write() as session, session.begin():
        session.add(VoicePrompt(screen="language", locale="bm", content_type="audio/wav",
                                size=len(recording), sha256="ab" * 32, content=recording))
    html = (await client.get(KIOSK, params={"lang": "bm"})).text
    assert 'data-prompt="/kiosk/prompts/bm/language"' in html
    assert "data-prompt" not in (await client.get(KIOSK, params={"lang": "fr"})).text
    audio = await client.get("/kiosk/prompts/bm/language")
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/wav" and audio.content == recording
    cached = await client.get("/kiosk/prompts/bm/language", headers={"If-None-Match": audio.headers["etag"]})
    assert cached.status_code == 304
    assert (await client.get("/kiosk/prompts/fr/language")).status_code == 404


async def test_the_home_page_links_every_active_kiosk(client: httpx.AsyncClient, db: Any) -> None:
    html = (await client.get("/")).text
    async with db.read() as session:
        codes = (await session.scalars(select(Site.code).where(Site.active))).all()
    for code in codes:
        assert f'/kiosk/{code}"' in html
        assert (await client.get(f"/kiosk/{code}")).status_code == 200


async def test_kiosk_links_keep_the_prefix_of_an_app_behind_a_proxy(app: Any) -> None:
    # Served under /sauti by a reverse proxy: every URL the kiosk writes must carry the prefix.
    transport = httpx.ASGITransport(app=app, root_path="/sauti")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        html = (await client.get(f"/sauti{KIOSK}", params={"lang": "fr"})).text
    assert f'action="/sauti{KIOSK}"' in html
    assert f'data-home="/sauti{KIOSK}"' in html
    assert f'data-flow="/sauti/kiosk-api/{SITE}/flow.LANG.json"' in html
    assert re.search(r'href="/sauti/static/css/app\.[0-9a-f]{10}\.css"', html)
