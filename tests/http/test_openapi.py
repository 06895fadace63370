"""The OpenAPI 3.1 document is kept true: real responses validate against it, and schemathesis
finds no server error and no response that breaks it.

The validator is jsonschema-rs (installed with schemathesis); the python ``jsonschema`` package
is not needed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from feedback.app import create_app
from feedback.db import Database
from feedback.settings import Settings
from tests.http.opendata_items import make_item, make_key

EXAMPLES_PER_OPERATION = 10


def validator(document: dict[str, Any], path: str, method: str, status: str) -> jsonschema_rs.Validator:
    schema = document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    # References point into the document's components; keep them beside the schema.
    return jsonschema_rs.Draft202012Validator({"components": document["components"], **schema}, validate_formats=True)


async def seed(db: Database) -> dict[str, str]:
    return {
        "open": await make_item(db),
        "resolved": await make_item(db, topic="hygiene", response="Réparé.", site="BKO-C6-MAG"),
        "private": await make_item(db, publish=False, publish_consent=None),
        "protected": await make_item(db, topic="protection", sensitivity="S3", publish=False, summary="Abus"),
        "key": await make_key(db),
    }


async def test_document_is_openapi_3_1(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"] == "3.1.0"
    for path in ("/open311/v2/requests.json", "/export/feedback.json", "/api/track/{code}", "/healthz",
                 "/export/dhis2/dataValueSets.json", "/open311/v2/services.json"):
        assert path in document["paths"]
    for name, schema in document["components"]["schemas"].items():
        # Each schema compiles (with the components its references point to).
        jsonschema_rs.Draft202012Validator({"components": document["components"], **schema})
        assert name


async def test_real_responses_match_the_document(client: httpx.AsyncClient, db: Database) -> None:
    made = await seed(db)
    document = (await client.get("/api/openapi.json")).json()
    cases: list[tuple[str, str, str, str, dict[str, Any]]] = [
        ("/healthz", "/healthz", "get", "200", {}),
        ("/open311/v2/discovery.json", "/open311/v2/discovery.json", "get", "200", {}),
        ("/open311/v2/services.json", "/open311/v2/services.json", "get", "200", {}),
        ("/open311/v2/services/{service_code}.json", "/open311/v2/services/cost.json", "get", "200", {}),
        ("/open311/v2/service/{service_code}.json", "/open311/v2/service/welcome.json", "get", "200", {}),
        ("/open311/v2/services/{service_code}.json", "/open311/v2/services/nope.json", "get", "404", {}),
        ("/open311/v2/requests.json", "/open311/v2/requests.json", "get", "200", {}),
        ("/open311/v2/requests.json", "/open311/v2/requests.json", "get", "400", {"page": "0"}),
        ("/open311/v2/requests/{service_request_id}.json", f"/open311/v2/requests/{made['resolved']}.json",
         "get", "200", {}),
        ("/open311/v2/requests/{service_request_id}.json", f"/open311/v2/requests/{made['private']}.json",
         "get", "404", {}),
        ("/open311/v2/tokens/{token}.json", f"/open311/v2/tokens/{made['private']}.json", "get", "200", {}),
        ("/export/feedback.json", "/export/feedback.json", "get", "200", {}),
        ("/export/feedback.json", "/export/feedback.json", "get", "400", {"site": "NOPE"}),
        ("/export/dhis2/dataValueSets.json", "/export/dhis2/dataValueSets.json", "get", "200", {"api_key": made["key"]}),
        ("/api/track/{code}", f"/api/track/{made['resolved']}", "get", "200", {}),
        ("/api/track/{code}", f"/api/track/{made['protected']}", "get", "200", {}),
        ("/api/track/{code}", "/api/track/AAAAAAAAA", "get", "404", {}),
    ]
    for template, url, method, status, params in cases:
        response = await client.get(url, params=params)
        assert str(response.status_code) == status, (url, response.text)
        errors = [e.message for e in validator(document, template, method, status).iter_errors(response.json())]
        assert not errors, (url, errors)
    form = {"api_key": made["key"], "service_code": "waiting", "address_id": "BKO-C4-LAF", "description": "Attente."}
    for status, data in (("200", form), ("403", form | {"api_key": "wrong"}), ("400", form | {"description": ""})):
        response = await client.post("/open311/v2/requests.json", data=data)
        assert str(response.status_code) == status
        errors = [e.message for e in validator(document, "/open311/v2/requests.json", "post", status)
                  .iter_errors(response.json())]
        assert not errors, (status, errors)
    # The exports list public fields only: anything undocumented fails ``additionalProperties``.
    exported = (await client.get("/export/feedback.json")).json()
    assert {e["tracking_code"] for e in exported} == {made["open"], made["resolved"]}


def test_schemathesis_finds_no_server_error_nor_schema_violation(settings: Settings) -> None:
    """Generated requests against the app in-process (schemathesis' ASGI transport)."""
    seed_db = Database(settings.database_url)

    async def prepare() -> dict[str, str]:
        try:
            return await seed(seed_db)
        finally:
            await seed_db.dispose()

    key = asyncio.run(prepare())["key"]
    # A dedicated app: schemathesis drives it from its own event loop thread, where its
    # database connections must live.
    app = create_app(settings)
    try:
        schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
        checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 11
        for operation in operations:

            @given(case=operation.as_strategy())
            @hypothesis_settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                if isinstance(case.body, dict) and "api_key" in case.body and case.body.get("description"):
                    # Requests with a description carry a valid key, so they reach validation.
                    case.body["api_key"] = key
                case.call_and_validate(checks=checks)

            run()
    finally:
        asgi._get_portal().call(app.state.db.dispose)


@pytest.mark.parametrize("path", ["/export/feedback.json", "/open311/v2/requests.json"])
async def test_json_endpoints_answer_valid_json_when_empty(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert json.loads(response.text) == []
