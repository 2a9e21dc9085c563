"""Class names and date inputs through the real server: predict returns `classes` beside
`class_ids`, classify answers `[[name, score], ...]` as TF Serving does for a classification
signature. The models (date_models.py) run the real Transform graph; expected values come from
Python's calendar and numpy, never from the server."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from named_models import (
    PRICEY,
    WEATHER,
    WEATHER_NAMES,
    pricey_scores,
    weather_scores,
    write_named_model,
)
from servers import running_server, settings_for
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc

from serving.errors import FailedPrecondition
from serving.examples import classifications

DATES = ["2012-01-10", "2012/04/02 08:00", "2013-07-30T23:59:59Z", ""]
EXPECTED = ["snow", "rain", "sun", "sun"]  # a missing date scores the three alike: the first


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    models, work = str(tmp_path_factory.mktemp("models")), str(tmp_path_factory.mktemp("work"))
    for model in (WEATHER, PRICEY):
        write_named_model(model, models, work)
    with running_server(settings_for(models_dir=models)) as running:
        yield running


@pytest.fixture
def rest(server):
    with server.client() as client:
        yield client


def test_predict_returns_the_predicted_class_name_beside_its_id(rest):
    instances = [{"rooms": 2.0, "sold": date} for date in DATES]
    response = rest.post("/v1/models/weather:predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["classes"] for p in predictions] == EXPECTED
    assert [WEATHER_NAMES[p["class_ids"]] for p in predictions] == EXPECTED
    np.testing.assert_allclose(
        [p["scores"] for p in predictions], weather_scores(DATES), rtol=1e-4, atol=1e-6
    )


def test_classify_pairs_every_class_name_with_its_score(rest):
    examples = [{"rooms": 2.0, "sold": date} for date in DATES[:3]] + [{"rooms": 2.0}]
    response = rest.post("/v1/models/weather:classify", json={"examples": examples})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [[name for name, _ in row] for row in results] == [list(WEATHER_NAMES)] * 4
    np.testing.assert_allclose(
        [[score for _, score in row] for row in results],
        weather_scores(DATES),
        rtol=1e-4,
        atol=1e-6,
    )


def test_binary_classify_names_both_classes(rest):
    rooms = [1.0, 3.2, 5.0]
    examples = [{"rooms": r, "sold": "2012-01-01"} for r in rooms]
    results = rest.post("/v1/models/pricey:classify", json={"examples": examples}).json()["results"]
    dear = pricey_scores(rooms)
    assert [[name for name, _ in row] for row in results] == [["cheap", "dear"]] * 3
    np.testing.assert_allclose(
        [[score for _, score in row] for row in results],
        np.stack([1 - dear, dear], axis=1),
        rtol=1e-4,
        atol=1e-6,
    )
    predictions = rest.post(
        "/v1/models/pricey:predict", json={"inputs": {"rooms": rooms, "sold": ["", "", ""]}}
    ).json()["outputs"]
    assert predictions["classes"] == ["cheap", "dear", "dear"]


def test_signatures_declare_the_class_names_as_strings(rest):
    signatures = rest.get("/v1/models/weather/metadata").json()["metadata"]["signature_def"][
        "signature_def"
    ]
    predict, classify = signatures["serving_default"], signatures["from_examples"]
    assert predict["inputs"]["sold"]["dtype"] == "DT_STRING"
    assert predict["outputs"]["classes"]["dtype"] == "DT_STRING"
    assert [d["size"] for d in predict["outputs"]["classes"]["tensor_shape"]["dim"]] == ["-1"]
    classes = classify["outputs"]["classes"]
    assert [d["size"] for d in classes["tensor_shape"]["dim"]] == ["-1", "3"]


def test_grpc_classify_and_predict_carry_the_names(server):
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name = "weather"
        example = request.input.example_list.examples.add()
        example.features.feature["rooms"].float_list.value.append(2.0)
        example.features.feature["sold"].bytes_list.value.append(b"2012-01-10")
        classes = stub.Classify(request, timeout=30).result.classifications[0].classes
        assert [c.label for c in classes] == list(WEATHER_NAMES)
        np.testing.assert_allclose(
            [c.score for c in classes], weather_scores(DATES[:1])[0], rtol=1e-4, atol=1e-6
        )
        predict = predict_pb2.PredictRequest()
        predict.model_spec.name = "weather"
        predict.inputs["rooms"].CopyFrom(tf.make_tensor_proto(np.array([2.0, 2.0], np.float32)))
        predict.inputs["sold"].CopyFrom(tf.make_tensor_proto(np.array([b"2012-07-01", b""])))
        outputs = stub.Predict(predict, timeout=30).outputs
        assert tf.make_ndarray(outputs["classes"]).tolist() == [b"sun", b"sun"]


def test_classes_that_do_not_pair_with_the_scores_cannot_classify():
    outputs = {"scores": np.array([[0.2, 0.8]]), "classes": np.array([[b"a", b"b", b"c"]])}
    with pytest.raises(FailedPrecondition, match="one class name per score"):
        classifications(outputs, 1)
