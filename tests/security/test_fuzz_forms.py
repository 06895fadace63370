"""Property: random form data (unicode, huge values, missing, repeated and unknown fields, random
step names) sent to every public form and webhook never causes a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from feedback.app import create_app
from feedback.web.intake_flow import KIOSK_STEPS, STATE_FIELDS, WEB_STEPS
from tests.conftest import csrf_token, make_settings
from tests.http.opendata_items import make_key

FUZZ = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# Any text a browser or a script could send (no lone surrogates: they cannot be encoded).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
HUGE = st.sampled_from(["x" * 5001, "é" * 20_000, "ɛ" * 70_000, "\u202e" * 300, "0" * 1000, "\x00" * 10])
VALUE = st.one_of(TEXT, TEXT, TEXT, HUGE, st.sampled_from(["", " ", "yes", "no", "1", "-1", "fr", "bm", "en",
                                                          "complaint", "welcome", "BKO-C4-LAF", "+22376123456",
                                                          "review", "send", "back", "%", "{{7*7}}", "null"]))
KIOSK_NAMES = (*STATE_FIELDS, "step", "nav", "goto", "voice")
STEP = st.one_of(st.sampled_from((*KIOSK_STEPS, *WEB_STEPS, "receipt")), TEXT)


def for_url(value: str) -> str:
    """What a client can put in a URL at all (httpx refuses control characters and huge parts)."""
    return "".join(c for c in value if c.isprintable())[:1000]


def form(names: tuple[str, ...]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Known and unknown field names, each possibly missing or repeated, in any order."""
    name = st.one_of(st.sampled_from(names), st.sampled_from(names), TEXT.filter(bool))
    return st.lists(st.tuples(name, VALUE), max_size=14)


async def post_form(http: httpx.AsyncClient, url: str, pairs: list[tuple[str, str]], *,
                    files: dict[str, tuple[str, bytes, str]] | None = None,
                    params: dict[str, str] | None = None) -> httpx.Response:
    """POST the fields in this order, repeats included (urlencoded, or multipart with files)."""
    if files:
        grouped: dict[str, list[str]] = {}
        for name, value in pairs:
            grouped.setdefault(name, []).append(value)
        return await http.post(url, data=grouped, files=files, params=params)
    return await http.post(url, content=urlencode(pairs).encode(), params=params,
                           headers={"content-type": "application/x-www-form-urlencoded"})


def no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url, response.status_code,
                                        response.text[:300])
    assert "Traceback" not in response.text


@pytest_asyncio.fixture
async def fuzz_app(database_url: str, tmp_path: Path) -> AsyncIterator[Starlette]:
    """Abuse limits off, so every example reaches the handler instead of a 429."""
    application = create_app(make_settings(
        database_url, tmp_path, FEEDBACK_RATE_LIMIT_TRACK="0", FEEDBACK_RATE_LIMIT_KIOSK="0",
        FEEDBACK_RATE_LIMIT_CLIENT="0", FEEDBACK_RATE_LIMIT_LOGIN="0"))
    yield application
    await application.state.db.dispose()


@pytest_asyncio.fixture
async def http(fuzz_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fuzz_app, client=("198.51.100.30", 4900))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@FUZZ
@given(fields=form(KIOSK_NAMES), step=STEP, multipart=st.booleans(), voice=st.binary(max_size=64))
async def test_kiosk_flow(http: httpx.AsyncClient, fields: list[tuple[str, str]], step: str, multipart: bool,
                          voice: bytes) -> None:
    token = await csrf_token(http, "/kiosk/BKO-C4-LAF")
    data = [*fields, ("step", step), ("csrf_token", token)]
    files = {"voice": ("v.webm", voice, "audio/webm")} if multipart else None
    no_server_error(await post_form(http, "/kiosk/BKO-C4-LAF", data, files=files))


@FUZZ
@given(fields=form(KIOSK_NAMES), step=STEP, site=VALUE)
async def test_web_submit(http: httpx.AsyncClient, fields: list[tuple[str, str]], step: str, site: str) -> None:
    token = await csrf_token(http, "/submit")
    no_server_error(await post_form(http, "/submit", [*fields, ("step", step), ("site", site), ("csrf_token", token)]))
    no_server_error(await http.get("/submit", params={"site": for_url(site)}))


@FUZZ
@given(code=VALUE, fields=form(("reason", "satisfaction", "code")), action=st.sampled_from(("confirm", "dispute", "rate")))
async def test_tracking(http: httpx.AsyncClient, code: str, fields: list[tuple[str, str]], action: str) -> None:
    no_server_error(await http.get("/track/", params={"code": for_url(code)}))
    safe = quote(for_url(code), safe="") or "x"
    no_server_error(await http.get(f"/track/{safe}"))
    no_server_error(await http.get(f"/api/track/{safe}"))
    token = await csrf_token(http, "/track/")
    no_server_error(await post_form(http, f"/track/{safe}/{action}", [*fields, ("csrf_token", token)]))


@settings(FUZZ, max_examples=10)
@given(fields=form(("login", "password", "next")), next_=VALUE)
async def test_login(http: httpx.AsyncClient, fields: list[tuple[str, str]], next_: str) -> None:
    token = await csrf_token(http, "/login")
    no_server_error(await post_form(http, "/login", [*fields, ("csrf_token", token)], params={"next": for_url(next_)}))


@FUZZ
@given(fields=form(("from", "to", "text", "id", "message", "msisdn", "sender")), as_json=st.booleans())
async def test_sms_inbound(http: httpx.AsyncClient, fields: list[tuple[str, str]], as_json: bool) -> None:
    headers = {"X-Sauti-Secret": "sms-test-secret"}
    if as_json:
        no_server_error(await http.post("/sms/inbound", json=dict(fields), headers=headers))
    else:
        no_server_error(await http.post("/sms/inbound", content=urlencode(fields).encode(), headers={
            **headers, "content-type": "application/x-www-form-urlencoded"}))


OPEN311_NAMES = ("service_code", "description", "address_id", "lat", "long", "address_string", "email", "phone",
                 "first_name", "last_name", "attribute[type]", "attribute[code]", "jurisdiction_id", "media_url",
                 "device_id", "account_id")


@FUZZ
@given(fields=form(OPEN311_NAMES), fmt=st.sampled_from(("json", "xml")), query=form(
    ("service_request_id", "service_code", "start_date", "end_date", "status", "jurisdiction_id")))
async def test_open311(http: httpx.AsyncClient, fuzz_app: Starlette, fields: list[tuple[str, str]], fmt: str,
                       query: list[tuple[str, str]]) -> None:
    key = getattr(fuzz_app.state, "fuzz_key", None)
    if key is None:
        key = fuzz_app.state.fuzz_key = await make_key(fuzz_app.state.db)
    no_server_error(await post_form(http, f"/open311/v2/requests.{fmt}", [("api_key", key), *fields]))
    no_server_error(await http.get(f"/open311/v2/requests.{fmt}", params=[(for_url(k), for_url(v)) for k, v in query]))
