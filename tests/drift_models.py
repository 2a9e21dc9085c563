"""A small raw-feature model with a drift reference, like a pushed dlwp CSV model: `rooms`
(numeric, ~ N(0, 1) in training) and `color` (categorical, red or blue, half and half) in, a
binary class out; plus a `slow` signature that keeps the model busy for a while."""

import json
import os

import numpy as np
import tensorflow as tf

from serving.drift_reference import REFERENCE_FILE

MODEL = "houses"
COLORS = ["red", "blue"]


class HouseModel(tf.Module):
    @tf.function(
        input_signature=[
            {
                "rooms": tf.TensorSpec([None], tf.float32, name="rooms"),
                "color": tf.TensorSpec([None], tf.string, name="color"),
            }
        ]
    )
    def serving_default(self, features):
        scores = tf.sigmoid(features["rooms"])
        return {"scores": scores, "class_ids": tf.cast(scores > 0.5, tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="iterations")])
    def slow(self, iterations):
        total = tf.while_loop(
            lambda i: i < iterations[0], lambda i: i + 1, [tf.constant(0, tf.int64)]
        )
        return {"iterations": tf.reshape(total, [1])}


def reference(seed: int = 0) -> dict:
    """The drift reference the Pusher would write for this model."""
    rng = np.random.default_rng(seed)
    return {
        "problem_type": "binary",
        "train_examples": 5000,
        "features": {
            "rooms": {
                "kind": "numeric",
                "domain": None,
                "series": {"value": rng.normal(0, 1, 5000).tolist()},
            },
            "color": {
                "kind": "categorical",
                "domain": {"values": COLORS},
                "series": {"value": rng.choice(COLORS, 5000).tolist()},
            },
        },
        "predictions": (rng.normal(0, 1, 1000) > 0).astype(int).tolist(),
    }


def write_house_model(models_dir: str, version: int = 1) -> str:
    """`<models_dir>/houses/<version>/` with its drift reference; returns the folder."""
    module = HouseModel()
    folder = os.path.join(models_dir, MODEL, str(version))
    tf.saved_model.save(
        module,
        folder,
        signatures={
            "serving_default": module.serving_default.get_concrete_function(),
            "slow": module.slow.get_concrete_function(),
        },
    )
    os.makedirs(os.path.join(folder, "assets.extra"))
    with open(os.path.join(folder, "assets.extra", REFERENCE_FILE), "w") as f:
        json.dump(reference(), f)
    return folder


def predict_body(rooms, colors) -> str:
    """A columnar :predict body; NaN (a missing number) written as TF Serving reads it."""
    body = {
        "inputs": {
            "rooms": [None if np.isnan(r) else float(r) for r in rooms],
            "color": list(colors),
        }
    }
    return json.dumps(body).replace("null", "NaN")
