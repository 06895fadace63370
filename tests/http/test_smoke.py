"""A first request through the whole stack on a real database."""

from __future__ import annotations

import httpx


async def test_home_lists_sites(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "CSCOM de Lafiabougou" in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'self'")


async def test_healthz_round_trips_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_unknown_page_is_a_translated_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page", params={"lang": "en"})
    assert response.status_code == 404
    assert "This page does not exist" in response.text
