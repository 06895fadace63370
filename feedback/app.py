"""The application: route table, middleware and lifespan. No logic lives here."""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, NoMatchFound, Route, Router

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
from feedback.web.compression import GZipMiddleware
from feedback.web.csrf import CSRFMiddleware
from feedback.web.locale import LocaleMiddleware
from feedback.web.ratelimit import RateLimiter
from feedback.web.security import BodyLimitMiddleware, SecurityHeadersMiddleware
from feedback.web.staticfiles import VersionedStaticFiles
from feedback.web.templating import STATIC_DIR, build_templates

GC_THRESHOLDS = (50_000, 50, 50)


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


def remember_url_paths(router: Router, size: int = 1024) -> None:
    """Look each (route name, parameters) up in the route table once, not on every render.

    ``url_for`` walks every route and mount in order until one answers; a kiosk page asked for
    three paths, the walk showed in its profile. The answer depends only on the name and the
    parameters (the route table does not change once built), so the last ``size`` are kept;
    a name that does not resolve still raises every time (exceptions are not cached). Names
    are unique in the route table, so the route that answered a name answers it again.
    """
    # The route that answered each name: a name with a parameter that differs every time (a
    # tracking code) misses the cache, and is then asked of that route first.
    answered_by: dict[str, BaseRoute] = {}

    def lookup(name: str, /, **path_params: Any) -> Any:
        route = answered_by.get(name)
        if route is not None:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        for route in router.routes:
            try:
                path = route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
            answered_by[name] = route
            return path
        raise NoMatchFound(name, path_params)

    @functools.lru_cache(maxsize=size)
    def cached(name: str, params: tuple[tuple[str, type, Any], ...]) -> Any:
        return lookup(name, **{key: value for key, _type, value in params})

    def url_path_for(name: str, /, **path_params: Any) -> Any:
        # The type is part of the key: 1, 1.0 and True are equal, but their paths may not be.
        key = tuple(sorted((key, type(value), value) for key, value in path_params.items()))
        try:
            return cached(name, key)
        except TypeError:  # an unhashable parameter: looked up as before
            return lookup(name, **path_params)

    router.url_path_for = url_path_for  # type: ignore[method-assign]


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
        # A request allocates thousands of short-lived objects; with the default threshold (700)
        # the youngest generation was collected several times per request. Fewer, larger
        # collections cost ~5% less CPU per kiosk submission (docs/BENCHMARKS.md).
        gc.set_threshold(*GC_THRESHOLDS)
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
    remember_url_paths(app.router)
    app.state.settings = settings
    # Created here, not in the lifespan, so in-process test clients work without it.
    app.state.db = Database(settings.database_url)
    app.state.templates = build_templates(auto_reload=settings.env == "development")
    app.state.rate_limiter = RateLimiter()
    return app
