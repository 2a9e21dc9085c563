"""`roomy`: `pricey` of named_models.py (binary, "cheap" / "dear", score sigmoid(10 * z-scored
rooms)) with the `rooms` column alone, so that its raw form converts to TFLite and TF.js too;
saved as the Trainer saves a binary model with a launch threshold: `make_signatures(...,
threshold=T)`.

    version_dir = write_roomy_with_threshold(models_dir, work_dir, 0.8)   # <models>/roomy/1
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from named_models import PRICEY, write_named_model
from tensorflow_transform.keras_lib import tf_keras as keras

from components.signatures import make_signatures
from contract.features import Feature, FeatureKind

ROOMY = dataclasses.replace(
    PRICEY,
    name="roomy",
    task=dataclasses.replace(PRICEY.task, features=(Feature("rooms", FeatureKind.NUMERIC),)),
    spec={k: v for k, v in PRICEY.spec.items() if k != "sold"},
    train=[{k: v for k, v in row.items() if k != "sold"} for row in PRICEY.train],
    kernel=np.array([[10.0]], np.float32),  # the z-scored rooms
)
# Scores about 0.03, 0.59, 0.67, 0.97 and 1.0 (named_models.pricey_scores): two of them
# between 0.5 and 0.8.
ROOMS = [2.5, 3.05, 3.1, 3.5, 5.0]


def write_roomy_with_threshold(models_dir: str, work_dir: str, threshold: float) -> str:
    """`<models_dir>/roomy/1/` with `threshold`; its Transform graph and Keras model under
    `<work_dir>/roomy/` (`transform/`, `keras/`). Returns the version folder."""
    write_named_model(ROOMY, os.path.join(work_dir, "plain"), work_dir)
    work = os.path.join(work_dir, ROOMY.name)
    model = keras.models.load_model(os.path.join(work, "keras"), compile=False)
    tft_output = tft.TFTransformOutput(os.path.join(work, "transform"))
    version_dir = os.path.join(models_dir, ROOMY.name, "1")
    signatures = make_signatures(model, tft_output, ROOMY.task, threshold=threshold)
    tf.saved_model.save(model, version_dir, signatures=signatures)
    return version_dir
