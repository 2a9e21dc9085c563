"""Hypothesis over REST predict, classify and regress bodies, on a real server on loopback.

Bodies are random JSON shaped like TF Serving's (instances, inputs, examples, context,
signature_name, in any mix, with nested lists of floats, ints beyond int64, NaN, booleans,
strings, None, b64 objects and objects with random keys), and some that are not JSON at all.
Whatever comes, the server answers within the client's timeout, never with a 5xx, and every
error is TF Serving's `{"error": msg}` with a short message. Well-formed requests are checked
against the toy model's definition (`toy_scores`, plain numpy), never against the server.
"""

import base64
import json
import re
from typing import Any

import httpx
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from saved_models import toy_scores
from servers import running_server, settings_for

CLIENT_TIMEOUT_S = 10.0
MAX_BATCH_INSTANCES = 16
# Echoed input is cut to 256 bytes (docs/serving.md, "Errors"); a message may quote a few.
MAX_ERROR_BYTES = 1024
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
# `slow` is left out: it runs as many matrix products as the request asks for, by design.
SIGNATURES = ["serving_default", "from_examples", "regress_examples", "two_inputs"]
MODEL_PATHS = ["/v1/models/toy", "/v1/models/toy/versions/1"]
VERBS = ["predict", "classify", "regress"]


@pytest.fixture(scope="module")
def fuzzed(toy_models):
    """A client to a server of its own (the fuzzing must not add series to the shared toy
    server's metrics), with a small body limit and batch limit."""
    from serving.settings import RestLimits

    limits = RestLimits(
        max_body_bytes=256 * 1024,
        max_batch_instances=MAX_BATCH_INSTANCES,
        request_timeout_s=CLIENT_TIMEOUT_S / 2,
    )
    with (
        running_server(settings_for(models_dir=toy_models, limits=limits)) as server,
        httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client,
    ):
        yield client


# --- JSON text with what json.dumps cannot write ------------------------------------------------

_HUGE = re.compile(r'"@@huge:(-?[0-9]+)@@"')


def huge_int(digits: str) -> str:
    """An integer of any length: json.dumps refuses ints of over 4,300 digits, so it is written
    as a marker string that `to_json` replaces with the bare number."""
    return f"@@huge:{digits}@@"


def to_json(value) -> bytes:
    """JSON with TF Serving's NaN / Infinity tokens and integers of any length."""
    return _HUGE.sub(r"\1", json.dumps(value, allow_nan=True)).encode()


# --- strategies ---------------------------------------------------------------------------------

INT64_EDGES = [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, -(2**64), 10**30]
INTS = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**70), 2**70),
    st.sampled_from(INT64_EDGES),
    st.builds(
        lambda sign, digits: huge_int(sign + digits),
        st.sampled_from(["", "-"]),
        st.text("0123456789", min_size=1, max_size=5000).map(lambda d: "1" + d),
    ),
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
TEXT = st.text(max_size=20)
B64 = st.one_of(
    st.binary(max_size=40).map(lambda b: {"b64": base64.b64encode(b).decode()}),
    st.builds(lambda t: {"b64": t}, TEXT),
    st.dictionaries(st.sampled_from(["b64", "B64", "x"]), st.one_of(TEXT, INTS), max_size=2),
)
SCALARS = st.one_of(FLOATS, INTS, st.booleans(), st.none(), TEXT, B64)
# Any JSON value (nested lists, objects with random keys) of a few dozen leaves.
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=30,
)
NUMBERS = st.one_of(st.floats(-1e3, 1e3), st.integers(-1000, 1000))
# Rows of three numbers (what `x` takes), with now and then a value of any other kind.
ROWS = st.lists(
    st.lists(st.one_of(NUMBERS, NUMBERS, SCALARS), min_size=3, max_size=3), min_size=1, max_size=4
)
TENSORS = st.one_of(VALUES, ROWS)
NAMED = st.dictionaries(st.sampled_from(["x", "a", "b", "examples", "iterations"]), TENSORS)
INSTANCES = st.one_of(TENSORS, st.lists(NAMED, min_size=1, max_size=4))
FEATURES = st.dictionaries(
    st.one_of(st.just("x"), TEXT),
    st.one_of(ROWS.map(lambda rows: rows[0]), SCALARS, st.lists(SCALARS, max_size=4), VALUES),
    max_size=3,
)
EXAMPLES = st.one_of(st.lists(FEATURES, max_size=4), VALUES)
# Mostly the toy model's signatures, so that bodies get past the lookup to the tensors.
SIGNATURE_NAMES = st.one_of(st.sampled_from(SIGNATURES), st.sampled_from(SIGNATURES), TEXT, VALUES)
PREDICT_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "signature_name": SIGNATURE_NAMES,
        "instances": INSTANCES,
        "inputs": st.one_of(TENSORS, NAMED),
    },
)
EXAMPLE_BODIES = st.fixed_dictionaries(
    {"examples": EXAMPLES},
    optional={"signature_name": SIGNATURE_NAMES, "context": st.one_of(FEATURES, VALUES)},
)
# Any mix of the keys of both, and keys of no API.
MIXED_BODIES = st.builds(
    lambda predict, examples, extra: {**extra, **predict, **examples},
    PREDICT_BODIES,
    EXAMPLE_BODIES,
    st.dictionaries(TEXT, VALUES, max_size=2),
)
REQUESTS = st.one_of(
    st.tuples(st.just("predict"), PREDICT_BODIES),
    st.tuples(st.sampled_from(["classify", "regress"]), EXAMPLE_BODIES),
    st.tuples(st.sampled_from(VERBS), MIXED_BODIES),
)


