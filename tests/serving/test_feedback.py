"""The feedback log: sampled requests saved as training tf.Examples (serving/feedback.py)."""

import glob
import math
import os
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from prometheus_client import CollectorRegistry
from servers import running_server, settings_for, wait_for

from serving.feedback import FeedbackLogger


class _RawFeatures(tf.Module):
    """A model with dlwp's raw-feature signature: word indices padded with 0, a numeric column
    (NaN: missing) and a string column ("": missing)."""

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int64, name="words"),
            tf.TensorSpec([None], tf.float32, name="rooms"),
            tf.TensorSpec([None], tf.string, name="color"),
        ]
    )
    def serving_default(self, words, rooms, color):
        total = tf.cast(tf.reduce_sum(words, axis=1), tf.float32) / 100.0
        total += tf.where(tf.math.is_nan(rooms), 0.0, rooms)
        total += tf.cast(tf.strings.length(color), tf.float32)
        scores = tf.sigmoid(total - 3.0)
        return {"scores": scores, "class_ids": tf.cast(scores > 0.5, tf.int64)}


@pytest.fixture(scope="module")
def raw_models(tmp_path_factory) -> str:
    """A folder of models: `houses`, version 3, with the raw-feature signature."""
    base = tmp_path_factory.mktemp("raw-models")
    model = _RawFeatures()
    tf.saved_model.save(model, str(base / "houses" / "3"), signatures=model.serving_default)
    return str(base)


def read_feedback(folder: str) -> list[dict]:
    """Every logged example under `folder`, as {feature: list of values}."""
    examples = []
    for path in sorted(glob.glob(os.path.join(folder, "*", "*.tfrecord.gz"))):
        for record in tf.data.TFRecordDataset(path, "GZIP").as_numpy_iterator():
            features = tf.train.Example.FromString(record).features.feature
            examples.append(
                {name: list(getattr(f, f.WhichOneof("kind")).value) for name, f in features.items()}
            )
    return examples


