"""The remembered URL lookup (app.remember_url_paths) answers exactly as Starlette's own walk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.routing import BaseRoute, Mount, NoMatchFound, Route, Router

from feedback.app import remember_url_paths, routes

SAMPLE_PARAMS = {"site_code": "BKO-C4-LAF", "code": "K7M4PX2RC", "item_id": 42, "id": 7, "partner_slug": "dtc-laf",
                 "locale": "bm", "screen": "topic", "lang": "fr", "path": "css/app.css", "token": "t0k3n",
                 "format": "json", "service_code": "waiting", "slug": "cost", "user_id": 3, "key_id": 2}


def named(routes_: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    for route in routes_:
        name = getattr(route, "name", None)
        if isinstance(route, Mount) and route.routes:
            yield from named(route.routes, f"{prefix}{name}:" if name else prefix)
        elif name:
            yield prefix + name, route


def params_of(route: BaseRoute) -> dict[str, Any]:
    convertors = getattr(route, "param_convertors", {})
    return {name: SAMPLE_PARAMS.get(name, 1 if convertor.regex == "[0-9]+" else "x")
            for name, convertor in convertors.items()}


def test_route_names_are_unique() -> None:
    # The remembered lookup asks the route that answered a name first: names must be unique.
    names = [name for name, _route in named(routes())]
    assert len(names) == len(set(names))


def test_remembered_paths_equal_starlettes() -> None:
    plain, remembered = Router(routes=routes()), Router(routes=routes())
    remember_url_paths(remembered)
    for name, route in named(routes()):
        params = params_of(route)
        expected = plain.url_path_for(name, **params)
        for _ in range(2):  # a miss, then an answer from the cache or the remembered route
            assert remembered.url_path_for(name, **params) == expected
    # A parameter that differs every time (a tracking code) gives its own path each time.
    assert [remembered.url_path_for("track:item", code=c) for c in ("AAA", "BBB")] == ["/track/AAA", "/track/BBB"]


def test_unknown_names_and_wrong_parameters_still_raise() -> None:
    remembered = Router(routes=[Route("/a/{code}", lambda r: None, name="a")])
    remember_url_paths(remembered)
    assert remembered.url_path_for("a", code="x") == "/a/x"
    for name, params in (("missing", {}), ("a", {}), ("a", {"other": "y"})):
        with pytest.raises(NoMatchFound):
            remembered.url_path_for(name, **params)