def _nested(depth: int) -> bytes:
    return b'{"instances": ' + b"[" * depth + b"1.0" + b"]" * depth + b"}"


RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"{",
            b'{"instances": [[1.0, 2.0, 3.0]]',
            b'{"instances": [[NaN, Infinity, -Infinity]]}',
            b'{"instances": [[nan, inf, 1.0]]}',
            b'\xef\xbb\xbf{"instances": [[1.0, 2.0, 3.0]]}',
            b'{"instances": [[1.0, 2.0, 3.0]], "instances": [[1.0]]}',
            b'{"instances": "\xff\xfe"}',
            _nested(1023),
            _nested(1025),
            _nested(5000),
        ]
    ),
    VALUES.map(to_json),
)


# --- what every answer must be ------------------------------------------------------------------


def exchange(response: httpx.Response) -> str:
    """The request and its answer, cut short, for a failure's message (schemathesis's pytest
    plugin blanks the values in Hypothesis's falsifying-example report)."""
    sent = response.request.content
    return (
        f"POST {response.request.url.path} {sent[:400]!r}{'...' if len(sent) > 400 else ''} "
        f"({len(sent)} bytes) -> {response.status_code} {response.text[:400]}"
    )


def check_answer(response: httpx.Response, verb: str) -> None:
    """No 5xx; a 2xx has the verb's result; anything else is TF Serving's error shape."""
    assert response.status_code < 500, exchange(response)
    body = response.json()
    if response.status_code < 300:
        wanted = {"predictions", "outputs"} if verb == "predict" else {"results"}
        assert isinstance(body, dict) and len(set(body) & wanted) == 1, exchange(response)
        return
    assert 400 <= response.status_code < 500, exchange(response)
    assert isinstance(body, dict) and set(body) == {"error"}, exchange(response)
    assert isinstance(body["error"], str) and body["error"], exchange(response)
    assert len(body["error"].encode()) <= MAX_ERROR_BYTES, exchange(response)


def post(client: httpx.Client, path: str, verb: str, content: bytes) -> httpx.Response:
    return client.post(
        f"{path}:{verb}", content=content, headers={"content-type": "application/json"}
    )


# --- any body -----------------------------------------------------------------------------------


@FUZZ
@given(path=st.sampled_from(MODEL_PATHS), request=REQUESTS)
# Found by this test once (a 500); kept so that every run tries it.
@example(path=MODEL_PATHS[0], request=("classify", {"examples": [{"x": {"b64": "\u0080"}}]}))
def test_random_bodies_get_an_answer_or_a_client_error(fuzzed, path, request):
    verb, body = request
    check_answer(post(fuzzed, path, verb, to_json(body)), verb)


