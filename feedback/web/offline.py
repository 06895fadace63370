"""The offline kiosk's service worker (``/sw.js``) and the app version that ties page, cache and API.

The version is a hash of everything an offline kiosk keeps on the device (static files, kiosk
templates, translations) and of ``feedback.__version__``. The service worker's cache is named
after it, every kiosk page and kiosk API call carries it, and the server refuses a step or an
API call from a page of another version (see ``docs/offline-kiosk.md``): a kiosk never runs an
old page against a new server.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import feedback
from feedback.i18n import LOCALE_DIR, LOCALES
from feedback.web.templating import STATIC_DIR, TEMPLATE_DIR, versioned_static_path

HEADER = "X-App-Version"
# What the service worker stores when it installs (the site's pages and prompts come later).
PRECACHE = ("css/app.css", "css/kiosk.css", "css/kiosk-offline.css", "vendor/htmx-2.0.11.min.js", "js/kiosk.js",
            "js/kiosk-offline.js", "icons/speaker.svg")


@cache
def app_version() -> str:
    """12 hex digits that change whenever anything an offline kiosk caches changes."""
    digest = hashlib.sha256(feedback.__version__.encode())
    files = [*STATIC_DIR.rglob("*"), *(TEMPLATE_DIR / "kiosk").rglob("*"), *LOCALE_DIR.rglob("*.po")]
    for path in sorted(p for p in files if p.is_file()):
        digest.update(path.as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def mismatched(request: Request) -> bool:
    """Whether the request declares a version of the page other than the server's."""
    sent = request.headers.get(HEADER)
    return sent is not None and sent != app_version()


def _config(request: Request) -> dict[str, object]:
    def static(path: str) -> str:
        return str(request.url_for("static", path=versioned_static_path(path)).path)

    shell = request.app.url_path_for("kiosk:start", site_code="SITE")
    return {
        "version": app_version(),
        "precache": [static(p) for p in PRECACHE],
        "scope": shell.rsplit("/", 1)[0] + "/",
        "shell": str(shell).replace("SITE", "{site}"),
        "flow": str(request.app.url_path_for("kiosk_api:flow", site_code="SITE", lang="LANG"))
        .replace("SITE", "{site}").replace("LANG", "{lang}"),
        "langs": list(LOCALES),
    }


async def service_worker(request: Request) -> Response:
    """The service worker with this version's configuration (never cached: updates are checked)."""
    body = (STATIC_DIR / "js" / "sw.js").read_text(encoding="utf-8")
    script = f"var CONFIG = {json.dumps(_config(request))};\n{body}"
    return Response(script, media_type="application/javascript", headers={
        "Cache-Control": "no-cache", HEADER: app_version(),
    })


web_routes = [Route("/sw.js", service_worker, name="service_worker")]
