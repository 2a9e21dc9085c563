"""A small raw-feature model with a drift reference, like a pushed dlwp CSV model: `rooms`
(numeric, ~ N(0, 1) in training) and `color` (categorical, red or blue, half and half) in, a
binary class out; plus a `slow` signature that keeps the model busy for a while.

Its drift reference is built by the pipeline's own code (components/drift_reference.py) and
written, with the schema beside it, as the Pusher publishes them (contract/version_assets.py).
"""

import json
import os

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.drift_reference import reference_from_inputs
from contract.drift_reference import DriftReference, write_reference
from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract
from contract.version_assets import ASSETS_EXTRA, REFERENCE_FILE, SCHEMA_FILE

MODEL = "houses"
COLORS = ["red", "blue"]
TASK = TaskContract(
    features=(Feature("rooms", FeatureKind.NUMERIC), Feature("color", FeatureKind.CATEGORICAL)),
    label="expensive",
    problem_type=ProblemType.BINARY,
    metric="accuracy",
    num_classes=2,
)


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


def schema() -> schema_pb2.Schema:
    """The curated schema: `color`'s domain is the two train colors; `rooms` has none."""
    houses = schema_pb2.Schema()
    houses.feature.add(name="rooms", type=schema_pb2.FLOAT)
    houses.feature.add(name="color", type=schema_pb2.BYTES).string_domain.value.extend(COLORS)
    houses.feature.add(name="expensive", type=schema_pb2.INT)
    return houses


def reference(seed: int = 0) -> DriftReference:
    """The drift reference the pipeline would build for this model: 5,000 train examples, and
    its predictions on 1,000 held-out ones."""
    rng = np.random.default_rng(seed)
    train = {"rooms": rng.normal(0, 1, 5000), "color": rng.choice(COLORS, 5000)}
    held_out_scores = 1 / (1 + np.exp(-rng.normal(0, 1, 1000)))  # the model's: sigmoid(rooms)
    return reference_from_inputs(train, TASK, schema(), held_out_scores)


def write_drift_assets(version_dir: str) -> None:
    """`<version_dir>/assets.extra/`: the drift reference and the schema beside it."""
    assets = os.path.join(version_dir, ASSETS_EXTRA)
    os.makedirs(assets, exist_ok=True)
    write_reference(reference(), os.path.join(assets, REFERENCE_FILE))
    with open(os.path.join(assets, SCHEMA_FILE), "w") as f:
        f.write(text_format.MessageToString(schema()))


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
    write_drift_assets(folder)
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
