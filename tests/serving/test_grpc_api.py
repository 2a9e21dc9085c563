"""TF Serving's gRPC API with the official `tensorflow_serving.apis` client code, unchanged."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from saved_models import toy_scores
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

X = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, -0.5]], dtype=np.float32)


@pytest.fixture(scope="module")
def channel(toy_server):
    with grpc.insecure_channel(toy_server.grpc_address) as channel:
        yield channel


@pytest.fixture
def predictions(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def predict_request(x=X, model="toy", signature="serving_default"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
    return request


def test_predict_returns_tensor_protos(predictions):
    response = predictions.Predict(predict_request(), timeout=10)
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["scores"]), toy_scores(X, 1), rtol=1e-5
    )
    assert response.model_spec.name == "toy"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"


def test_predict_output_filter_and_pinned_version(predictions):
    request = predict_request()
    request.model_spec.version.value = 1
    request.output_filter.append("class_ids")
    response = predictions.Predict(request, timeout=10)
    assert list(response.outputs) == ["class_ids"]
    assert tf.make_ndarray(response.outputs["class_ids"]).tolist() == list(
        np.argmax(toy_scores(X, 1), axis=1)
    )


def test_classify_with_a_shared_context(predictions):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "toy"
    with_context = request.input.example_list_with_context
    with_context.context.features.feature["x"].float_list.value.extend(X[0])
    with_context.examples.add()
    with_context.examples.add()
    response = predictions.Classify(request, timeout=10)
    assert response.model_spec.signature_name == "from_examples"
    assert len(response.result.classifications) == 2
    classes = response.result.classifications[0].classes
    assert [c.label for c in classes] == ["0", "1"]
    np.testing.assert_allclose([c.score for c in classes], toy_scores(X[:1], 1)[0], rtol=1e-5)


def test_regress_on_a_named_signature(predictions):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "toy"
    request.model_spec.signature_name = "regress_examples"
    for x in X:
        request.input.example_list.examples.add().features.feature["x"].float_list.value.extend(x)
    response = predictions.Regress(request, timeout=10)
    np.testing.assert_allclose(
        [r.value for r in response.result.regressions], X.sum(axis=1), rtol=1e-6
    )


def test_get_model_metadata_packs_the_signature_def_map(predictions):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "toy"
    response = predictions.GetModelMetadata(request, timeout=10)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    x = signatures.signature_def["serving_default"].inputs["x"]
    assert x.dtype == tf.float32.as_datatype_enum
    assert response.model_spec.version.value == 1


def test_get_model_status(channel):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy"
    (status,) = stub.GetModelStatus(request, timeout=10).model_version_status
    assert status.version == 1
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE


@pytest.mark.parametrize(
    "request_of,code,words",
    [
        (lambda: predict_request(model="nope"), grpc.StatusCode.NOT_FOUND, ["nope"]),
        (
            lambda: predict_request(x=X.astype(np.float64)),
            grpc.StatusCode.INVALID_ARGUMENT,
            ["'x'", "DT_FLOAT", "float64"],
        ),
        (lambda: predict_request(x=X[:, :2]), grpc.StatusCode.INVALID_ARGUMENT, ["[-1, 3]"]),
        (lambda: predict_request(signature="nope"), grpc.StatusCode.INVALID_ARGUMENT, ["nope"]),
    ],
    ids=["unknown model", "wrong dtype", "wrong shape", "unknown signature"],
)
def test_errors_carry_tf_serving_status_codes(predictions, request_of, code, words):
    with pytest.raises(grpc.RpcError) as raised:
        predictions.Predict(request_of(), timeout=10)
    assert raised.value.code() == code
    for word in words:
        assert word in raised.value.details()
    assert predictions.Predict(predict_request(), timeout=10).outputs  # still serving
