"""Gzip with a window sized to the body (web/compression.py): the same bytes come back, as small."""

from __future__ import annotations

import random
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from feedback.web.compression import GZipMiddleware, window_bits


def test_window_covers_the_body() -> None:
    assert window_bits(0) == window_bits(1) == window_bits(512) == 9
    assert window_bits(513) == 10
    assert window_bits(5_800) == 13
    assert window_bits(32_768) == 15 and window_bits(10_000_000) == 15
    for size in range(1, 40_000, 97):
        assert 2 ** window_bits(size) >= min(size, 2**15)


def body(size: int) -> bytes:
    rng = random.Random(size)
    words = [b"Sauti", b"CSCOM", b"kuma", b"<p class=\"x\">", b"\xc9\x9b", b"attente", b"jaabi", b" "]
    return b"".join(rng.choice(words) for _ in range(size))[:size]


def app() -> Starlette:
    async def page(request: Request) -> Response:
        return Response(body(int(request.query_params["size"])), media_type="text/html")

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for n in (3_000, 50_000, 700):
                yield body(n)

        return StreamingResponse(chunks(), media_type="text/html")

    return Starlette(routes=[Route("/page", page), Route("/stream", stream)],
                     middleware=[Middleware(GZipMiddleware, minimum_size=500, compresslevel=6)])


@pytest.mark.parametrize("size", [400, 600, 5_800, 40_000, 300_000])
async def test_pages_come_back_whole_and_as_small_as_with_a_full_window(size: int) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://t") as client:
        response = await client.get("/page", params={"size": size}, headers={"Accept-Encoding": "gzip"})
    assert response.content == body(size)
    if size < 500:
        assert "content-encoding" not in response.headers
        return
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    wire = int(response.headers["content-length"])
    full = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    assert wire <= len(full.compress(body(size)) + full.flush())


async def test_streamed_responses_and_clients_without_gzip() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://t") as client:
        streamed = await client.get("/stream", headers={"Accept-Encoding": "gzip"})
        plain = await client.get("/page", params={"size": 5_800}, headers={"Accept-Encoding": "identity"})
    assert streamed.headers["content-encoding"] == "gzip"
    assert streamed.content == body(3_000) + body(50_000) + body(700)
    assert "content-encoding" not in plain.headers and plain.content == body(5_800)
