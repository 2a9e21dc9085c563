"""The exports answer class ids at the pushed model's launch threshold: TFLite from the raw
and the transformed sources, TF.js (in Node) from the transformed one (its graph runtime lacks
the raw form's dynamic ops on a numeric column), for `roomy` saved with the threshold 0.8
(threshold_models.py); a model saved before it had a threshold exports at 0.5. Expected class
ids come from numpy's scores (named_models.pricey_scores)."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from named_models import pricey_scores
from threshold_models import ROOMS, ROOMY, write_roomy_with_threshold

from components.exporting import runtimes
from components.exporting.export_inputs import RAW, TRANSFORMED
from components.exporting.formats import FORMATS
from components.exporting.model_sources import ModelSources
from components.exporting.parity import compare
from components.exporting.split_inputs import transformed_inputs
from components.signatures import saved_threshold

THRESHOLD = 0.8


@pytest.fixture(scope="module")
def roomy(tmp_path_factory) -> tuple[ModelSources, tft.TFTransformOutput]:
    """The export sources of `roomy` saved with the threshold 0.8, and its Transform graph."""
    root = tmp_path_factory.mktemp("roomy")
    version = write_roomy_with_threshold(str(root / "models"), str(root / "work"), THRESHOLD)
    work = str(root / "work" / ROOMY.name)
    tft_output = tft.TFTransformOutput(os.path.join(work, "transform"))
    sources = ModelSources(
        version, os.path.join(work, "keras"), tft_output, ROOMY.task, str(root / "sources")
    )
    return sources, tft_output


def _example(rooms: float) -> bytes:
    features = {"rooms": tf.train.Feature(float_list=tf.train.FloatList(value=[rooms]))}
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def _inputs(tft_output: tft.TFTransformOutput, mode: str) -> dict[str, np.ndarray]:
    if mode == RAW:
        return {"rooms": np.array(ROOMS, np.float32)}
    features = [(f.name, str(f.kind)) for f in ROOMY.task.features]
    return transformed_inputs([_example(r) for r in ROOMS], tft_output, features)


def _expected() -> list[int]:
    scores = pricey_scores(ROOMS)
    assert np.sum((scores > 0.5) & (scores <= THRESHOLD)) == 2  # the rows the threshold moves
    return (scores > THRESHOLD).astype(int).tolist()


def test_the_sources_read_the_pushed_models_threshold(roomy, tmp_path):
    sources, _ = roomy
    assert sources.threshold == float(np.float32(THRESHOLD))
    older = tf.Module()  # a version saved before models carried their threshold
    older.scale = tf.Variable(2.0)
    tf.saved_model.save(older, str(tmp_path / "older"))
    assert saved_threshold(tf.saved_model.load(str(tmp_path / "older"))) == 0.5


@pytest.mark.parametrize(
    "name, mode",
    [
        ("tflite_float32", RAW),
        ("tflite_float32", TRANSFORMED),
        ("tfjs_float32", TRANSFORMED),
    ],
)
def test_an_export_answers_class_ids_at_the_launch_threshold(roomy, tmp_path, name, mode):
    sources, tft_output = roomy
    export_format = next(f for f in FORMATS if f.name == name)
    folder = str(tmp_path / name)
    export_format.convert(sources.get(mode), folder, lambda: iter([]))
    outputs, _ = runtimes.predict(export_format, folder, _inputs(tft_output, mode))
    np.testing.assert_allclose(outputs["scores"], pricey_scores(ROOMS), rtol=1e-4)
    assert np.asarray(outputs["class_ids"]).astype(int).tolist() == _expected()


def test_parity_agreement_counts_classes_at_the_launch_threshold():
    labels = np.array([0, 1, 1])
    reference = {"scores": np.array([0.1, 0.7, 0.9])}
    export = {"scores": np.array([0.1, 0.4, 0.9])}  # 0.7 -> 0.4: class 0 either way at 0.8
    assert compare("auc", "binary", export, reference, labels, threshold=0.8).agreement == 1.0
    assert compare("auc", "binary", export, reference, labels).agreement == pytest.approx(2 / 3)