@FUZZ
@given(path=st.sampled_from(MODEL_PATHS), verb=st.sampled_from(VERBS), raw=RAW_BODIES)
def test_raw_bytes_as_a_body_get_an_answer_or_a_client_error(fuzzed, path, verb, raw):
    response = post(fuzzed, path, verb, raw)
    check_answer(response, verb)
    # Only a JSON object can be a request.
    assert response.status_code >= 400 or raw.lstrip(b"\xef\xbb\xbf").startswith(b"{"), exchange(
        response
    )


# --- well-formed requests get the model's answer ------------------------------------------------

FINITE_ROWS = st.lists(
    st.lists(st.floats(-100, 100, width=32), min_size=3, max_size=3),
    min_size=1,
    max_size=MAX_BATCH_INSTANCES,
)


@settings(FUZZ, max_examples=40)
@given(rows=FINITE_ROWS, path=st.sampled_from(MODEL_PATHS), columnar=st.booleans())
def test_well_formed_rows_are_predicted(fuzzed, rows, path, columnar):
    body = {"inputs": rows} if columnar else {"instances": rows}
    response = post(fuzzed, path, "predict", to_json(body))
    assert response.status_code == 200, exchange(response)
    answer = response.json()
    scores = (
        answer["outputs"]["scores"] if columnar else [p["scores"] for p in answer["predictions"]]
    )
    expected = toy_scores(np.asarray(rows, np.float32), 1)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)


@settings(FUZZ, max_examples=40)
@given(rows=FINITE_ROWS, verb=st.sampled_from(["classify", "regress"]))
def test_well_formed_examples_are_classified_and_regressed(fuzzed, rows, verb):
    body: dict[str, Any] = {"examples": [{"x": r} for r in rows]}
    if verb == "regress":  # the toy model's regress signature is not its default
        body["signature_name"] = "regress_examples"
    response = post(fuzzed, MODEL_PATHS[0], verb, to_json(body))
    assert response.status_code == 200, exchange(response)
    results = response.json()["results"]
    x = np.asarray(rows, np.float32)
    if verb == "regress":
        np.testing.assert_allclose(results, x.astype(np.float64).sum(axis=1), rtol=1e-4, atol=1e-4)
        return
    assert [[label for label, _ in r] for r in results] == [["0", "1"]] * len(rows)
    scores = [[score for _, score in r] for r in results]
    np.testing.assert_allclose(scores, toy_scores(x, 1), rtol=1e-4, atol=1e-6)


# --- what the issue found: client errors, not 500s or silent acceptance -------------------------


@settings(FUZZ, max_examples=50)
@given(
    rows=FINITE_ROWS,
    where=st.tuples(st.integers(0, MAX_BATCH_INSTANCES - 1), st.integers(0, 2)),
    flag=st.booleans(),
)
@example(rows=[[0.0, 0.0, 0.0]], where=(0, 0), flag=True)
def test_booleans_are_refused_for_numeric_inputs(fuzzed, rows, where, flag):
    row, column = where[0] % len(rows), where[1]
    rows[row][column] = flag  # JSON true is no float: TF Serving refuses it
    response = post(fuzzed, MODEL_PATHS[0], "predict", to_json({"instances": rows}))
    check_answer(response, "predict")
    assert response.status_code == 400, exchange(response)


@settings(FUZZ, max_examples=50)
@given(
    big=st.one_of(
        st.integers(min_value=2**63, max_value=2**80), st.integers(max_value=-(2**63) - 1)
    ),
    other=st.integers(-(2**63), 2**63 - 1),
    columnar=st.booleans(),
)
def test_ints_beyond_int64_are_refused_as_out_of_range(fuzzed, big, other, columnar):
    b = [[big, other]]
    body: dict[str, Any] = {"signature_name": "two_inputs"}
    body.update(
        {"inputs": {"a": [1.0], "b": b}} if columnar else {"instances": [{"a": 1.0, "b": b[0]}]}
    )
    response = post(fuzzed, MODEL_PATHS[0], "predict", to_json(body))
    check_answer(response, "predict")
    assert response.status_code == 400, exchange(response)
    # The value is an integer that does not fit: no float64 nor strings were sent.
    assert "float64" not in response.json()["error"], exchange(response)
    assert "string" not in response.json()["error"], exchange(response)


