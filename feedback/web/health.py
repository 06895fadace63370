"""Liveness with a database round trip."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse


async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers, 503 when it does not."""
    try:
        async with request.app.state.db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 (any failure means not healthy; details go to the log)
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"}, headers={"Cache-Control": "no-store"})
