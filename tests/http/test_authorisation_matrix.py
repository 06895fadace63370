"""Every staff route × every role × own/other partner's items (and sensitive ones).

Routes are found by walking the app's route table, so a new staff route is checked the day it
is added. The expected visibility is written out here by hand (DESIGN §5), not computed with
the code under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from feedback.db import Database
from feedback.models import Attachment
from tests.conftest import csrf_token, login
from tests.staff_factories import make_item

ROLES = {
    "anonymous": None,
    "partner_agent": "agent.laf",
    "partner_manager": "chef.laf",
    "moderator": "moderatrice",
    "community_monitor": "comite.laf",
    "safeguarding_officer": "sauvegarde",
    "admin": "admin",
}
# Which roles may read which item (agent.laf / chef.laf work for dtc-laf; comite.laf watches LAF).
VISIBLE = {
    "own": {"partner_agent", "partner_manager", "moderator", "community_monitor", "safeguarding_officer", "admin"},
    "other": {"moderator", "safeguarding_officer", "admin"},
    "s2_shared": {"partner_manager", "safeguarding_officer"},
    "s3": {"safeguarding_officer"},
}
# Modules whose handlers the matrix may call with an (empty, harmless) form when allowed.
OWN_MODULES = ("feedback.web.portal", "feedback.web.moderation", "feedback.web.auth")


@dataclass(frozen=True)
class StaffRoute:
    path: str
    methods: tuple[str, ...]
    roles: tuple[str, ...]
    module: str
    name: str


def staff_routes(routes: list[Any], prefix: str = "") -> list[StaffRoute]:
    """Every route whose handler declares ``allowed_roles``, with its full path."""
    found: list[StaffRoute] = []
    for route in routes:
        if isinstance(route, Mount):
            found.extend(staff_routes(list(route.routes or []), prefix + route.path))
        elif isinstance(route, Route):
            roles = getattr(route.endpoint, "allowed_roles", None)
            if roles is not None:
                methods = tuple(sorted((route.methods or {"GET"}) - {"HEAD"}))
                found.append(StaffRoute(prefix + route.path, methods, tuple(roles),
                                        route.endpoint.__module__, route.name))
    return found


PARAM = re.compile(r"{(\w+)(?::(\w+))?}")


def fill(path: str, item_id: int, attachment_id: int) -> str | None:
    """The path with its parameters filled for one item; None when the matrix cannot fill it."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "item_id":
            return str(item_id)
        if name == "attachment_id":
            return str(attachment_id)
        raise KeyError(name)

    try:
        return PARAM.sub(value, path)
    except KeyError:
        return None


async def _attachment_id(db: Database, item_id: int) -> int:
    from sqlalchemy import select

    async with db.read() as session:
        found = await session.scalar(select(Attachment.id).where(Attachment.item_id == item_id))
    assert found is not None
    return int(found)


def test_the_matrix_sees_the_portal_and_moderation_routes(app: Any) -> None:
    names = {r.name for r in staff_routes(app.routes)}
    assert {"inbox", "item", "act", "note", "observation", "photo", "attachment", "audit",
            "queue", "save", "unpublish", "password"} <= names


@pytest.mark.parametrize("role", list(ROLES))
async def test_route_role_matrix(role: str, app: Any, db: Database, client: httpx.AsyncClient) -> None:
    items = {
        "own": await make_item(db, site="BKO-C4-LAF", voice=True),
        "other": await make_item(db, site="BKO-C2-BAG", voice=True),
        "s2_shared": await make_item(db, site="BKO-C4-LAF", sensitivity="S2", voice=True),
        "s3": await make_item(db, site="BKO-C4-LAF", topic="protection", text="Menace.", voice=True),
    }
    attachments = {key: await _attachment_id(db, item.id) for key, item in items.items()}
    account = ROLES[role]
    token = ""
    if account:
        await login(client, account)
        token = await csrf_token(client, "/password")
    else:
        token = await csrf_token(client, "/login")
    routes = staff_routes(app.routes)
    assert routes
    checked = 0
    for route in routes:
        with_item = "{item_id" in route.path
        for key in (items if with_item else ["none"]):
            item_id = items[key].id if with_item else 0
            path = fill(route.path, item_id, attachments.get(key, 0))
            for method in route.methods:
                if path is None:
                    # Someone else's route with parameters the matrix cannot fill: check the gate only.
                    if role == "anonymous" or role not in route.roles:
                        path = PARAM.sub("1", route.path)
                    else:
                        continue
                request = client.build_request(
                    method, path, data={"csrf_token": token} if method == "POST" else None
                )
                response = await client.send(request)
                expected = expect(role, route, method, key if with_item else None, path)
                assert response.status_code in expected, (
                    f"{role} {method} {path} ({route.name}, item {key}): {response.status_code}, expected {expected}"
                )
                if response.status_code == 303 and role == "anonymous":
                    assert response.headers["location"].startswith("/login?next=")
                checked += 1
    assert checked >= len(routes)


def expect(role: str, route: StaffRoute, method: str, item_key: str | None, path: str) -> set[int]:
    if role == "anonymous":
        return {303}
    if role not in route.roles:
        return {404}
    if item_key is not None and role not in VISIBLE[item_key]:
        return {404}
    if route.module not in OWN_MODULES:
        return {200, 303, 400, 404, 409} if method == "POST" or "{" in route.path else {200, 303}
    if method == "GET":
        if route.name in ("inbox", "portal_root") and role == "moderator":
            return {303}
        return {200}
    # An empty form reaches the handler, which refuses it (or saves nothing) — never a 404 or 500.
    # (403: a manager may read a shared S2 item but not work on it.)
    return {303, 400, 403, 409}
