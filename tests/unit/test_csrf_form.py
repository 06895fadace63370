"""The CSRF middleware's parsed multipart form is reused by ``csrf.form`` only when parsing the
body again, with the endpoint's limits, would give the same form; otherwise it is parsed again.
(A missing or wrong token is refused before any endpoint: tests/http/test_csrf.py.)"""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from feedback.web import csrf

SECRET = "s" * 32


async def endpoint(request: Request) -> Response:
    offered = request.scope["state"].get(csrf.FORM_KEY)
    async with csrf.form(request, max_files=1, max_fields=4, max_part_size=4000) as form:
        fields = {k: v if isinstance(v, str) else f"file:{(await v.read()).decode()}" for k, v in form.multi_items()}
        return JSONResponse({"reused": form is offered, "fields": fields})


def client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/f", endpoint, methods=["POST"])],
                    middleware=[Middleware(csrf.CSRFMiddleware, secret_key="key", secure=False)])
    token = csrf.CSRFMiddleware(app, secret_key="key", secure=False).token_for(SECRET)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                             cookies={"csrf": SECRET})
    http.token = token  # type: ignore[attr-defined]
    return http


async def post(http: httpx.AsyncClient, data: dict[str, str], files: dict | None = None) -> httpx.Response:
    return await http.post("/f", data={"csrf_token": http.token, **data}, files=files or {"voice": ("a.wav", b"RIFF")})  # type: ignore[attr-defined]


async def test_a_form_within_the_limits_is_parsed_once() -> None:
    async with client() as http:
        response = await post(http, {"text": "ɲɛ " * 10})
    assert response.status_code == 200
    assert response.json() == {"reused": True, "fields": {"csrf_token": http.token, "text": "ɲɛ " * 10,  # type: ignore[attr-defined]
                                                          "voice": "file:RIFF"}}


async def test_too_many_files_or_fields_fail_as_before() -> None:
    async with client() as http:
        files = [("voice", ("a.wav", b"1")), ("voice", ("b.wav", b"2"))]
        assert (await http.post("/f", data={"csrf_token": http.token}, files=files)).status_code == 400  # type: ignore[attr-defined]
        assert (await post(http, {f"f{i}": "x" for i in range(4)})).status_code == 400


async def test_a_long_field_is_parsed_again_with_the_endpoints_limit() -> None:
    async with client() as http:
        fits = await post(http, {"text": "x" * 3000})  # 3,000 bytes: within 4,000, but 4 × 3,000 is not
        too_long = await post(http, {"text": "x" * 4001})
    assert fits.status_code == 200 and fits.json()["reused"] is False and fits.json()["fields"]["text"] == "x" * 3000
    assert too_long.status_code == 400

