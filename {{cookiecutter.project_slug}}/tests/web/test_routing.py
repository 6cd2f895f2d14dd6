from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.web.routing import IdConvertor, up_to
from {{ cookiecutter.package_name }}.web.schemas import MAX_ID

from ..problems import assert_problem


def id_routes(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, set[str]]]:
    """Every route with an `{id:id}` in its path, with its methods (WebSockets have none)."""
    found: list[tuple[str, set[str]]] = []
    for route in routes:
        if isinstance(route, Mount):
            found += id_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route) and "{id:id}" in route.path:
            found.append((prefix + route.path, set(route.methods or ()) - {"HEAD"}))
    return found


def test_the_id_pattern_takes_exactly_the_numbers_up_to_its_limit() -> None:
    for limit in [0, 1, 9, 10, 19, 20, 99, 100, 1000, 4096, MAX_ID]:
        pattern = re.compile(up_to(limit))
        numbers = [*range(min(limit + 50, 5000)), limit - 1, limit, limit + 1, limit * 10]
        for number in numbers:
            assert bool(pattern.fullmatch(str(number))) == (0 <= number <= limit), (limit, number)
        assert pattern.fullmatch("01") is None


def test_an_id_past_the_columns_range_is_a_404_on_every_id_route(
    client: TestClient, app: Starlette
) -> None:
    routes = id_routes(app.routes)
    assert routes  # the notes at least
    assert re.fullmatch(IdConvertor.regex, str(MAX_ID))
    for path, methods in routes:
        for method in methods:
            for too_large in [MAX_ID + 1, 9_999_999_999, 10**30]:
                url = path.replace("{id:id}", str(too_large))
                response = client.request(method, url, json={})
                assert response.status_code == 404, (method, url, response.text)
                assert_problem(response, 404)
