"""The application: route table, middleware and lifespan. No logic lives here."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount, Route

from feedback.db import Database
from feedback.open311 import views as open311
from feedback.settings import Settings, load_settings
from feedback.web import (
    admin,
    auth,
    board,
    errors,
    exports,
    feeds,
    health,
    kiosk,
    kiosk_api,
    moderation,
    offline,
    portal,
    public,
    sms_hook,
    tracking,
)
from feedback.web.csrf import CSRFMiddleware
from feedback.web.locale import LocaleMiddleware
from feedback.web.ratelimit import RateLimiter
from feedback.web.security import BodyLimitMiddleware, SecurityHeadersMiddleware
from feedback.web.staticfiles import VersionedStaticFiles
from feedback.web.templating import STATIC_DIR, build_templates


def _exact(path: str, handler: object, name: str) -> Route:
    """Answer a mount's own path without the trailing slash (DESIGN §6 names ``/board``)."""
    return Route(path, handler, name=name, methods=["GET"])  # type: ignore[arg-type]


def routes() -> list[Route | Mount]:
    """Every URL of the platform (DESIGN §6), grouped by audience."""
    return [
        _exact("/track", tracking.form, "track_root"),
        _exact("/board", board.index, "board_root"),
        _exact("/portal", portal.inbox, "portal_root"),
        _exact("/moderation", moderation.queue, "moderation_root"),
        _exact("/admin", admin.pages.index, "admin_root"),
        *public.routes,  # /, /language
        *kiosk.web_routes,  # /submit
        *offline.web_routes,  # /sw.js (the offline kiosk's service worker)
        Mount("/kiosk", routes=kiosk.routes, name="kiosk"),
        Mount("/kiosk-api", routes=kiosk_api.routes, name="kiosk_api"),
        Mount("/track", routes=tracking.routes, name="track"),
        Mount("/board", routes=board.routes, name="board"),
        *auth.routes,  # /login, /logout, /password, /reset/{token}
        Mount("/portal", routes=portal.routes, name="portal"),
        Mount("/moderation", routes=moderation.routes, name="moderation"),
        Mount("/admin", routes=admin.routes, name="admin"),
        Mount("/open311/v2", routes=open311.routes, name="open311"),
        Mount("/export", routes=exports.routes, name="export"),
        Mount("/feeds", routes=feeds.routes, name="feeds"),
        *exports.api_routes,  # /api/openapi.json, /api/track/{code}
        Route("/sms/inbound", sms_hook.inbound, methods=["POST"], name="sms_inbound"),
        Route("/healthz", health.healthz, name="healthz"),
        Mount("/static", app=VersionedStaticFiles(directory=STATIC_DIR), name="static"),
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app for one set of settings."""
    settings = settings or load_settings()
    settings.check_production()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # What is loaded at start-up (modules, templates) lives as long as the process: moved
        # out of the garbage collector's sight, a full collection no longer pauses every
        # request in flight for tens of milliseconds (docs/BENCHMARKS.md, tail latency).
        gc.collect()
        gc.freeze()
        yield
        await app.state.db.dispose()

    middleware = [
        Middleware(SecurityHeadersMiddleware, hsts=settings.production),
        Middleware(GZipMiddleware, minimum_size=500, compresslevel=6),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        Middleware(LocaleMiddleware, default=settings.default_locale),
        Middleware(CSRFMiddleware, secret_key=settings.secret_key, secure=settings.secure_cookies),
    ]
    app = Starlette(
        debug=False,
        routes=routes(),
        middleware=middleware,
        exception_handlers=errors.EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Created here, not in the lifespan, so in-process test clients work without it.
    app.state.db = Database(settings.database_url)
    app.state.templates = build_templates(auto_reload=settings.env == "development")
    app.state.rate_limiter = RateLimiter()
    return app
