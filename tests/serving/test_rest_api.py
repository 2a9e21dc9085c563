"""TF Serving's REST API, request format by request format (a real server on loopback).

Expected values come from the toy model's definition (`toy_scores`, plain numpy), never from
the server under test.
"""

import base64
import json

import numpy as np
import pytest
import tensorflow as tf
from saved_models import toy_scores

X = [[1.0, 2.0, 3.0], [0.0, 0.0, -0.5]]


def example_bytes(x):
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=x)),
            }
        )
    ).SerializeToString()


def test_status_lists_every_version_as_tf_serving_prints_it(rest):
    response = rest.get("/v1/models/toy")
    assert response.status_code == 200
    assert response.json() == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert rest.get("/v1/models/toy/versions/1").json() == response.json()


def test_metadata_prints_signature_defs(rest):
    body = rest.get("/v1/models/toy/metadata").json()
    assert body["model_spec"] == {"name": "toy", "version": "1", "signature_name": ""}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {
        "serving_default",
        "from_examples",
        "regress_examples",
        "two_inputs",
        "slow",
    }
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    x = default["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in x["tensor_shape"]["dim"]] == ["-1", "3"]
    assert set(default["outputs"]) == {"scores", "class_ids", "version"}


def test_predict_row_format_returns_one_object_per_instance(rest):
    response = rest.post("/v1/models/toy:predict", json={"instances": X})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    expected = toy_scores(X, version=1)
    assert len(predictions) == 2
    for row, want in zip(predictions, expected, strict=True):
        np.testing.assert_allclose(row["scores"], want, rtol=1e-5)
        assert row["class_ids"] == int(np.argmax(want)) and row["version"] == 1


def test_predict_row_format_accepts_named_instances(rest):
    response = rest.post("/v1/models/toy:predict", json={"instances": [{"x": x} for x in X]})
    np.testing.assert_allclose(
        [p["scores"] for p in response.json()["predictions"]], toy_scores(X, 1), rtol=1e-5
    )


def test_predict_columnar_format_returns_an_object_of_outputs(rest):
    response = rest.post("/v1/models/toy/versions/1:predict", json={"inputs": {"x": X}})
    assert response.status_code == 200
    outputs = response.json()["outputs"]
    assert set(outputs) == {"scores", "class_ids", "version"}
    np.testing.assert_allclose(outputs["scores"], toy_scores(X, 1), rtol=1e-5)
    bare = rest.post("/v1/models/toy:predict", json={"inputs": X}).json()["outputs"]
    assert bare == outputs


def test_predict_several_inputs_and_a_bytes_output(rest):
    body = {"signature_name": "two_inputs", "instances": [{"a": 1.5, "b": [1, 2]}]}
    (prediction,) = rest.post("/v1/models/toy:predict", json=body).json()["predictions"]
    assert prediction["total"] == 4.5
    # An output named *_bytes comes back as {"b64": ...}, as TF Serving writes it.
    assert base64.b64decode(prediction["label_bytes"]["b64"]).decode().startswith("4.5")
    columnar = {"signature_name": "two_inputs", "inputs": {"a": [1.0, 2.0], "b": [[0, 0], [1, 1]]}}
    assert rest.post("/v1/models/toy:predict", json=columnar).json()["outputs"]["total"] == [
        1.0,
        4.0,
    ]


def test_predict_decodes_b64_strings(rest):
    body = {
        "signature_name": "from_examples",
        "instances": [{"b64": base64.b64encode(example_bytes(x)).decode()} for x in X],
    }
    response = rest.post("/v1/models/toy:predict", json=body)
    assert response.status_code == 200
    np.testing.assert_allclose(
        [p["scores"] for p in response.json()["predictions"]], toy_scores(X, 1), rtol=1e-5
    )


def test_predict_accepts_and_returns_nan_tokens(rest):
    response = rest.post("/v1/models/toy:predict", content=b'{"instances": [[1.0, NaN, 2.0]]}')
    assert response.status_code == 200
    assert b"NaN" in response.content
    scores = json.loads(response.content)["predictions"][0]["scores"]
    assert all(np.isnan(scores))


def test_classify_returns_label_score_pairs(rest):
    response = rest.post("/v1/models/toy:classify", json={"examples": [{"x": x} for x in X]})
    assert response.status_code == 200
    results = response.json()["results"]
    for pairs, want in zip(results, toy_scores(X, 1), strict=True):
        assert [label for label, _ in pairs] == ["0", "1"]
        np.testing.assert_allclose([score for _, score in pairs], want, rtol=1e-5)


def test_classify_merges_the_context_into_each_example(rest):
    body = {"context": {"x": X[0]}, "examples": [{}, {}]}
    results = rest.post("/v1/models/toy:classify", json=body).json()["results"]
    assert len(results) == 2
    np.testing.assert_allclose([s for _, s in results[1]], toy_scores(X[:1], 1)[0], rtol=1e-5)


def test_regress_returns_one_value_per_example(rest):
    body = {"signature_name": "regress_examples", "examples": [{"x": x} for x in X]}
    response = rest.post("/v1/models/toy:regress", json=body)
    assert response.status_code == 200
    np.testing.assert_allclose(response.json()["results"], np.sum(X, axis=1), rtol=1e-6)


def test_health_endpoints(rest):
    assert rest.get("/healthz").json() == {"status": "alive"}
    ready = rest.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True


def test_head_on_a_model_path_is_a_malformed_request_as_in_tf_serving(rest):
    assert rest.head("/v1/models/toy").status_code == 400
    assert rest.head("/v1/models/toy/metadata").status_code == 400
    assert rest.head("/healthz").status_code == 200


def test_openapi_document_describes_every_model_route(rest):
    document = rest.get("/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for path in (
        "/v1/models/{model}",
        "/v1/models/{model}/versions/{version}/metadata",
        "/v1/models/{model}/labels/{label}:predict",
        "/v1/models/{model}:classify",
        "/v1/models/{model}:regress",
        "/monitoring/prometheus/metrics",
    ):
        assert path in document["paths"], path
    # Every $ref points at a component that exists.
    refs = {r.split("/")[-1] for r in _refs(document)}
    assert refs <= set(document["components"]["schemas"]) | set(document["components"]["responses"])


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


BIG = "9" * 5000
# (what, method, path, body bytes, status, words the error must contain)
BAD_REQUESTS = [
    (
        "malformed JSON",
        "POST",
        "/v1/models/toy:predict",
        b'{"instances": [1,',
        400,
        ["not valid JSON"],
    ),
    ("body is not an object", "POST", "/v1/models/toy:predict", b"[1, 2]", 400, ["JSON object"]),
    (
        "wrong dtype",
        "POST",
        "/v1/models/toy:predict",
        b'{"instances": [["a", "b", "c"]]}',
        400,
        ["'x'", "DT_FLOAT"],
    ),
    (
        "wrong shape",
        "POST",
        "/v1/models/toy:predict",
        b'{"instances": [[1.0, 2.0]]}',
        400,
        ["[-1, 3]", "[1, 2]"],
    ),
    (
        "ragged rows",
        "POST",
        "/v1/models/toy:predict",
        b'{"instances": [[1, 2, 3], [1]]}',
        400,
        ["rectangular", "'x'"],
    ),
    (
        "missing input",
        "POST",
        "/v1/models/toy:predict",
        b'{"signature_name": "two_inputs", "inputs": {"a": [1.0]}}',
        400,
        ["missing", "b"],
    ),
    (
        "unknown input",
        "POST",
        "/v1/models/toy:predict",
        b'{"inputs": {"y": [[1, 2, 3]]}}',
        400,
        ["unknown input", "y"],
    ),
    (
        "instances and inputs",
        "POST",
        "/v1/models/toy:predict",
        b'{"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]}',
        400,
        ["exactly one"],
    ),
    ("neither instances nor inputs", "POST", "/v1/models/toy:predict", b"{}", 400, ["exactly one"]),
    (
        "NaN into an int input",
        "POST",
        "/v1/models/toy:predict",
        b'{"signature_name": "two_inputs", "instances": [{"a": 1.0, "b": [NaN, 1]}]}',
        400,
        ["'b'", "DT_INT64"],
    ),
    (
        "int out of range",
        "POST",
        "/v1/models/toy:predict",
        b'{"signature_name": "two_inputs", '
        b'"instances": [{"a": 1.0, "b": [1, 99999999999999999999]}]}',
        400,
        ["'b'"],
    ),
    (
        "unknown signature",
        "POST",
        "/v1/models/toy:predict",
        b'{"signature_name": "nope", "instances": [[1, 2, 3]]}',
        400,
        ["nope", "not found"],
    ),
    (
        "unknown model",
        "POST",
        "/v1/models/nope:predict",
        b'{"instances": [[1, 2, 3]]}',
        404,
        ["Servable not found", "nope"],
    ),
    (
        "unknown version",
        "POST",
        "/v1/models/toy/versions/7:predict",
        b'{"instances": [[1, 2, 3]]}',
        404,
        ["Specific(toy, 7)"],
    ),
    (
        "unknown label",
        "POST",
        "/v1/models/toy/labels/canary:predict",
        b'{"instances": [[1, 2, 3]]}',
        400,
        ["label", "canary"],
    ),
    ("version is not a number", "GET", "/v1/models/toy/versions/one", b"", 400, ["one"]),
    ("status of an unknown model", "GET", "/v1/models/nope", b"", 404, ["nope"]),
    ("GET on predict", "GET", "/v1/models/toy:predict", b"", 400, ["Malformed request"]),
    ("unknown verb", "POST", "/v1/models/toy:explain", b"{}", 404, ["Malformed request"]),
    (
        "GET on a label's classify",
        "GET",
        "/v1/models/toy/labels/stable:classify",
        b"",
        400,
        ["Malformed request"],
    ),
    ("POST on status", "POST", "/v1/models/toy/versions/1", b"{}", 400, ["Malformed request"]),
    ("PUT on predict", "PUT", "/v1/models/toy:predict", b"{}", 405, ["PUT is not allowed"]),
    ("trailing slash", "GET", "/v1/models/toy/", b"", 404, ["Malformed request"]),
    ("unknown path", "GET", "/v2/models/toy", b"", 404, ["Malformed request"]),
    (
        "bad b64",
        "POST",
        "/v1/models/toy:predict",
        b'{"signature_name": "from_examples", "instances": [{"b64": "***"}]}',
        400,
        ["base64"],
    ),
    (
        "classify: feature in context and example",
        "POST",
        "/v1/models/toy:classify",
        b'{"context": {"x": [1.0, 1.0, 1.0]}, "examples": [{"x": [1.0, 2.0, 3.0]}]}',
        400,
        ["both"],
    ),
    (
        "classify: no examples",
        "POST",
        "/v1/models/toy:classify",
        b'{"examples": []}',
        400,
        ["examples"],
    ),
    (
        "classify: ints for a float feature",
        "POST",
        "/v1/models/toy:classify",
        b'{"examples": [{"x": [1, 2, 3]}]}',
        400,
        ["decimal point"],
    ),
    (
        "regress on a signature without examples",
        "POST",
        "/v1/models/toy:regress",
        b'{"signature_name": "two_inputs", "examples": [{"a": 1.0}]}',
        400,
        ["serialized tf.Examples"],
    ),
    (
        "100,000-deep nesting",
        "POST",
        "/v1/models/toy:predict",
        b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        400,
        ["deeper than"],
    ),
    (
        "deep nesting with NaN",
        "POST",
        "/v1/models/toy:predict",
        b'{"instances": ' + b"[" * 100_000 + b"NaN" + b"]" * 100_000 + b"}",
        400,
        ["deeper than"],
    ),
    (
        "oversized body",
        "POST",
        "/v1/models/toy:predict",
        b'{"instances": [[' + b"1.0," * 300_000 + b"1.0]]}",
        413,
        ["limit"],
    ),
    (
        "huge value echoed",
        "POST",
        "/v1/models/toy:predict",
        (
            '{"signature_name": "two_inputs", "instances": [{"a": "' + BIG + '", "b": [1, 2]}]}'
        ).encode(),
        400,
        ["'a'", "bytes)"],
    ),
]


@pytest.mark.parametrize(
    "what,method,path,body,status,words", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_request_gets_its_status_and_an_error_body(
    rest, what, method, path, body, status, words
):
    before = rest.get("/v1/models/toy").json()
    response = rest.request(method, path, content=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert set(error) == {"error"}
    for word in words:
        assert word in error["error"], (word, error["error"])
    assert len(error["error"].encode()) < 1024  # input is echoed at most 256 bytes
    # The server is still up and nothing changed.
    assert rest.get("/v1/models/toy").json() == before
    ok = rest.post("/v1/models/toy:predict", json={"instances": X[:1]})
    assert ok.status_code == 200
