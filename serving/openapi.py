"""The OpenAPI 3 document of the REST API, served at /v1/openapi.json."""

_SCOPES = {
    "": [],
    "/versions/{version}": [
        {
            "name": "version",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    ],
    "/labels/{label}": [
        {"name": "label", "in": "path", "required": True, "schema": {"type": "string"}}
    ],
}
_MODEL = {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
_ERROR = {"$ref": "#/components/responses/Error"}
_ERRORS = {str(code): _ERROR for code in (400, 404, 413, 429, 500, 503, 504)}


def _operation(summary: str, request_schema: str | None, response_schema: str, scope: list):
    operation = {
        "summary": summary,
        "parameters": [_MODEL, *scope],
        "responses": {
            "200": {
                "description": "OK",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{response_schema}"}
                    }
                },
            },
            **_ERRORS,
        },
    }
    if request_schema:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{request_schema}"}}
            },
        }
    return operation


def _paths() -> dict:
    paths = {}
    for suffix, scope in _SCOPES.items():
        base = "/v1/models/{model}" + suffix
        paths[base] = {
            "get": _operation("Model status (GetModelStatus)", None, "ModelStatus", scope)
        }
        paths[base + "/metadata"] = {
            "get": _operation("Signature defs (GetModelMetadata)", None, "ModelMetadata", scope)
        }
        paths[base + ":predict"] = {
            "post": _operation(
                "Predict: row (instances) or columnar (inputs) tensors",
                "PredictRequest",
                "PredictResponse",
                scope,
            )
        }
        paths[base + ":classify"] = {
            "post": _operation("Classify tf.Examples", "ExamplesRequest", "ClassifyResponse", scope)
        }
        paths[base + ":regress"] = {
            "post": _operation("Regress tf.Examples", "ExamplesRequest", "RegressResponse", scope)
        }
    text = {
        "200": {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    }
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics", "responses": text}}
    paths["/monitoring/prometheus/metrics"] = {
        "get": {"summary": "Prometheus metrics (TF Serving's path)", "responses": text}
    }
    health = {"200": {"description": "yes"}, "503": {"description": "no"}}
    paths["/healthz"] = {"get": {"summary": "Liveness", "responses": health}}
    paths["/readyz"] = {
        "get": {"summary": "Readiness (models loaded, not draining)", "responses": health}
    }
    return paths


_ANY = {}
_FEATURES = {"type": "object", "additionalProperties": _ANY}
OPENAPI = {
    "openapi": "3.0.3",
    "info": {
        "title": "dlwp serving (TensorFlow Serving REST API)",
        "version": "1",
        "description": "TensorFlow Serving's REST API over the models dlwp pushed. Bodies follow "
        "TF Serving's REST doc; NaN and Infinity tokens are accepted.",
    },
    "paths": _paths(),
    "components": {
        "responses": {
            "Error": {
                "description": "TF Serving's error body",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
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
        },
    },
}
