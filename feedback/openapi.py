"""The OpenAPI 3.1 document of the JSON endpoints, as data (served at /api/openapi.json).

Kept true by tests/http/test_openapi.py, which validates real responses against these schemas
and runs schemathesis against the app. Response objects forbid unknown properties, so a field
added to an export without being documented here (and reviewed for privacy) fails the tests.
"""

from __future__ import annotations

from typing import Any

from feedback.models.items import STATUSES
from feedback.models.taxonomy import FEEDBACK_TYPES

VERSION = "1.0.0"


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[A-Za-z0-9_-]+$"}}


WEEK_DATE = {"type": "string", "format": "date"}
W3C = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Open311Error": _object({"code": {"type": "integer"}, "description": {"type": "string"}}),
    "Open311Errors": {"type": "array", "items": _ref("Open311Error"), "minItems": 1},
    "AppError": _object({"error": {"type": "string"}, "detail": {"type": "string"}}),
    "Health": _object({"status": {"enum": ["ok", "unavailable"]}, "database": {"enum": ["ok", "down"]}}),
    "Discovery": _object({
        "changeset": {"type": "string"},
        "contact": {"type": "string"},
        "key_service": {"type": "string"},
        "endpoints": {"type": "array", "items": _object({
            "specification": {"type": "string"},
            "url": {"type": "string"},
            "changeset": {"type": "string"},
            "type": {"enum": ["production", "test"]},
            "formats": {"type": "array", "items": {"enum": ["text/xml", "application/json"]}},
        })},
    }),
    "Service": _object({
        "service_code": {"type": "string"},
        "service_name": {"type": "string"},
        "description": {"type": "string"},
        "metadata": {"type": "boolean"},
        "type": {"enum": ["realtime", "batch", "blackbox"]},
        "keywords": {"type": "string"},
        "group": {"type": "string"},
    }),
    "ServiceDefinition": _object({
        "service_code": {"type": "string"},
        "attributes": {"type": "array", "items": _object({
            "variable": {"type": "boolean"},
            "code": {"type": "string"},
            "datatype": {"enum": ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]},
            "required": {"type": "boolean"},
            "datatype_description": _nullable("string"),
            "order": {"type": "integer"},
            "description": {"type": "string"},
            "values": {"type": "array", "items": _object({"key": {"type": "string"}, "name": {"type": "string"}})},
        })},
    }),
    "ServiceRequest": _object({
        "service_request_id": {"type": "string", "description": "The tracking code."},
        "status": {"enum": ["open", "closed"]},
        "status_notes": {"type": "string", "description": "Detailed state, then the public response."},
        "service_name": {"type": "string"},
        "service_code": {"type": "string"},
        "description": {"type": "string", "description": "The moderated public summary."},
        "agency_responsible": {"type": "string", "description": "The partner answering the item."},
        "service_notice": {"type": "null"},
        "requested_datetime": W3C | {"description": "Monday 00:00 UTC of the week it was received."},
        "updated_datetime": W3C | {"description": "Monday 00:00 UTC of the week of the last change."},
        "expected_datetime": _nullable("string", format="date-time",
                                       description="Monday 00:00 UTC of the week of the answer deadline."),
        "address": {"type": "string", "description": "The health centre's name."},
        "address_id": {"type": "string", "description": "The health centre's code."},
        "zipcode": {"type": "null"},
        "lat": _nullable("number"),
        "long": _nullable("number"),
        "media_url": {"type": "null"},
    }),
    "CreatedRequest": _object({
        "service_request_id": {"type": "string"},
        "service_notice": {"type": "string"},
        "account_id": {"type": "null"},
    }),
    "Token": _object({"service_request_id": {"type": "string"}, "token": {"type": "string"}}),
    "ExportItem": _object({
        "tracking_code": {"type": "string"},
        "date_reported": WEEK_DATE,
        "date_published": _nullable("string", format="date"),
        "date_resolved": _nullable("string", format="date"),
        "date_due": _nullable("string", format="date"),
        "region": {"type": "string"},
        "commune": {"type": "string"},
        "site_code": {"type": "string"},
        "site_name": {"type": "string"},
        "latitude": _nullable("number"),
        "longitude": _nullable("number"),
        "partner": {"type": "string"},
        "feedback_type": {"enum": list(FEEDBACK_TYPES)},
        "topic": {"type": "string"},
        "status": {"enum": list(STATUSES)},
        "open": {"type": "boolean"},
        "summary": {"type": "string"},
        "response": {"type": "string"},
        "me_too": {"type": "integer", "minimum": 0},
    }),
    "DataValue": _object(
        {
            "dataElement": {"type": "string"},
            "period": {"type": "string", "pattern": "^[0-9]{6}$"},
            "orgUnit": {"type": "string"},
            "categoryOptionCombo": {"type": "string"},
            "value": {"type": "string", "pattern": "^[0-9]+$"},
        },
        required=["dataElement", "period", "orgUnit", "value"],
    ),
    "DataValueSets": _object({"dataValues": {"type": "array", "items": _ref("DataValue")}}),
    "Tracking": _object({
        "tracking_code": {"type": "string"},
        "status": {"enum": list(STATUSES)},
        "open": {"type": "boolean"},
        "feedback_type": {"enum": list(FEEDBACK_TYPES)},
        "topic": {"oneOf": [{"type": "null"}, _object({"code": {"type": "string"}, "name": {"type": "string"}})]},
        "site": _object({"code": {"type": "string"}, "name": {"type": "string"}}),
        "partner": _nullable("string"),
        "verification": {"enum": ["verified", "disputed", "unconfirmed", None]},
        "public_response": _nullable("string"),
        "me_too_count": {"type": "integer", "minimum": 0},
        "week_received": WEEK_DATE,
        "deadlines": _object({
            "acknowledge_by_week": _nullable("string", format="date"),
            "resolve_by_week": _nullable("string", format="date"),
            "overdue": {"type": "boolean"},
        }),
        "events": {"type": "array", "items": _object({
            "kind": {"type": "string"},
            "week": WEEK_DATE,
            "to_status": _nullable("string"),
            "partner": _nullable("string"),
            "body": _nullable("string"),
        })},
    }),
}

