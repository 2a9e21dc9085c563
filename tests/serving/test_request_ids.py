"""Request ids on a real server: every predict, classify and regress answer (errors too) names
its request (the client's X-Request-Id echoed, or a new one) and the version that answered, over
REST headers and gRPC trailing metadata; bodies stay TF Serving's; the observers get the trace.
"""

import re
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from saved_models import toy_scores
from servers import running_server, settings_for, wait_for
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.errors import InvalidArgument
from serving.request_ids import Trace, request_id

X = [[1.0, 2.0, 3.0], [0.0, 0.0, -0.5]]
HEX_32 = re.compile(r"[0-9a-f]{32}")
ALLOWED = "AZaz09._:@/+=~-"
INFERENCE = [
    ("predict", {"instances": X}),
    ("classify", {"examples": [{"x": x} for x in X]}),
    ("regress", {"signature_name": "regress_examples", "examples": [{"x": x} for x in X]}),
]
BAD_IDS = ["", "a" * 129, "has space", "comma,", 'quote"', "caf\u00e9", "tab\there"]


# --- the rule ----------------------------------------------------------------------------------


def test_a_missing_id_gets_a_new_unique_one():
    ids = [request_id(None) for _ in range(1000)]
    assert all(HEX_32.fullmatch(i) for i in ids)
    assert len(set(ids)) == 1000


@pytest.mark.parametrize("value", ["a", "a" * 128, ALLOWED, "2026-12-01T10:00:00Z/req+1=~@x"])
def test_a_good_id_is_kept_as_sent(value):
    assert request_id(value) == value


@pytest.mark.parametrize("value", BAD_IDS)
def test_a_bad_id_is_refused_naming_the_header(value):
    with pytest.raises(InvalidArgument, match="X-Request-Id header"):
        request_id(value)


# --- REST --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("verb", "body"), INFERENCE)
def test_rest_answers_carry_a_new_id_and_the_version(rest, verb, body):
    answers = [rest.post(f"/v1/models/toy:{verb}", json=body) for _ in range(3)]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-model-version"] == "1"
        assert "x-split-arm" not in answer.headers
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert all(HEX_32.fullmatch(i) for i in ids) and len(set(ids)) == 3


@pytest.mark.parametrize(("verb", "body"), INFERENCE)
def test_rest_echoes_the_clients_id(rest, verb, body):
    answer = rest.post(f"/v1/models/toy:{verb}", json=body, headers={"X-Request-Id": "order-7"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == "order-7"


def test_rest_bodies_stay_tf_servings(rest):
    answer = rest.post(
        "/v1/models/toy:predict", json={"instances": X}, headers={"X-Request-Id": "b"}
    )
    assert set(answer.json()) == {"predictions"}
    scores = [row["scores"] for row in answer.json()["predictions"]]
    np.testing.assert_allclose(scores, toy_scores(np.array(X, np.float32), 1), rtol=1e-5)


@pytest.mark.parametrize("value", ["has space", "a" * 129, "comma,"])
def test_rest_refuses_a_bad_id_with_400_naming_the_header(rest, value):
    answer = rest.post(
        "/v1/models/toy:predict", json={"instances": X}, headers={"X-Request-Id": value}
    )
    assert answer.status_code == 400
    assert set(answer.json()) == {"error"}
    assert "X-Request-Id" in answer.json()["error"]
    assert HEX_32.fullmatch(answer.headers["x-request-id"])  # a new one: the bad one is not echoed
    assert "x-model-version" not in answer.headers


def test_rest_errors_carry_the_id_and_the_version_once_resolved(rest):
    bad_input = rest.post(
        "/v1/models/toy:predict", json={"instances": [[1.0, 2.0]]}, headers={"X-Request-Id": "e1"}
    )
    assert bad_input.status_code == 400
    assert (bad_input.headers["x-request-id"], bad_input.headers["x-model-version"]) == ("e1", "1")
    unknown = rest.post(
        "/v1/models/nope:predict", json={"instances": X}, headers={"X-Request-Id": "e2"}
    )
    assert unknown.status_code == 404
    assert unknown.headers["x-request-id"] == "e2"
    assert "x-model-version" not in unknown.headers


def test_rest_status_and_metadata_carry_no_request_id(rest):
    for path in ("/v1/models/toy", "/v1/models/toy/metadata"):
        answer = rest.get(path, headers={"X-Request-Id": "not checked here"})
        assert answer.status_code == 200
        assert "x-request-id" not in answer.headers


# --- gRPC --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stub(toy_server):
    with grpc.insecure_channel(toy_server.grpc_address) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def predict_request(model: str = "toy", x=X) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(x, np.float32)))
    return request


