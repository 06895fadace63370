"""The stack's floor: the least a kiosk submission can cost on this stack (DESIGN §12).

A bare Starlette app whose one POST endpoint parses the same form as the kiosk's final step,
with the parser the app uses for it (``feedback.web.forms`` for multipart bodies, Starlette's
own for urlencoded ones), and does one INSERT into a SQLite table through aiosqlite, on a
database with the app's pragmas (WAL, synchronous=NORMAL), committing each submission. No CSRF, no templates, no ORM, no routing,
no stats: whatever the real submission costs above this is the platform's own work.

Run: ``BENCH_FLOOR_DB=/tmp/floor.db uvicorn bench.floor:app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator

import aiosqlite
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from feedback.web import forms

SCHEMA = """
CREATE TABLE IF NOT EXISTS submission (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT UNIQUE,
    site_code TEXT NOT NULL,
    feedback_type TEXT NOT NULL,
    topic TEXT NOT NULL,
    text TEXT NOT NULL,
    language TEXT NOT NULL,
    gender TEXT,
    age_band TEXT,
    publish_consent TEXT,
    tracking_code TEXT NOT NULL
)
"""
INSERT = (
    "INSERT INTO submission (idempotency_key, site_code, feedback_type, topic, text, language, gender,"
    " age_band, publish_consent, tracking_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    connection = await aiosqlite.connect(os.environ.get("BENCH_FLOOR_DB", "floor.db"), isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=10000", "synchronous=NORMAL"):
        await connection.execute(f"PRAGMA {pragma}")
    await connection.execute(SCHEMA)
    app.state.db = connection
    # One connection, one writer at a time: the same shape as the app's SQLite writer.
    app.state.lock = asyncio.Lock()
    yield
    await connection.close()


FIELDS = ("idempotency_key", "feedback_type", "topic", "text", "lang", "gender", "age_band",
          "publish_consent", "csrf_token", "step", "nav")


async def submit(request: Request) -> Response:
    """Parse the kiosk's final form and insert one row."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await forms.parse(await request.body(), content_type)
    else:
        form = await request.form()
    values = {name: str(form.get(name, "")) for name in FIELDS}
    await form.close()
    code = secrets.token_hex(5)
    async with request.app.state.lock:
        await request.app.state.db.execute(
            INSERT,
            (values["idempotency_key"], request.path_params["site_code"], values["feedback_type"],
             values["topic"], values["text"], values["lang"], values["gender"] or None,
             values["age_band"] or None, values["publish_consent"], code),
        )
    return PlainTextResponse(code)


async def healthz(request: Request) -> Response:
    async with request.app.state.db.execute("SELECT 1") as cursor:
        await cursor.fetchone()
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/kiosk/{site_code}", submit, methods=["POST"]),
        Route("/healthz", healthz),
    ],
    lifespan=lifespan,
)
