"""A binary model saved with a launch threshold of 0.8 (components/signatures.py's
`make_signatures(..., threshold=0.8)`, the Trainer's path) answers `class_ids = scores > 0.8`
through the real server, REST and gRPC, both signatures: rows scored between 0.5 and 0.8 are
class 0. The scores are numpy's (named_models.pricey_scores), never the server's."""

import base64
import os

import grpc
import numpy as np
import pytest
import tensorflow as tf
from named_models import pricey_scores
from servers import running_server, settings_for
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from threshold_models import ROOMS, ROOMY, write_roomy_with_threshold

THRESHOLD = 0.8


def expected_class_ids() -> list[int]:
    scores = pricey_scores(ROOMS)
    assert np.sum((scores > 0.5) & (scores <= THRESHOLD)) == 2  # the rows the threshold moves
    return (scores > THRESHOLD).astype(int).tolist()


def example(rooms: float) -> bytes:
    features = {"rooms": tf.train.Feature(float_list=tf.train.FloatList(value=[rooms]))}
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    """`roomy` version 1 saved as the Trainer saves it, with the launch threshold 0.8."""
    models, work = str(tmp_path_factory.mktemp("models")), str(tmp_path_factory.mktemp("work"))
    return write_roomy_with_threshold(models, work, THRESHOLD)


@pytest.fixture(scope="module")
def server(model_dir):
    models = os.path.dirname(os.path.dirname(model_dir))
    with running_server(settings_for(models_dir=models)) as running:
        yield running


def test_the_saved_model_carries_its_threshold(model_dir):
    loaded = tf.saved_model.load(model_dir)
    assert loaded.decision_threshold.dtype == tf.float32
    assert loaded.decision_threshold.numpy() == np.float32(THRESHOLD)
    assert not loaded.decision_threshold.trainable


def test_rest_predict_answers_class_ids_at_the_threshold(server):
    with server.client() as client:
        rows = [{"rooms": r} for r in ROOMS]
        response = client.post("/v1/models/roomy:predict", json={"instances": rows})
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
    np.testing.assert_allclose([p["scores"] for p in predictions], pricey_scores(ROOMS), rtol=1e-4)
    assert [p["class_ids"] for p in predictions] == expected_class_ids()
    names = [ROOMY.task.class_names[k] for k in expected_class_ids()]
    assert [p["classes"] for p in predictions] == names


def test_rest_predict_on_examples_answers_class_ids_at_the_threshold(server):
    body = {
        "signature_name": "from_examples",
        "instances": [{"b64": base64.b64encode(example(r)).decode()} for r in ROOMS],
    }
    with server.client() as client:
        response = client.post("/v1/models/roomy:predict", json=body)
    assert response.status_code == 200, response.text
    assert [p["class_ids"] for p in response.json()["predictions"]] == expected_class_ids()


def test_rest_classify_scores_the_rows_the_threshold_decides(server):
    # Classify answers [name, score] pairs, no class ids: the scores the threshold compares.
    with server.client() as client:
        response = client.post(
            "/v1/models/roomy:classify", json={"examples": [{"rooms": r} for r in ROOMS]}
        )
    assert response.status_code == 200, response.text
    dear = [dict(row)["dear"] for row in response.json()["results"]]
    np.testing.assert_allclose(dear, pricey_scores(ROOMS), rtol=1e-4)


def test_grpc_predict_answers_class_ids_at_the_threshold_on_both_signatures(server):
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        raw = predict_pb2.PredictRequest()
        raw.model_spec.name = "roomy"
        raw.inputs["rooms"].CopyFrom(tf.make_tensor_proto(np.array(ROOMS, np.float32)))
        examples = predict_pb2.PredictRequest()
        examples.model_spec.name = "roomy"
        examples.model_spec.signature_name = "from_examples"
        examples.inputs["examples"].CopyFrom(
            tf.make_tensor_proto(np.array([example(r) for r in ROOMS]))
        )
        for request in (raw, examples):
            outputs = stub.Predict(request, timeout=30).outputs
            assert tf.make_ndarray(outputs["class_ids"]).tolist() == expected_class_ids()