@settings(FUZZ, max_examples=60)
@given(
    count=st.integers(1, 2 * MAX_BATCH_INSTANCES),
    form=st.sampled_from(["instances", "inputs", "classify", "regress"]),
)
def test_more_instances_than_the_batch_limit_are_refused(fuzzed, count, form):
    rows = [[0.5, 0.25, 0.0]] * count
    body: dict[str, Any]
    if form == "classify":
        verb, body = form, {"examples": [{"x": r} for r in rows]}
    elif form == "regress":
        verb = form
        body = {"signature_name": "regress_examples", "examples": [{"x": r} for r in rows]}
    else:
        verb, body = "predict", {form: rows}
    response = post(fuzzed, MODEL_PATHS[0], verb, to_json(body))
    check_answer(response, verb)
    expected = 200 if count <= MAX_BATCH_INSTANCES else 400
    assert response.status_code == expected, exchange(response)


def _example_bytes(x: list[float]) -> bytes:
    feature = tf.train.Feature(float_list=tf.train.FloatList(value=x))
    return tf.train.Example(features=tf.train.Features(feature={"x": feature})).SerializeToString()


@settings(FUZZ, max_examples=60)
@given(data=st.binary(max_size=64))
@example(data=base64.b64decode("/wBnYXJiYWdl"))
@example(data=b"\xff\xfe\xfd")
def test_serialized_examples_that_are_garbage_are_refused(fuzzed, data):
    body = {
        "signature_name": "from_examples",
        "instances": [{"b64": base64.b64encode(data).decode()}],
    }
    response = post(fuzzed, MODEL_PATHS[0], "predict", to_json(body))
    check_answer(response, "predict")
    # Random bytes do not hold an `x` of three floats, which from_examples requires.
    assert response.status_code == 400, exchange(response)


@settings(FUZZ, max_examples=60)
@given(text=st.text(max_size=24), form=st.sampled_from(["instances", "examples"]))
@example(text="\u0080", form="examples")
@example(text="\u0080", form="instances")
@example(text="é/w==", form="instances")
def test_b64_values_that_are_not_base64_get_a_client_error(fuzzed, text, form):
    if form == "instances":
        verb, body = "predict", {"signature_name": "from_examples", "instances": [{"b64": text}]}
    else:
        verb, body = "classify", {"examples": [{"x": {"b64": text}}]}
    response = post(fuzzed, MODEL_PATHS[0], verb, to_json(body))
    check_answer(response, verb)
    # Whatever it decodes to, it is no tf.Example with three floats, nor a float feature.
    assert response.status_code == 400, exchange(response)


@settings(FUZZ, max_examples=30)
@given(x=st.lists(st.floats(-100, 100, width=32), min_size=3, max_size=3))
def test_serialized_examples_in_b64_are_predicted(fuzzed, x):
    encoded = base64.b64encode(_example_bytes(x)).decode()
    body = {"signature_name": "from_examples", "instances": [{"b64": encoded}]}
    response = post(fuzzed, MODEL_PATHS[0], "predict", to_json(body))
    assert response.status_code == 200, exchange(response)
    scores = response.json()["predictions"][0]["scores"]
    expected = toy_scores(np.asarray([x], np.float32), 1)[0]
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)


@settings(FUZZ, max_examples=60)
@given(
    features=st.dictionaries(
        st.one_of(st.just("x"), TEXT), st.one_of(INTS, st.lists(INTS, min_size=1, max_size=3))
    ),
    verb=st.sampled_from(["classify", "regress"]),
)
def test_integer_features_of_any_size_get_a_client_error_or_an_answer(fuzzed, features, verb):
    response = post(fuzzed, MODEL_PATHS[0], verb, to_json({"examples": [features]}))
    check_answer(response, verb)
