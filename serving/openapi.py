"""The OpenAPI 3 document of the REST API (served at /v1/openapi.json), written from its routes.

Each route carries its description: it is built as a `DocumentedRoute` (a `DocumentedMount` for
a folder of files) with an `Operation`, beside its path, in the one function that registers the
routes (`RestApi.routes` in serving/rest.py, `demo_routes` in serving/demo.py). `document(routes)`
writes one operation per route and method, with the path parameters read from the route's own
path, and refuses a route without a description: the document cannot miss a route, nor describe
one that is not served. A route registered with `include_in_schema=False` is no part of the API.

    routes = [DocumentedRoute("/healthz", liveness, Operation("Liveness", ...), methods=["GET"])]
    document(routes)["paths"]["/healthz"]["get"]["summary"]  # "Liveness"
"""

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

_ANY: dict[str, Any] = {}
_FEATURES = {"type": "object", "additionalProperties": _ANY}
_ERROR = {"$ref": "#/components/responses/Error"}
# What a TF Serving request may answer besides 200 (docs/serving.md lists the cases).
TF_SERVING_ERRORS = {str(code): _ERROR for code in (400, 404, 408, 413, 429, 500, 503, 504)}

# The path parameters a route may have, by name (`{model:segment}` in a route is `model` here).
_PATH_PARAMETERS = {
    "model": {"schema": {"type": "string"}, "description": "the model's name"},
    "version": {
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "description": "a version number (int64, ASCII digits)",
    },
    "label": {"schema": {"type": "string"}, "description": "a version label (stable, canary)"},
    "path": {"schema": {"type": "string"}, "description": "a file's path in the folder"},
}


@dataclasses.dataclass(frozen=True)
class Operation:
    """What the document says about one route: a summary, its answers by status code, the
    components/schemas name of its JSON body (when it takes one), its query parameters and the
    request headers it reads."""

    summary: str
    responses: Mapping[str, Any]
    request_schema: str | None = None
    query: tuple[Mapping[str, Any], ...] = ()
    headers: tuple[Mapping[str, Any], ...] = ()

    def to_openapi(self, path_parameters: list[dict[str, Any]]) -> dict[str, Any]:
        """The OpenAPI operation object, with the route's path parameters."""
        operation: dict[str, Any] = {"summary": self.summary}
        parameters = [*path_parameters, *self.query, *self.headers]
        if parameters:
            operation["parameters"] = parameters
        if self.request_schema:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(self.request_schema)}},
            }
        operation["responses"] = dict(self.responses)
        return operation


class DocumentedRoute(Route):
    """A Starlette `Route` that carries its OpenAPI `Operation`."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        operation: Operation,
        *,
        methods: Collection[str],
        name: str | None = None,
    ):
        super().__init__(path, endpoint, methods=methods, name=name)
        self.operation = operation


class DocumentedMount(Mount):
    """A Starlette `Mount` of a folder of files (answers GET) that carries its `Operation`."""

    def __init__(self, path: str, app: ASGIApp, operation: Operation):
        super().__init__(path, app)
        self.operation = operation


def json_answer(schema: str, errors: Mapping[str, Any] = TF_SERVING_ERRORS) -> dict[str, Any]:
    """The responses of a route that answers the JSON object `schema` (a components/schemas
    name), or TF Serving's error body."""
    return {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": _schema_ref(schema)}},
        },
        **errors,
    }