OPEN311_ERRORS = {
    "400": _json(_ref("Open311Errors"), "Bad request (the specification's error list)."),
    "404": _json(_ref("Open311Errors"), "Unknown resource."),
}
APP_ERRORS = {
    "400": _json(_ref("AppError"), "A parameter is malformed or unknown."),
}
LANG = _query("lang", "Language of names: fr (default), bm or en.", {"enum": ["fr", "bm", "en"]})
JURISDICTION = _query("jurisdiction_id", "Accepted and ignored (one jurisdiction).")
EXPORT_FILTERS = [
    _query("from", "First day (YYYY-MM-DD), widened to its Monday.", {"type": "string", "format": "date"}),
    _query("to", "Last day (YYYY-MM-DD), widened to its Sunday.", {"type": "string", "format": "date"}),
    _query("site", "Site code, e.g. BKO-C4-LAF."),
    _query("partner", "Partner slug."),
    _query("topic", "Topic code (the Open311 service_code)."),
]


def paths() -> dict[str, Any]:
    definition = {
        "get": {
            "summary": "Service definition: attributes (feedback type, topic codes)",
            "tags": ["Open311"],
            "parameters": [_path("service_code", "A topic code."), LANG, JURISDICTION],
            "responses": {"200": _json(_ref("ServiceDefinition"), "The definition.")} | OPEN311_ERRORS,
        }
    }
    return {
        "/healthz": {
            "get": {
                "summary": "Liveness with a database round trip",
                "tags": ["Operations"],
                "responses": {
                    "200": _json(_ref("Health"), "The app and its database answer."),
                    "503": _json(_ref("Health"), "The database does not answer."),
                },
            }
        },
        "/open311/v2/discovery.json": {
            "get": {
                "summary": "Open311 service discovery",
                "tags": ["Open311"],
                "parameters": [LANG],
                "responses": {"200": _json(_ref("Discovery"), "Where and how the API is served.")} | OPEN311_ERRORS,
            }
        },
        "/open311/v2/services.json": {
            "get": {
                "summary": "Services: one per topic",
                "tags": ["Open311"],
                "parameters": [LANG, JURISDICTION],
                "responses": {"200": _json({"type": "array", "items": _ref("Service")}, "The services.")} | OPEN311_ERRORS,
            }
        },
        "/open311/v2/services/{service_code}.json": definition,
        "/open311/v2/service/{service_code}.json": definition,
        "/open311/v2/requests.json": {
            "get": {
                "summary": "Published service requests (dates by week)",
                "tags": ["Open311"],
                "parameters": [
                    _query("service_request_id", "Comma-separated tracking codes; overrides the other filters."),
                    _query("service_code", "Comma-separated topic codes."),
                    _query("start_date", "W3C datetime; defaults to 90 days before end_date.", W3C),
                    _query("end_date", "W3C datetime; defaults to now. At most 90 days after start_date.", W3C),
                    _query("status", "open, closed or both (comma-separated)."),
                    _query("page", "Page number from 1.", {"type": "integer", "minimum": 1, "maximum": 100000}),
                    _query("page_size", "Rows per page (at most 1000).", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    LANG,
                    JURISDICTION,
                ],
                "responses": {"200": _json({"type": "array", "items": _ref("ServiceRequest")}, "Matching requests.")}
                | OPEN311_ERRORS,
            },
            "post": {
                "summary": "Create a service request (needs an api_key)",
                "tags": ["Open311"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["api_key", "service_code", "description"],
                                "properties": {
                                    "api_key": {"type": "string"},
                                    "jurisdiction_id": {"type": "string"},
                                    "service_code": {"type": "string"},
                                    "address_id": {"type": "string", "description": "A site code."},
                                    "lat": {"type": "number"},
                                    "long": {"type": "number"},
                                    "description": {"type": "string", "maxLength": 4000},
                                    "attribute[type]": {"enum": list(FEEDBACK_TYPES)},
                                    "attribute[topic_code]": {"type": "string"},
                                    "email": {"type": "string"},
                                    "phone": {"type": "string"},
                                    "first_name": {"type": "string"},
                                    "last_name": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json({"type": "array", "items": _ref("CreatedRequest"), "minItems": 1, "maxItems": 1},
                                 "Created; the id is the tracking code."),
                    "403": _json(_ref("Open311Errors"), "Missing or wrong api_key."),
                }
                | OPEN311_ERRORS,
            },
        },
        "/open311/v2/requests/{service_request_id}.json": {
            "get": {
                "summary": "One published service request",
                "tags": ["Open311"],
                "parameters": [_path("service_request_id", "The tracking code."), LANG, JURISDICTION],
                "responses": {"200": _json({"type": "array", "items": _ref("ServiceRequest"), "maxItems": 1},
                                           "The request.")} | OPEN311_ERRORS,
            }
        },
        "/open311/v2/tokens/{token}.json": {
            "get": {
                "summary": "Request id for a token (the token is the tracking code itself)",
                "tags": ["Open311"],
                "parameters": [_path("token", "The token returned (here: the tracking code)."), JURISDICTION],
                "responses": {"200": _json({"type": "array", "items": _ref("Token")}, "The id.")} | OPEN311_ERRORS,
            }
        },
        "/export/feedback.json": {
            "get": {
                "summary": "Published items (streamed JSON array; dates by week)",
                "tags": ["Exports"],
                "parameters": EXPORT_FILTERS,
                "responses": {"200": _json({"type": "array", "items": _ref("ExportItem")}, "The items.")} | APP_ERRORS,
            }
        },
        "/export/dhis2/dataValueSets.json": {
            "get": {
                "summary": "Monthly counts per site and indicator for DHIS2",
                "tags": ["Exports"],
                "parameters": [
                    _query("from", "First month, YYYY-MM or YYYYMM (default: 11 months before `to`)."),
                    _query("to", "Last month, YYYY-MM or YYYYMM (default: this month)."),
                    _query("api_key", "With a valid key, counts under 5 are included."),
                ],
                "responses": {"200": _json(_ref("DataValueSets"), "The data values.")} | APP_ERRORS,
            }
        },
        "/api/track/{code}": {
            "get": {
                "summary": "The public view of one item by its tracking code",
                "tags": ["Tracking"],
                "parameters": [_path("code", "The tracking code (dashes and spaces allowed)."), LANG],
                "responses": {
                    "200": _json(_ref("Tracking"), "The item's status and public timeline."),
                    "404": _json(_ref("AppError"), "No item has this code."),
                    "429": _json(_ref("AppError"), "Too many lookups from this address."),
                },
            }
        },
    }


def openapi_document(base_url: str) -> dict[str, Any]:
    """The whole document, with the deployment's base URL as its server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sauti open data and Open311 API",
            "version": VERSION,
            "description": (
                "Community feedback on health services in Bamako. Only moderated, published, "
                "non-sensitive items are listed one by one, with dates by week; totals hide "
                "counts under 5. XML variants of the Open311 endpoints (.xml) follow GeoReport v2. "
                "See docs/open-data.md."
            ),
            "license": {"name": "ODbL-1.0", "identifier": "ODbL-1.0"},
        },
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "paths": paths(),
        "components": {"schemas": SCHEMAS},
    }
