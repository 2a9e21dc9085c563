"""The Transform graph of numeric columns stays within TFLite's built-in ops: a table's TFLite
export then takes the raw columns (NaN for missing), not the transformed features
(docs/exports.md), and answers with the train statistics numpy computes."""

import numpy as np
import pytest
import tensorflow as tf
from named_models import NamedModel, write_named_model

from components.exporting import runtimes
from components.exporting.formats import FORMATS
from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract

NAN = float("nan")
AREA = [50.0, 80.0, None, 120.0, 65.5]  # float, with a missing cell
ROOMS = [1, 3, 2, None, 5]  # int64, with a missing cell
TAX = [310.0, 295.5, 402.0, 188.0, 250.0]  # fixed length, never missing
WEIGHTS = [1.0, 10.0, 100.0]  # the linear model's kernel: predictions show each z-score

TABLE = NamedModel(
    "table",
    TaskContract(
        tuple(Feature(name, FeatureKind.NUMERIC) for name in ("area", "rooms", "tax")),
        "label",
        ProblemType.REGRESSION,
        "mae",
    ),
    {
        "area": tf.io.VarLenFeature(tf.float32),
        "rooms": tf.io.VarLenFeature(tf.int64),
        "tax": tf.io.FixedLenFeature([1], tf.float32),
        "label": tf.io.FixedLenFeature([], tf.float32),
    },
    [
        {
            "area": [] if area is None else [area],
            "rooms": [] if rooms is None else [rooms],
            "tax": [tax],
            "label": 0.0,
        }
        for area, rooms, tax in zip(AREA, ROOMS, TAX, strict=True)
    ],
    np.array(WEIGHTS, np.float32).reshape(3, 1),
)


def _z(train, values):
    """numpy's z-score with the train cells' mean and population std; NaN (missing) is 0."""
    train = np.array([NAN if v is None else v for v in train], np.float64)
    z = (np.asarray(values, np.float64) - np.nanmean(train)) / np.nanstd(train)
    return np.where(np.isnan(z), 0.0, z)


def test_tflite_export_of_numeric_columns_takes_raw_values(tmp_path):
    version = write_named_model(TABLE, str(tmp_path / "models"), str(tmp_path / "work"))
    tflite = next(f for f in FORMATS if f.name == "tflite_float32")
    folder = str(tmp_path / "tflite")
    # Built-in ops only (formats.py): an op outside them fails the conversion here.
    tflite.convert(version, folder, lambda: iter([]))
    inputs = {
        "area": np.array([200.0, NAN, 80.0], np.float32),
        "rooms": np.array([NAN, 4.0, 1.0], np.float32),
        "tax": np.array([100.0, 402.0, 250.0], np.float32),
    }
    try:
        outputs, _ = runtimes.predict(tflite, folder, inputs)
    except runtimes.RuntimeUnavailableError as error:
        pytest.skip(str(error))
    expected = (
        WEIGHTS[0] * _z(AREA, inputs["area"])
        + WEIGHTS[1] * _z(ROOMS, inputs["rooms"])
        + WEIGHTS[2] * _z(TAX, inputs["tax"])
    )
    np.testing.assert_allclose(outputs["predictions"].reshape(-1), expected, rtol=1e-4, atol=1e-4)
