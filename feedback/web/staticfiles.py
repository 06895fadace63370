"""Static files under versioned names (``app.<hash>.css``), cached for a year."""

from __future__ import annotations

import re

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from feedback.web.templating import STATIC_DIR, static_hash

_VERSIONED = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{10})\.(?P<suffix>[A-Za-z0-9]+)$")
YEAR = "public, max-age=31536000, immutable"
_ROOT = STATIC_DIR.resolve()


def _inside_static(path: str) -> bool:
    """Whether ``path`` names a file under static/ (never ``../``: it would be read to hash it)."""
    try:
        target = (_ROOT / path).resolve()
    except (OSError, ValueError):
        return False
    return target.is_relative_to(_ROOT) and target.is_file()


class VersionedStaticFiles(StaticFiles):
    """Serves ``css/app.<hash>.css`` from ``css/app.css`` when the hash is current."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        match = _VERSIONED.match(path)
        if match:
            plain = f"{match['stem']}.{match['suffix']}"
            current = None
            if _inside_static(plain):
                try:
                    current = static_hash(plain)
                except (OSError, ValueError):
                    current = None
            if current == match["hash"]:
                response = await super().get_response(plain, scope)
                response.headers["Cache-Control"] = YEAR
                return response
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return response