def examples_input(request) -> None:
    for x in X:
        example = request.input.example_list.examples.add()
        example.features.feature["x"].float_list.value.extend(x)


def test_grpc_trailers_carry_the_clients_id_and_the_version(stub):
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "toy"
    classify.model_spec.signature_name = "from_examples"
    examples_input(classify)
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "toy"
    regress.model_spec.signature_name = "regress_examples"
    examples_input(regress)
    for method, request in (
        (stub.Predict, predict_request()),
        (stub.Classify, classify),
        (stub.Regress, regress),
    ):
        response, call = method.with_call(
            request, timeout=10, metadata=[("x-request-id", "grpc-1")]
        )
        assert response.model_spec.version.value == 1
        trailers = dict(call.trailing_metadata())
        assert trailers["x-request-id"] == "grpc-1"
        assert trailers["x-model-version"] == "1"
        assert "x-split-arm" not in trailers


def test_grpc_makes_an_id_when_the_client_sends_none(stub):
    ids = set()
    for _ in range(3):
        response, call = stub.Predict.with_call(predict_request(), timeout=10)
        np.testing.assert_allclose(
            tf.make_ndarray(response.outputs["scores"]),
            toy_scores(np.array(X, np.float32), 1),
            rtol=1e-5,
        )
        ids.add(dict(call.trailing_metadata())["x-request-id"])
    assert len(ids) == 3 and all(HEX_32.fullmatch(i) for i in ids)


def test_grpc_errors_carry_the_trailers_too(stub):
    with pytest.raises(grpc.RpcError) as bad_id:
        stub.Predict(predict_request(), timeout=10, metadata=[("x-request-id", "has space")])
    assert bad_id.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "X-Request-Id" in bad_id.value.details()
    assert HEX_32.fullmatch(dict(bad_id.value.trailing_metadata())["x-request-id"])

    with pytest.raises(grpc.RpcError) as bad_input:
        stub.Predict(predict_request(x=[[1.0, 2.0]]), timeout=10, metadata=[("x-request-id", "g")])
    assert bad_input.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    trailers = dict(bad_input.value.trailing_metadata())
    assert (trailers["x-request-id"], trailers["x-model-version"]) == ("g", "1")

    with pytest.raises(grpc.RpcError) as unknown:
        stub.Predict(predict_request("nope"), timeout=10, metadata=[("x-request-id", "h")])
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    trailers = dict(unknown.value.trailing_metadata())
    assert trailers["x-request-id"] == "h" and "x-model-version" not in trailers


# --- the observers -----------------------------------------------------------------------------


class TraceRecorder:
    """An observer that records each completed call's (model, version, signature, trace)."""

    def __init__(self):
        self.calls: list[tuple[str, int, str, Trace | None]] = []
        self._lock = threading.Lock()

    def observe(self, model, version, signature_name, inputs, outputs, trace=None):
        with self._lock:
            self.calls.append((model, version, signature_name, trace))

    def close(self):
        pass


def test_observers_receive_each_requests_trace(toy_models, caplog):
    recorder = TraceRecorder()
    with running_server(
        settings_for(workers=1, models_dir=toy_models)
    ) as server:  # the drift monitor on
        server.stack.backend.observers.append(recorder)
        with server.client() as client:
            given = client.post(
                "/v1/models/toy:predict", json={"instances": X}, headers={"X-Request-Id": "r-1"}
            )
            made = client.post("/v1/models/toy:classify", json=INFERENCE[1][1])
        with grpc.insecure_channel(server.grpc_address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            stub.Predict(predict_request(), timeout=10, metadata=[("x-request-id", "g-1")])
        wait_for(lambda: len(recorder.calls) == 3, what="three observed calls")
    assert given.headers["x-request-id"] == "r-1"
    assert sorted(recorder.calls, key=lambda call: call[3].request_id) == sorted(
        [
            ("toy", 1, "serving_default", Trace("r-1")),
            ("toy", 1, "from_examples", Trace(made.headers["x-request-id"])),
            ("toy", 1, "serving_default", Trace("g-1")),
        ],
        key=lambda call: call[3].request_id,
    )
    # The drift monitor took the trace as well: no observer failed.
    assert not [r for r in caplog.records if "request observer" in r.getMessage()]
