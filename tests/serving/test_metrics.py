"""Prometheus metrics at TF Serving's path and at /metrics, with bounded labels."""

import grpc
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


def samples(client) -> dict:
    text = client.get("/monitoring/prometheus/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_both_paths_serve_the_same_metrics(rest):
    assert rest.get("/metrics").status_code == 200
    assert "dlwp_model_versions_loaded" in rest.get("/metrics").text
    assert "dlwp_model_versions_loaded" in rest.get("/monitoring/prometheus/metrics").text


def test_requests_are_counted_by_model_version_api_protocol_and_code(rest, toy_server):
    before = samples(rest)
    rest.post("/v1/models/toy:predict", json={"instances": [[1.0, 2.0, 3.0]]})
    rest.post("/v1/models/toy:predict", json={"instances": [[1.0]]})
    with grpc.insecure_channel(toy_server.grpc_address) as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "toy"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0, 2.0, 3.0]], dtype=tf.float32))
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    after = samples(rest)
    ok = dict(model="toy", version="1", api="predict", code="OK")
    bad = dict(ok, code="INVALID_ARGUMENT")

    def counted(**labels):
        name = "dlwp_request_count_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert counted(**ok, protocol="rest") == 1
    assert counted(**bad, protocol="rest") == 1
    assert counted(**ok, protocol="grpc") == 1
    latency = "dlwp_request_latency_seconds_count"
    labels = dict(model="toy", api="predict", protocol="rest")
    assert value(after, latency, **labels) - value(before, latency, **labels) == 2
    assert value(after, "dlwp_model_versions_loaded", model="toy") == 1


def test_unknown_model_names_create_no_new_series(rest):
    for i in range(20):
        rest.post(f"/v1/models/made-up-{i}:predict", json={"instances": [[1.0]]})
        rest.get(f"/v1/models/made-up-{i}")
    text = rest.get("/metrics").text
    assert "made-up" not in text
    found = samples(rest)
    assert (
        value(
            found,
            "dlwp_request_count_total",
            model="_unknown",
            version="",
            api="predict",
            protocol="rest",
            code="NOT_FOUND",
        )
        >= 20
    )
