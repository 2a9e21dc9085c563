"""The SavedModels a format is converted from, one per input form (docs/exports.md):

- raw: the pushed model, whose `serving_default` runs the Transform graph;
- transformed: the Keras model alone behind a `serving_default` that takes the transformed
  features, for runtimes that lack an op of the Transform graph; saved on first use.

A binary model's `class_ids` are `scores > threshold` in every source: the pushed model's
launch threshold (its `decision_threshold`; 0.5 for a version saved before it had one), so the
TFLite and TF.js files answer the classes the server does.

Exports answer with numbers only (`scores` and `class_ids`, or `predictions`): TF.js cannot
gather strings, so a pushed model's `classes` output (its class names) is left out of the raw
source too, and an app names the classes from golden.json's `class_names` (docs/exports.md).
"""

import os
from typing import Any

import tensorflow as tf
from tensorflow_transform.keras_lib import tf_keras as keras

from components.exporting.export_inputs import RAW, TRANSFORMED
from components.signatures import model_outputs, saved_threshold
from contract.signatures import (
    CLASSES,
    DECISION_THRESHOLD,
    SERVING_DEFAULT,
)
from contract.task import TaskContract

TRANSFORMED_SOURCE_DIR = "transformed_source"
RAW_SOURCE_DIR = "raw_source"


def raw_source(served_model_dir: str, target: str, loaded: Any) -> str:
    """The raw source: the pushed model itself when its outputs are all numbers; else, saved at
    `target` and returned, the pushed model with a `serving_default` that leaves out its
    `classes` output (the same raw inputs and Transform graph, numeric outputs only).

    Args:
        loaded: the pushed model at `served_model_dir`, as `tf.saved_model.load` gives it
            (the exporter loads it once, for its reference run too).
    """
    serving = loaded.signatures[SERVING_DEFAULT]
    if CLASSES not in serving.structured_outputs:
        return served_model_dir

    @tf.function(input_signature=[serving.structured_input_signature[1]])
    def serve(features):
        return {k: v for k, v in serving(**features).items() if k != CLASSES}

    module = tf.Module()
    module.served = loaded  # tracks the Transform graph's tables and assets
    tf.saved_model.save(module, target, signatures={SERVING_DEFAULT: serve.get_concrete_function()})
    return target


def save_transformed_source(
    keras_model_dir: str,
    tft_output: Any,
    task: TaskContract,
    target: str,
    threshold: float = DECISION_THRESHOLD,
) -> None:
    """Saves at `target` a SavedModel whose `serving_default` takes transformed features: the
    model alone, with the outputs of the pushed model's signatures (a binary model's
    `class_ids` at `threshold`, the pushed model's launch threshold)."""
    model = keras.models.load_model(keras_model_dir, compile=False)
    spec = tft_output.transformed_feature_spec()
    inputs = {
        feature.name: tf.TensorSpec(
            [None, *spec[feature.name].shape], spec[feature.name].dtype, name=feature.name
        )
        for feature in task.features
    }

    @tf.function(input_signature=[inputs])
    def serve(features):
        return model_outputs(task.problem_type, model(features), threshold)

    module = tf.Module()
    module.model = model
    tf.saved_model.save(module, target, signatures={SERVING_DEFAULT: serve.get_concrete_function()})


class ModelSources:
    """The pushed model, loaded once (`served`), and the source SavedModel of each input form;
    the raw and transformed ones are saved under `work_dir` the first time a format asks."""

    def __init__(
        self,
        served_model_dir: str,
        keras_model_dir: str,
        tft_output: Any,
        task: TaskContract,
        work_dir: str,
    ):
        self._keras_model_dir = keras_model_dir
        self._tft_output = tft_output
        self._task = task
        self._work_dir = work_dir
        self._served_model_dir = served_model_dir
        self._served: Any = None
        self._dirs: dict[str, str] = {}

    @property
    def threshold(self) -> float:
        """The pushed model's launch threshold (`decision_threshold`)."""
        return saved_threshold(self.served)

    @property
    def served(self) -> Any:
        """The pushed model, as `tf.saved_model.load` gives it (loaded on first use)."""
        if self._served is None:
            self._served = tf.saved_model.load(self._served_model_dir)
        return self._served

    def get(self, mode: str) -> str:
        """The SavedModel folder for input form `mode` (RAW or TRANSFORMED)."""
        if mode not in self._dirs:
            if mode == RAW:
                target = raw_source(
                    self._served_model_dir,
                    os.path.join(self._work_dir, RAW_SOURCE_DIR),
                    self.served,
                )
            elif mode == TRANSFORMED:
                target = os.path.join(self._work_dir, TRANSFORMED_SOURCE_DIR)
                save_transformed_source(
                    self._keras_model_dir, self._tft_output, self._task, target, self.threshold
                )
            else:
                raise ValueError(f"unknown input form {mode!r}; expected {RAW} or {TRANSFORMED}")
            self._dirs[mode] = target
        return self._dirs[mode]
