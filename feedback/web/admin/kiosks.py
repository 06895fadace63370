"""The kiosks page (issue 4): each kiosk's last contact, what waits on it, codes left, version.

Admins only, like the whole admin; partners see each site's kiosk health (silent or in contact)
on the public board of the site.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from feedback.models import utcnow
from feedback.queries import kiosks as queries
from feedback.web.admin.crud import render
from feedback.web.offline import app_version
from feedback.web.staff import staff_only


@staff_only("admin")
async def kiosks(request: Request) -> Response:
    """Every kiosk, by site: silent ones flagged, refused submissions counted, codes left."""
    settings = request.app.state.settings
    async with request.app.state.db.read() as session:
        rows = await queries.kiosk_rows(session, utcnow(), settings.kiosk_silent_days)
    return render(request, "admin/kiosks.html", {
        "rows": rows, "silent_days": settings.kiosk_silent_days, "version": app_version(),
    })
