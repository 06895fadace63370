"""Every state-changing route refuses a request without a valid CSRF token.

Routes are enumerated from the app itself, so a new route without protection fails here.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from feedback.app import create_app
from feedback.web.csrf import is_exempt
from tests.conftest import csrf_token, make_settings

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE_PARAMS = {
    "site_code": "BKO-C4-LAF",
    "code": "2346789AC",
    "partner_slug": "dtc-laf",
    "item_id": "1",
    "token": "x",
}


def unsafe_paths(routes: list, prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from unsafe_paths(list(route.routes or []), prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) & UNSAFE):
                path = prefix + route.path
                path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "1"), path)
                yield method, path


def all_unsafe_routes() -> list[tuple[str, str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="csrf-routes-"))
    app = create_app(make_settings(f"sqlite+aiosqlite:///{data_dir / 'unused.db'}", data_dir))
    return sorted(set(unsafe_paths(app.routes)))


ROUTES = all_unsafe_routes()


def test_there_are_state_changing_routes_to_check() -> None:
    assert len(ROUTES) >= 3


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_unsafe_route_refuses_missing_and_wrong_token(client: httpx.AsyncClient, method: str, path: str) -> None:
    if is_exempt(path):
        response = await client.request(method, path, data={"x": "1"})
        # Exempt routes must still refuse an anonymous request without their own credential.
        assert response.status_code in (400, 401, 403, 404, 405), (path, response.status_code)
        return
    await csrf_token(client)  # the client now holds a CSRF cookie
    missing = await client.request(method, path, data={"x": "1"})
    assert missing.status_code == 403, (path, missing.status_code)
    wrong = await client.request(method, path, data={"x": "1", "csrf_token": "0" * 64})
    assert wrong.status_code == 403, (path, wrong.status_code)
    header = await client.request(method, path, data={"x": "1"}, headers={"X-CSRF-Token": "f" * 64})
    assert header.status_code == 403, (path, header.status_code)


async def test_valid_token_passes_the_check(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    response = await client.post("/language", data={"csrf_token": token})
    # /language only answers GET: the CSRF check passed and routing said 405.
    assert response.status_code == 405