def predict(server, instances: list[dict]) -> list[dict]:
    with server.client() as client:
        response = client.post("/v1/models/houses:predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_logged_examples_hold_the_inputs_as_training_data_and_the_answer(raw_models, tmp_path):
    feedback = str(tmp_path / "feedback")
    before = time.time() * 1000
    settings = settings_for(
        workers=1, models_dir=raw_models, feedback_rate=1.0, feedback_dir=feedback
    )
    with running_server(settings) as server:
        body = (  # NaN: a missing number, as TF Serving reads it; "": a missing string
            '{"instances": [{"words": [0, 0, 14, 22, 7], "rooms": 3.0, "color": "red"}, '
            '{"words": [0, 0, 0, 0, 5], "rooms": NaN, "color": ""}]}'
        )
        with server.client() as client:
            response = client.post("/v1/models/houses:predict", content=body)
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
    first, second = read_feedback(feedback)
    assert first["words"] == [14, 22, 7]  # without keras's 0 padding
    assert first["rooms"] == [3.0] and first["color"] == [b"red"]
    assert second["words"] == [5]
    assert "rooms" not in second and "color" not in second  # missing: left out, as in training
    for logged, answer in zip((first, second), predictions, strict=True):
        assert logged["prediction_scores"] == pytest.approx([answer["scores"]])
        assert logged["prediction_class_ids"] == [answer["class_ids"]]
        assert logged["model_version"] == [3]
        assert before <= logged["logged_at_ms"][0] <= time.time() * 1000
        assert "label" not in logged  # a person adds it
    assert glob.glob(os.path.join(feedback, "**", "*.partial"), recursive=True) == []


def test_sampling_keeps_about_the_rate_and_counts_what_it_wrote(raw_models, tmp_path):
    feedback = str(tmp_path / "feedback")
    settings = settings_for(
        workers=1, models_dir=raw_models, feedback_rate=0.25, feedback_dir=feedback
    )
    instances = [{"words": [1, 2, 3], "rooms": float(i), "color": "blue"} for i in range(100)]
    with running_server(settings) as server:
        for _ in range(4):
            predict(server, instances)
        registry = server.stack.metrics.registry
    logged = read_feedback(feedback)
    assert 60 <= len(logged) <= 140  # 400 examples at 0.25: 100 expected
    assert registry.get_sample_value("dlwp_feedback_examples_total", {"model": "houses"}) == len(
        logged
    )
    assert not registry.get_sample_value("dlwp_feedback_dropped_total", {"model": "houses"})


def test_feedback_is_off_by_default(raw_models, tmp_path):
    settings = settings_for(workers=1, models_dir=raw_models)
    with running_server(settings) as server:
        predict(server, [{"words": [1], "rooms": 1.0, "color": "red"}])
        observers = server.stack.backend.observers
    assert not any(isinstance(o, FeedbackLogger) for o in observers)


def observe(logger, n, model="houses", signature="serving_default"):
    inputs = {"rooms": np.arange(n, dtype=np.float32), "color": np.array([b"red"] * n, object)}
    logger.observe(model, 1, signature, inputs, {"predictions": np.ones(n, np.float32)})


def test_files_rotate_and_are_renamed_into_place_on_close(tmp_path):
    logger = FeedbackLogger(str(tmp_path), 1.0, rotate_examples=4)
    observe(logger, 10)
    observe(logger, 3, signature="from_examples")  # serialized examples: not raw features
    logger.close()
    files = sorted(f for f in os.listdir(tmp_path / "houses") if f.startswith("feedback-"))
    assert len(files) == 3 and all(f.endswith(".tfrecord.gz") for f in files)
    assert all(f.startswith("feedback-") and f"-{os.getpid()}." in f for f in files)
    assert [e["rooms"] for e in read_feedback(str(tmp_path))] == [[float(i)] for i in range(10)]


def test_an_open_file_is_partial_until_it_rotates(tmp_path):
    logger = FeedbackLogger(str(tmp_path), 1.0, rotate_s=1.0)
    observe(logger, 2)
    try:
        partial = wait_for(lambda: glob.glob(str(tmp_path / "houses" / "*.partial")), 10)
        assert len(partial) == 1 and partial[0].endswith(".tfrecord.gz.partial")
        renamed = partial[0].removesuffix(".partial")
        wait_for(
            lambda: os.path.exists(renamed) and not os.path.exists(partial[0]),
            10,
            "the rotated file renamed",
        )
    finally:
        logger.close()


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path, monkeypatch):
    registry = CollectorRegistry()
    logger = FeedbackLogger(str(tmp_path), 1.0, registry=registry, max_queue=5)
    release, busy = threading.Event(), threading.Event()
    write = logger._write

    def stuck_write(sampled):  # the disk is slow: the writer holds the first example
        busy.set()
        release.wait()
        write(sampled)

    monkeypatch.setattr(logger, "_write", stuck_write)
    observe(logger, 1)
    assert busy.wait(10)
    # Observed from a thread that the test does not have to wait for: if `observe` blocked on
    # the full queue, it would stay blocked until `release`, which comes only afterwards.
    returned = threading.Event()

    def observe_more():
        observe(logger, 50)
        returned.set()

    observing = threading.Thread(target=observe_more)
    observing.start()
    try:
        assert returned.wait(30), "observe blocked while the writer was stuck"
    finally:
        release.set()
        observing.join(30)
    logger.close()
    written = registry.get_sample_value("dlwp_feedback_examples_total", {"model": "houses"})
    dropped = registry.get_sample_value("dlwp_feedback_dropped_total", {"model": "houses"})
    assert (written, dropped) == (6, 45)
    assert len(read_feedback(str(tmp_path))) == 6


def test_sampling_is_seeded(tmp_path):
    logged = []
    for run in ("a", "b"):
        logger = FeedbackLogger(str(tmp_path / run), 0.3, seed=7)
        observe(logger, 200)
        logger.close()
        logged.append([e["rooms"] for e in read_feedback(str(tmp_path / run))])
    assert logged[0] == logged[1] and 30 <= len(logged[0]) <= 90


@pytest.mark.parametrize("rate", ["-0.1", "1.5"])
def test_serve_refuses_a_rate_outside_0_to_1(rate, capsys):
    from pipelines import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--feedback-rate", rate])
    assert exit_info.value.code == 2
    assert "--feedback-rate" in capsys.readouterr().err


def test_nan_is_not_a_float_left_in_the_log():
    from serving.feedback import to_feature

    assert to_feature(np.float32(math.nan)) is None
    assert to_feature(np.array(b"", object)) is None
    assert list(to_feature(np.array([0, 3, 0, 4]), padded=True).int64_list.value) == [3, 4]
    assert list(to_feature(np.array([0, 3, 0, 4])).int64_list.value) == [0, 3, 0, 4]  # pixels


def example_bytes(rooms: float) -> bytes:
    feature = tf.train.Feature(float_list=tf.train.FloatList(value=[rooms]))
    return tf.train.Example(
        features=tf.train.Features(feature={"rooms": feature})
    ).SerializeToString()


