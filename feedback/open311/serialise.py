"""GeoReport v2 documents as JSON or XML, with the specification's element names.

Every document is first built as plain data (dicts and lists), then written either as JSON or
as XML with ElementTree, which escapes all text; characters XML 1.0 cannot carry are dropped.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree as ET  # noqa: S405 (output only; input is parsed with defusedxml)

from starlette.responses import Response

from feedback.i18n import N_, gettext
from feedback.queries.exports import PublicItem, w3c

XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
FORMATS = ("xml", "json")
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"

# The element name of each member of a list, for XML (JSON keeps plain arrays).
LIST_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}

TYPE_LABELS = {
    "complaint": N_("Complaint"),
    "suggestion": N_("Suggestion"),
    "compliment": N_("Compliment"),
    "question": N_("Question or information request"),
    "help_request": N_("Request for help"),
}
STATUS_LABELS = {
    "received": N_("Received"),
    "acknowledged": N_("Acknowledged"),
    "in_progress": N_("In progress"),
    "resolved": N_("Resolved, awaiting confirmation"),
    "closed": N_("Closed"),
    "referred": N_("Referred to another partner"),
    "not_actionable": N_("Not actionable"),
    "reopened": N_("Reopened"),
}

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: str) -> str:
    """Text that XML 1.0 can carry (control characters removed)."""
    return _NOT_XML.sub("", text)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return clean(str(value))


def _append(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, child in value.items():
            _append(element, key, child)
    elif isinstance(value, list):
        child_tag = LIST_ITEMS.get(tag, "item")
        for child in value:
            _append(element, child_tag, child)
    else:
        element.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    """``value`` (a list or a dict) as an XML document whose root element is ``root``."""
    element = ET.Element(root)
    if isinstance(value, list):
        child_tag = LIST_ITEMS[root]
        for child in value:
            _append(element, child_tag, child)
    else:
        for key, child in value.items():
            _append(element, key, child)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def render(fmt: str, root: str, value: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The response in the requested format, with the specification's content types."""
    if fmt == "json":
        body = json.dumps(value, ensure_ascii=False).encode("utf-8")
        return Response(body, status_code=status_code, media_type=JSON_TYPE, headers=headers)
    return Response(to_xml(root, value), status_code=status_code, media_type=XML_TYPE, headers=headers)


def errors(fmt: str, status_code: int, *descriptions: str) -> Response:
    """The specification's error list: one {code, description} per problem."""
    value = [{"code": status_code, "description": d} for d in descriptions]
    return render(fmt if fmt in FORMATS else "xml", "errors", value, status_code,
                  headers={"Cache-Control": "no-store"})


def status_notes(item: PublicItem) -> str:
    """The detailed state, then the partner's public response."""
    state = gettext(STATUS_LABELS.get(item.status, item.status))
    return f"{state}: {item.response}" if item.response else state


def service_request(item: PublicItem, locale: str) -> dict[str, Any]:
    """One published item as a GeoReport v2 service request (dates by week)."""
    return {
        "service_request_id": item.tracking_code,
        "status": "open" if item.is_open else "closed",
        "status_notes": status_notes(item),
        "service_name": item.topic.label(locale),
        "service_code": item.topic.slug,
        "description": item.summary,
        "agency_responsible": item.partner_name,
        "service_notice": None,
        "requested_datetime": w3c(item.received_at),
        "updated_datetime": w3c(item.updated_at),
        "expected_datetime": w3c(item.resolve_by),
        "address": item.site.name,
        "address_id": item.site.code,
        "zipcode": None,
        "lat": item.site.latitude,
        "long": item.site.longitude,
        "media_url": None,
    }
