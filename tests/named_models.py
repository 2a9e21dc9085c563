"""Small dlwp models with class names, built as the Trainer builds them: the real Transform
step (components/preprocessing.py), the model of components/models.py and the signatures of
components/signatures.py; no training, the weights are set by hand so that the answer is known.

- `weather` (multiclass, "sun", "rain", "snow"; `rooms` numeric and `sold` a date): logits
  10 * (-cos, sin, cos) of the month's angle (January is snow, April rain, July sun); a
  missing date scores the three alike.
- `pricey` (binary, "cheap", "dear"; the same inputs): score sigmoid(10 * z-scored rooms).
- `garments` (multiclass, ten names; `image` pixels): logits of fixed random weights.

    write_named_model(GARMENTS, models_dir, work_dir)   # <models_dir>/garments/1/
"""

import dataclasses
import datetime
import math
import os
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from components.models import ModelConfig, build_model
from components.preprocessing import preprocessing_fn, transform_config
from components.signatures import make_signatures
from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract

TRAIN_ROOMS = [1.0, 2.0, 3.0, 4.0, 5.0]
WEATHER_NAMES = ("sun", "rain", "snow")
GARMENT_NAMES = tuple(f"garment-{k}" for k in range(10))
_HOUSE_SPEC = {
    "rooms": tf.io.VarLenFeature(tf.float32),
    "sold": tf.io.VarLenFeature(tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
}
_HOUSES = [
    {"rooms": [rooms], "sold": [f"201{k}-0{k + 1}-15"], "label": k % 2}
    for k, rooms in enumerate(TRAIN_ROOMS)
]
_HOUSE_FEATURES = (Feature("rooms", FeatureKind.NUMERIC), Feature("sold", FeatureKind.DATE))


def _weather_kernel() -> np.ndarray:
    kernel = np.zeros((8, 3), np.float32)  # rooms, then the date's year, sin/cos of month, ...
    kernel[3] = [-10.0, 0.0, 10.0]  # cos of the month
    kernel[2, 1] = 10.0  # sin of the month
    return kernel


def _pricey_kernel() -> np.ndarray:
    kernel = np.zeros((8, 1), np.float32)
    kernel[0, 0] = 10.0  # z-scored rooms
    return kernel


@dataclasses.dataclass(frozen=True)
class NamedModel:
    """A model to write: its name, task, raw feature spec, train rows and output kernel."""

    name: str
    task: TaskContract
    spec: dict[str, Any]
    train: list[dict[str, Any]]
    kernel: np.ndarray


WEATHER = NamedModel(
    "weather",
    TaskContract(_HOUSE_FEATURES, "label", ProblemType.MULTICLASS, "accuracy", 3, WEATHER_NAMES),
    _HOUSE_SPEC,
    _HOUSES,
    _weather_kernel(),
)
PRICEY = NamedModel(
    "pricey",
    TaskContract(_HOUSE_FEATURES, "label", ProblemType.BINARY, "auc", 2, ("cheap", "dear")),
    _HOUSE_SPEC,
    _HOUSES,
    _pricey_kernel(),
)
GARMENTS = NamedModel(
    "garments",
    TaskContract(
        (Feature("image", FeatureKind.IMAGE),),
        "label",
        ProblemType.MULTICLASS,
        "accuracy",
        10,
        GARMENT_NAMES,
    ),
    {"image": tf.io.FixedLenFeature([784], tf.int64), "label": tf.io.FixedLenFeature([], tf.int64)},
    [{"image": [k * 50] * 784, "label": k} for k in range(3)],
    np.random.default_rng(0).normal(0.0, 0.1, (784, 10)).astype(np.float32),
)


def _transform(model: NamedModel, folder: str) -> tft.TFTransformOutput:
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(model.spec))
    config = transform_config(model.task)
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=os.path.join(folder, "tmp")):
        train = pipeline | beam.Create(model.train)
        transform_fn = (train, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, config)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(folder)
    # The raw features' spec, which TFX's Transform writes beside the graph.
    metadata_io.write_metadata(
        metadata, os.path.join(folder, tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    return tft.TFTransformOutput(folder)


def write_named_model(model: NamedModel, models_dir: str, work_dir: str) -> str:
    """`<models_dir>/<name>/1/` (the SavedModel as the Trainer saves it) and, under
    `<work_dir>/<name>/`, its Transform graph and Keras model; returns the version folder."""
    task = model.task
    tft_output = _transform(model, os.path.join(work_dir, model.name, "transform"))
    keras_model = build_model(
        ModelConfig(
            features=tuple((f.name, f.kind) for f in task.features),
            problem_type=task.problem_type,
            num_classes=task.num_classes,
            hidden_units=(),
        )
    )
    keras_model.layers[-1].set_weights([model.kernel, np.zeros(model.kernel.shape[1], np.float32)])
    keras_model.save(os.path.join(work_dir, model.name, "keras"), include_optimizer=False)
    version_dir = os.path.join(models_dir, model.name, "1")
    signatures = make_signatures(keras_model, tft_output, task)
    tf.saved_model.save(keras_model, version_dir, signatures=signatures)
    return version_dir


def weather_scores(dates: list[str]) -> np.ndarray:
    """What `weather` answers, from Python's calendar: softmax of 10 * (-cos, sin, cos) of
    2π (month - 1) / 12; uniform for an empty date."""
    rows = []
    for text in dates:
        if not text:
            rows.append([0.0, 0.0, 0.0])
            continue
        month = datetime.date.fromisoformat(text[:10].replace("/", "-")).month
        angle = 2 * math.pi * (month - 1) / 12
        rows.append([-10 * math.cos(angle), 10 * math.sin(angle), 10 * math.cos(angle)])
    logits = np.array(rows)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def pricey_scores(rooms: list[float]) -> np.ndarray:
    """What `pricey` answers: sigmoid(10 * (rooms - train mean) / train std)."""
    z = (np.array(rooms) - np.mean(TRAIN_ROOMS)) / np.std(TRAIN_ROOMS)
    return 1 / (1 + np.exp(-10 * z))