class _Trace:  # serving/request_ids.py's Trace: what the observer reads of it
    def __init__(self, request_id: str, arm: str = ""):
        self.request_id, self.arm = request_id, arm


def test_classify_and_regress_calls_log_the_examples_as_sent(tmp_path):
    logger = FeedbackLogger(str(tmp_path), 1.0)
    sent = [example_bytes(2.0), example_bytes(5.0)]
    scores = np.array([[0.9, 0.1], [0.3, 0.7]], np.float32)
    logger.observe(
        "houses",
        2,
        "from_examples",
        {"examples": np.array(sent, object)},
        {"scores": scores, "class_ids": np.array([0, 1])},
        _Trace("client-id-7", "v2"),
    )
    logger.close()
    logged = read_feedback(str(tmp_path))
    assert [e["rooms"] for e in logged] == [[2.0], [5.0]]
    assert [e["request_index"] for e in logged] == [[0], [1]]
    assert all(e["request_id"] == [b"client-id-7"] and e["arm"] == [b"v2"] for e in logged)
    assert [e["prediction_class_ids"] for e in logged] == [[0], [1]]
    # Multiclass margin: top score minus the second, recounted here.
    assert [e["margin"][0] for e in logged] == pytest.approx([0.8, 0.4], abs=1e-6)
    assert all(e["sampling_probability"] == [1.0] for e in logged)


def test_without_a_trace_each_call_gets_its_own_request_id(tmp_path):
    logger = FeedbackLogger(str(tmp_path), 1.0)
    observe(logger, 2)
    observe(logger, 1)
    logger.close()
    ids = [e["request_id"][0].decode() for e in read_feedback(str(tmp_path))]
    assert ids[0] == ids[1] != ids[2]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)  # uuid4().hex
    assert all("margin" not in e for e in read_feedback(str(tmp_path)))  # regression: none


def test_a_binary_margin_is_measured_from_the_versions_launch_threshold(tmp_path):
    version_dir = tmp_path / "models" / "spam" / "4"
    (version_dir / "assets.extra").mkdir(parents=True)
    (version_dir / "assets.extra" / "threshold.json").write_text('{"live": 0.8}')
    logger = FeedbackLogger(
        str(tmp_path / "feedback"),
        1.0,
        version_dir=lambda model, version: str(tmp_path / "models" / model / str(version)),
    )
    scores = np.array([0.75, 0.9, 0.0, 0.5], np.float32)
    inputs = {"rooms": np.arange(4, dtype=np.float32)}
    logger.observe("spam", 4, "serving_default", inputs, {"scores": scores})
    logger.close()
    logged = read_feedback(str(tmp_path / "feedback"))
    # |s - t| / max(t, 1 - t) with t = 0.8, and the class at the threshold.
    expected = np.abs(scores.astype(np.float64) - 0.8) / 0.8
    assert [e["margin"][0] for e in logged] == pytest.approx(expected.tolist(), abs=1e-6)
    from serving.feedback_index import FeedbackIndex

    rows = FeedbackIndex(str(tmp_path / "feedback" / "spam"), writable=False).find(
        logged[0]["request_id"][0].decode()
    )
    assert [r.prediction for r in rows] == [0.0, 1.0, 0.0, 0.0]
    assert {r.problem_type for r in rows} == {"binary"}


def test_serve_refuses_a_hard_rate_below_the_rate(capsys):
    from pipelines import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--feedback-rate", "0.2", "--feedback-hard-rate", "0.1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--feedback-hard-rate 0.1" in err and "--feedback-rate (0.2" in err


def test_the_clients_request_id_names_the_logged_examples(raw_models, tmp_path):
    from serving.feedback_index import FeedbackIndex

    feedback = str(tmp_path / "feedback")
    settings = settings_for(
        workers=1, models_dir=raw_models, feedback_rate=1.0, feedback_dir=feedback
    )
    instances = [{"words": [3], "rooms": 1.0, "color": "red"}] * 2
    with running_server(settings) as server, server.client() as client:
        response = client.post(
            "/v1/models/houses:predict",
            json={"instances": instances},
            headers={"X-Request-Id": "order-42"},
        )
        assert response.status_code == 200, response.text
    rows = FeedbackIndex(os.path.join(feedback, "houses"), writable=False).find("order-42")
    assert [(r.index, r.version, r.arm) for r in rows] == [(0, 3, ""), (1, 3, "")]
    assert [e["request_id"] for e in read_feedback(feedback)] == [[b"order-42"]] * 2
