"""Atom 1.0 feeds (RFC 4287): newly published items and resolutions, for the whole board,
one site or one partner. Published S0 items only; dates by week (DESIGN §10)."""

from __future__ import annotations

from datetime import datetime
from xml.etree import ElementTree as ET  # noqa: S405 (output only)

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feedback import i18n
from feedback.i18n import gettext
from feedback.models import utcnow
from feedback.open311.serialise import clean
from feedback.queries import exports
from feedback.queries.exports import FeedEntry, Lookups, week_start

ATOM = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ENTRIES = 50


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: clean(v) for k, v in attributes.items()})
    if text is not None:
        element.text = clean(text)
    return element


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def build_feed(
    *, feed_url: str, alternate_url: str, title: str, entries: list[FeedEntry], base_url: str, track_path: str,
) -> bytes:
    """The Atom document (``track_path`` has ``{code}`` where the tracking code goes)."""
    locale = i18n.current_locale.get()
    feed = ET.Element("feed", {"xmlns": ATOM, XML_LANG: locale})
    _sub(feed, "id", feed_url)
    _sub(feed, "title", title)
    updated = max((e.week for e in entries), default=week_start(utcnow()))
    assert updated is not None
    _sub(feed, "updated", _stamp(updated))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=alternate_url)
    author = _sub(feed, "author")
    _sub(author, "name", "Sauti")
    _sub(feed, "generator", "Sauti")
    for entry in entries:
        item = entry.item
        link = base_url + track_path.replace("{code}", item.tracking_code)
        element = _sub(feed, "entry")
        _sub(element, "id", f"{link}#{entry.kind}")
        place = {"topic": item.topic.label(locale), "site": item.site.name}
        if entry.kind == "resolved":
            _sub(element, "title", gettext("Resolved: %(topic)s at %(site)s") % place)
        else:
            _sub(element, "title", gettext("New feedback: %(topic)s at %(site)s") % place)
        _sub(element, "updated", _stamp(entry.week))
        _sub(element, "link", rel="alternate", type="text/html", href=link)
        _sub(element, "category", term=item.topic.slug, label=item.topic.label(locale))
        text = item.summary
        if entry.kind == "resolved" and item.response:
            text = f"{item.summary}\n\n{gettext('Response')}: {item.response}" if item.summary else item.response
        _sub(element, "summary", text, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _response(request: Request, body: bytes) -> Response:
    return Response(body, media_type=ATOM_TYPE,
                    headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})


def _urls(request: Request, feed_name: str, board_name: str, **params: str) -> tuple[str, str, str, str]:
    base = request.app.state.settings.base_url.rstrip("/")
    feed_url = base + request.app.url_path_for(feed_name, **params)
    alternate = base + request.app.url_path_for(board_name, **params)
    track_path = request.app.url_path_for("track:item", code="CODE").replace("CODE", "{code}")
    return base, feed_url, alternate, track_path


async def _load(request: Request, *, site_code: str | None = None, partner_slug: str | None = None
                ) -> tuple[Lookups, list[FeedEntry], str]:
    async with request.app.state.db.read() as session:
        lookups = await exports.load_lookups(session)
        site_id = partner_id = None
        name = ""
        if site_code is not None:
            site = lookups.site_by_code(site_code)
            if site is None:
                raise HTTPException(404)
            site_id, name = site.id, site.name
        if partner_slug is not None:
            partner_id = lookups.partner_id(partner_slug)
            if partner_id is None:
                raise HTTPException(404)
            name = lookups.partners[partner_id][1]
        entries = await exports.feed_entries(session, lookups, site_id=site_id, partner_id=partner_id, limit=ENTRIES)
    return lookups, entries, name


async def board_feed(request: Request) -> Response:
    """Everything newly published or resolved."""
    _lookups, entries, _name = await _load(request)
    base, feed_url, alternate, track_path = _urls(request, "feeds:board", "board:index")
    body = build_feed(feed_url=feed_url, alternate_url=alternate, title=gettext("Feedback and responses"),
                      entries=entries, base_url=base, track_path=track_path)
    return _response(request, body)


async def site_feed(request: Request) -> Response:
    """One health centre's published feedback and resolutions."""
    code = request.path_params["site_code"].upper()
    _lookups, entries, name = await _load(request, site_code=code)
    base, feed_url, alternate, track_path = _urls(request, "feeds:site", "board:site", site_code=code)
    body = build_feed(feed_url=feed_url, alternate_url=alternate,
                      title=gettext("Feedback and responses: %(name)s") % {"name": name},
                      entries=entries, base_url=base, track_path=track_path)
    return _response(request, body)


async def partner_feed(request: Request) -> Response:
    """One partner's published feedback and resolutions."""
    slug = request.path_params["partner_slug"]
    _lookups, entries, name = await _load(request, partner_slug=slug)
    base, feed_url, alternate, track_path = _urls(request, "feeds:partner", "board:partner", partner_slug=slug)
    body = build_feed(feed_url=feed_url, alternate_url=alternate,
                      title=gettext("Feedback and responses: %(name)s") % {"name": name},
                      entries=entries, base_url=base, track_path=track_path)
    return _response(request, body)


routes = [
    Route("/board.atom", board_feed, name="board"),
    Route("/sites/{site_code}.atom", site_feed, name="site"),
    Route("/partners/{partner_slug}.atom", partner_feed, name="partner"),
]
