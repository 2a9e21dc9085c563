"""A tiny TF.js export in the layout `dlwp run` publishes (seconds, no training).

`write_tiny_export(exports_dir, model)` writes

    <exports_dir>/<model>/latest.json             {"version": 1}
    <exports_dir>/<model>/1/golden.json           8 images and the SavedModel's own answers
    <exports_dir>/<model>/1/tfjs_float32/         the TF.js graph model

from a SavedModel with Fashion-MNIST's serving signature: `image` int64 [n, 784] (raw pixels)
-> `scores` float32 [n, 10] (a softmax of fixed random weights), `class_ids` int64 [n].
"""

import json
import os

import numpy as np
import tensorflow as tf

PIXELS = 784
CLASSES = 10


class _TinyClassifier(tf.Module):
    def __init__(self):
        super().__init__()
        weights = np.random.default_rng(0).normal(0.0, 0.1, (PIXELS, CLASSES))
        self.weights = tf.Variable(weights.astype(np.float32), trainable=False)

    @tf.function(input_signature=[tf.TensorSpec([None, PIXELS], tf.int64, name="image")])
    def serving_default(self, image):
        scaled = tf.cast(image, tf.float32) / 255.0 - 0.5
        scores = tf.nn.softmax(tf.matmul(scaled, self.weights))
        return {"scores": scores, "class_ids": tf.argmax(scores, axis=1)}


def write_saved_model(path: str) -> str:
    """Writes the tiny classifier as a SavedModel at `path`; returns `path`."""
    module = _TinyClassifier()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serving_default})
    return path


def saved_model_predict(path: str, images) -> dict[str, np.ndarray]:
    """The SavedModel's answers for rows of 784 pixels: {"scores": ..., "class_ids": ...}."""
    serve = tf.saved_model.load(path).signatures["serving_default"]
    outputs = serve(image=tf.constant(np.asarray(images, dtype=np.int64).reshape(-1, PIXELS)))
    return {name: value.numpy() for name, value in outputs.items()}


def write_tiny_export(exports_dir: str, model: str, saved_model_dir: str) -> dict:
    """Converts the SavedModel to TF.js and publishes version 1 of `model`; returns golden.json."""
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    version_dir = os.path.join(exports_dir, model, "1")
    convert_tf_saved_model(
        saved_model_dir,
        os.path.join(version_dir, "tfjs_float32"),
        signature_def="serving_default",
        saved_model_tags="serve",
    )
    images = np.random.default_rng(1).integers(0, 256, (8, PIXELS))
    outputs = saved_model_predict(saved_model_dir, images)
    golden = {
        "model": model,
        "version": 1,
        "input": "raw",
        "inputs": {"image": images.tolist()},
        # Labels unlike the predictions, so a test can tell which one the page shows where.
        "labels": [int(label) for label in (outputs["class_ids"] + 1) % CLASSES],
        "outputs": {name: value.tolist() for name, value in outputs.items()},
        "class_names": [f"class-{i}" for i in range(CLASSES)],
    }
    with open(os.path.join(version_dir, "golden.json"), "w") as f:
        json.dump(golden, f)
    with open(os.path.join(exports_dir, model, "latest.json"), "w") as f:
        json.dump({"version": 1}, f)
    return golden