def text_answer(
    media_type: str, description: str, errors: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The responses of a route that answers text or a file of `media_type`, or `errors`."""
    return {
        "200": {
            "description": description,
            "content": {media_type: {"schema": {"type": "string"}}},
        },
        **(errors or {}),
    }


def error(description: str) -> dict[str, Any]:
    """A response with TF Serving's error body, `{"error": msg}`."""
    return {**_ERROR_RESPONSE, "description": description}


def query_parameter(name: str, description: str) -> dict[str, Any]:
    """An optional string query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


def header_parameter(name: str, description: str) -> dict[str, Any]:
    """An optional string request header."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


# What a predict, classify or regress request may send, and its answer carries (on errors too):
# serving/request_ids.py, serving/traffic_split.py.
TRACE_REQUEST_HEADERS = (
    header_parameter(
        "X-Request-Id",
        "the request's id, echoed in the answer and kept in the feedback log: 1 to 128 "
        "characters of A-Z a-z 0-9 . _ : @ / + = ~ - (else 400); the server makes one when absent",
    ),
    header_parameter(
        "X-Split-Key",
        "with --split, an unpinned request with this key always goes to the same arm",
    ),
)
_TRACE_HEADERS = {
    "X-Request-Id": {
        "description": "the client's X-Request-Id, or the one the server made",
        "schema": {"type": "string"},
    },
    "X-Model-Version": {
        "description": "the version that answered (absent when none was resolved)",
        "schema": {"type": "string"},
    },
    "X-Split-Arm": {
        "description": "the version label --split sent an unpinned request to",
        "schema": {"type": "string"},
    },
}


def traced_answer(schema: str) -> dict[str, Any]:
    """The responses of an inference route: the JSON object `schema`, or TF Serving's error
    body, each with the trace headers."""
    traced_error = {"$ref": "#/components/responses/TracedError"}
    return {
        "200": {
            "description": "OK",
            "headers": _TRACE_HEADERS,
            "content": {"application/json": {"schema": _schema_ref(schema)}},
        },
        **{code: traced_error for code in TF_SERVING_ERRORS},
    }


def document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3 document of `routes`, paths sorted, HEAD left out (Starlette answers it
    for every GET route).

    Raises:
        TypeError: a route carries no description (build it as a DocumentedRoute).
        ValueError: two routes answer the same method on the same path (the second is never
            reached), or a path has a parameter this module does not describe.
    """
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not getattr(route, "include_in_schema", True):
            continue
        if isinstance(route, DocumentedRoute):
            methods = sorted(set(route.methods or ()) - {"HEAD"})
        elif isinstance(route, DocumentedMount):
            methods = ["GET"]
        else:
            raise TypeError(
                f"{route!r} has no OpenAPI description: build it as an "
                "openapi.DocumentedRoute (or DocumentedMount) with its Operation"
            )
        item = paths.setdefault(route.path_format, {})
        parameters = [_path_parameter(name, route.path_format) for name in route.param_convertors]
        for method in methods:
            if method.lower() in item:
                raise ValueError(
                    f"two routes answer {method} {route.path_format}: the second is never reached"
                )
            item[method.lower()] = route.operation.to_openapi(parameters)
    return {**_HEAD, "paths": dict(sorted(paths.items())), "components": _COMPONENTS}


def _path_parameter(name: str, path: str) -> dict[str, Any]:
    if name not in _PATH_PARAMETERS:
        raise ValueError(
            f"the path {path} has a parameter {name!r} that serving/openapi.py does not "
            f"describe; it describes {sorted(_PATH_PARAMETERS)}"
        )
    return {"name": name, "in": "path", "required": True, **_PATH_PARAMETERS[name]}


def _schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_HEAD = {
    "openapi": "3.0.3",
    "info": {
        "title": "dlwp serving (TensorFlow Serving REST API)",
        "version": "1",
        "description": "TensorFlow Serving's REST API over the models dlwp pushed. Bodies follow "
        "TF Serving's REST doc; NaN and Infinity tokens are accepted.",
    },
}
_ERROR_RESPONSE = {
    "description": "TF Serving's error body",
    "content": {"application/json": {"schema": _schema_ref("Error")}},
}
_COMPONENTS = {
    "responses": {
        "Error": _ERROR_RESPONSE,
        "TracedError": {**_ERROR_RESPONSE, "headers": _TRACE_HEADERS},
    },
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        },
        "ModelStatus": {
            "type": "object",
            "properties": {
                "model_version_status": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "version": {"type": "string"},
                            "state": {
                                "type": "string",
                                "enum": [
                                    "UNKNOWN",
                                    "START",
                                    "LOADING",
                                    "AVAILABLE",
                                    "UNLOADING",
                                    "END",
                                ],
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "error_code": {"type": "string"},
                                    "error_message": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            },
        },
        "ModelMetadata": {
            "type": "object",
            "properties": {
                "model_spec": {"type": "object"},
                "metadata": {
                    "type": "object",
                    "properties": {"signature_def": {"type": "object"}},
                },
            },
        },
        "PredictRequest": {
            "type": "object",
            "properties": {
                "signature_name": {"type": "string"},
                "instances": {"type": "array", "items": _ANY},
                "inputs": _ANY,
            },
        },
        "PredictResponse": {
            "type": "object",
            "properties": {"predictions": _ANY, "outputs": _ANY},
        },
        "ExamplesRequest": {
            "type": "object",
            "required": ["examples"],
            "properties": {
                "signature_name": {"type": "string"},
                "context": _FEATURES,
                "examples": {"type": "array", "items": _FEATURES},
            },
        },
        "ClassifyResponse": {
            "type": "object",
            "properties": {
                "results": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "items": {"type": "array", "items": _ANY, "minItems": 2, "maxItems": 2},
                    },
                }
            },
        },
        "RegressResponse": {
            "type": "object",
            "properties": {"results": {"type": "array", "items": {"type": "number"}}},
        },
        "Liveness": {
            "type": "object",
            "properties": {"status": {"type": "string", "enum": ["alive"]}},
        },
        "Readiness": {
            "type": "object",
            "properties": {"ready": {"type": "boolean"}, "draining": {"type": "boolean"}},
        },
        "OpenAPI": {"type": "object", "description": "this document"},
        "DriftStatus": {
            "type": "object",
            "description": "{model: {version: measurements}}: the drift monitor's latest "
            "measurements (docs/monitoring.md)",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "object"},
            },
        },
    },
}
