"""The OpenAPI document at /v1/openapi.json is written from the routes: every route the server
registers is in it, and every path it lists reaches its own route."""

import pytest
from servers import running_server, settings_for
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Mount, Route

from serving.openapi import DocumentedRoute, Operation, document, text_answer

# A value for each path parameter, to turn a documented path into a request path.
SAMPLE_PARAMETERS = {"model": "toy", "version": "1", "label": "stable", "path": "app.js"}


@pytest.fixture(scope="module")
def served(toy_models):
    """The Starlette app a toy server runs (in this process, to read its routes), and the
    document it serves."""
    settings = settings_for(workers=1, models_dir=toy_models)
    with running_server(settings) as server, server.client() as client:
        return server.stack.http.config.app, client.get("/v1/openapi.json").json()


def _registered(routes) -> set[tuple[str, str]]:
    pairs = set()
    for route in routes:
        if not getattr(route, "include_in_schema", True):
            continue
        methods = {"GET"} if isinstance(route, Mount) else route.methods - {"HEAD"}
        pairs |= {(route.path_format, method) for method in methods}
    return pairs


def _documented(openapi: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in openapi["paths"].items() for method in item}


def test_every_registered_route_is_documented_and_nothing_else(served):
    app, openapi = served
    registered = _registered(app.routes)
    assert ("/monitoring/drift", "GET") in registered
    assert _documented(openapi) == registered


def test_every_documented_path_reaches_its_own_route(served):
    app, openapi = served
    for path, method in sorted(_documented(openapi)):
        scope = {
            "type": "http",
            "method": method,
            "path": path.format(**SAMPLE_PARAMETERS),
            "root_path": "",
        }
        first = next(route for route in app.routes if route.matches(scope)[0] is Match.FULL)
        assert first.path_format == path, (method, path, first)


def test_path_parameters_are_read_from_the_route(served):
    _, openapi = served
    operation = openapi["paths"]["/v1/models/{model}/versions/{version}:predict"]["post"]
    assert [p["name"] for p in operation["parameters"] if p["in"] == "path"] == ["model", "version"]
    assert operation["parameters"][1]["schema"]["type"] == "integer"
    drift = openapi["paths"]["/monitoring/drift"]["get"]
    assert [(p["name"], p["in"]) for p in drift["parameters"]] == [("model", "query")]


async def _hello(_request):
    return PlainTextResponse("hello")


def test_a_route_without_a_description_is_refused():
    with pytest.raises(TypeError, match="/hello"):
        document([Route("/hello", _hello)])


def test_a_route_left_out_of_the_schema_is_not_documented():
    assert document([Route("/hello", _hello, include_in_schema=False)])["paths"] == {}


def test_two_routes_answering_one_method_on_one_path_are_refused():
    operation = Operation("Hello", text_answer("text/plain", "hello"))
    routes = [
        DocumentedRoute("/hello", _hello, operation, methods=["GET"]),
        DocumentedRoute("/hello", _hello, operation, methods=["GET", "POST"]),
    ]
    with pytest.raises(ValueError, match="GET /hello"):
        document(routes)
