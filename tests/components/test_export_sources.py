"""The exports' source SavedModels when the pushed model names its classes: the raw source
keeps the Transform graph and the numbers, and leaves out the string `classes` output, which
TF.js cannot compute (named_models.py builds the models; expected values come from numpy)."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from named_models import GARMENTS, WEATHER, weather_scores, write_named_model

from components.exporting import runtimes
from components.exporting.export_inputs import RAW
from components.exporting.formats import FORMATS
from components.exporting.model_sources import ModelSources
from components.exporting.split_inputs import raw_inputs
from contract.signatures import CLASSES

DATES = ["2012-01-10", "", "2013-07-30 10:00"]


def _sources(model, tmp_path) -> tuple[ModelSources, str]:
    version = write_named_model(model, str(tmp_path / "models"), str(tmp_path / "work"))
    work = str(tmp_path / "work" / model.name)
    tft_output = tft.TFTransformOutput(os.path.join(work, "transform"))
    sources = ModelSources(
        version, os.path.join(work, "keras"), tft_output, model.task, str(tmp_path / "exports")
    )
    return sources, version


def _serve(folder: str, **inputs) -> dict[str, np.ndarray]:
    signature = tf.saved_model.load(folder).signatures["serving_default"]
    return {k: v.numpy() for k, v in signature(**inputs).items()}


def test_the_raw_source_answers_like_the_pushed_model_without_class_names(tmp_path):
    sources, version = _sources(WEATHER, tmp_path)
    raw = sources.get(RAW)
    assert raw != version
    inputs = {"rooms": tf.constant([1.0, 2.0, 3.0]), "sold": tf.constant(DATES)}
    outputs = _serve(raw, **inputs)
    assert set(outputs) == {"scores", "class_ids"}
    np.testing.assert_allclose(outputs["scores"], weather_scores(DATES), rtol=1e-4, atol=1e-6)
    assert _serve(version, **inputs)[CLASSES].tolist() == [b"snow", b"sun", b"sun"]


def test_tfjs_and_tflite_run_the_raw_form_of_a_model_with_class_names(tmp_path):
    sources, version = _sources(GARMENTS, tmp_path)
    images = np.random.default_rng(1).integers(0, 256, (6, 784)).astype(np.int64)
    expected = _serve(version, image=tf.constant(images))["scores"]
    for name in ("tflite_float32", "tfjs_float32"):
        export_format = next(f for f in FORMATS if f.name == name)
        folder = str(tmp_path / name)
        export_format.convert(sources.get(RAW), folder, lambda: iter([]))
        try:
            outputs, _ = runtimes.predict(export_format, folder, {"image": images})
        except runtimes.RuntimeUnavailableError as error:
            pytest.skip(str(error))
        assert CLASSES not in outputs
        np.testing.assert_allclose(outputs["scores"], expected, rtol=1e-4, atol=1e-6)


def test_a_date_column_reads_as_strings_with_empty_for_missing():
    def example(**features) -> bytes:
        feature = {
            k: tf.train.Feature(bytes_list=tf.train.BytesList(value=v)) for k, v in features.items()
        }
        return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

    serialized = [example(sold=[b"2012-01-10"]), example(), example(sold=[b"2013/07/30"])]
    inputs = raw_inputs(serialized, {"sold": tf.io.VarLenFeature(tf.string)}, [("sold", "date")])
    assert inputs["sold"].tolist() == [b"2012-01-10", b"", b"2013/07/30"]
