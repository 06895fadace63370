"""Gzip for responses: Starlette's middleware, with a window sized to each whole body.

zlib sets up its 32 KiB window and hash tables for every response; for the pages of this
platform (a few KiB each) that set-up cost more than compressing them. A window at least as
large as the body finds every match the full one would, so a page sent in one piece is
compressed to the same size with a smaller one, in about half the time (docs/BENCHMARKS.md).
Streamed responses keep Starlette's full window.
"""

from __future__ import annotations

import zlib

from starlette.datastructures import Headers
from starlette.middleware import gzip
from starlette.types import Receive, Scope, Send

SMALLEST_WINDOW_BITS = 9


def window_bits(size: int) -> int:
    """The smallest deflate window (as zlib's wbits, 9–15) that covers ``size`` bytes."""
    return max(SMALLEST_WINDOW_BITS, min(zlib.MAX_WBITS, (max(size, 1) - 1).bit_length()))


class SizedGZipResponder(gzip.GZipResponder):
    def _compress_body(self, body: bytes, more_body: bool) -> bytes:
        if self._compressor is None and not more_body:
            # 16 + bits: a gzip header and trailer, as Starlette writes them.
            self._compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 16 + window_bits(len(body)))
        return super()._compress_body(body, more_body)


class GZipMiddleware(gzip.GZipMiddleware):
    """``starlette.middleware.gzip.GZipMiddleware`` with ``SizedGZipResponder``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "gzip" not in Headers(scope=scope).get("Accept-Encoding", ""):
            await super().__call__(scope, receive, send)
            return
        responder = SizedGZipResponder(
            self.app,
            self.minimum_size,
            compresslevel=self.compresslevel,
            thread_minimum_size=self.thread_minimum_size,
            exclude_content_types=self.exclude_content_types,
        )
        await responder(scope, receive, send)
