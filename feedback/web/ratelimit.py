"""Per-process fixed-window rate limits (a busy waiting room never reaches them; a script does).

Each process counts on its own; behind N processes a client gets at most N times the limit,
which still stops scripts. Limits are settings and 0 switches one off.
"""

from __future__ import annotations

import time

from starlette.requests import Request


class RateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, limit: int, window_seconds: int = 60) -> bool:
        """Count one request for ``key``; False when it is over ``limit`` in this window."""
        if limit <= 0:
            return True
        window = int(time.monotonic() // window_seconds)
        current_window, count = self._windows.get(key, (window, 0))
        if current_window != window:
            count = 0
        count += 1
        self._windows[key] = (window, count)
        if len(self._windows) > 50_000:
            self._forget_old(window)
        return count <= limit

    def _forget_old(self, window: int) -> None:
        self._windows = {k: v for k, v in self._windows.items() if v[0] == window}

    def reset(self) -> None:
        self._windows.clear()


def client_address(request: Request) -> str:
    """The client's address (uvicorn applies X-Forwarded-For only from trusted proxies)."""
    return request.client.host if request.client else "unknown"
