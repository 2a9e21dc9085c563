"""What the drift monitor watches, and the reference it compares with.

A model's raw features become a few interpretable series, never one per pixel or word:
- image (int pixels 0-255, [n, 784]): `mean_intensity` (mean pixel / 255) and `ink_fraction`
  (the fraction of pixels that are not background, > 0);
- sequence (word indices padded with 0, [n, length]): `length` (words) and `oov_rate` (the
  fraction of words outside the vocabulary: keras's out-of-vocabulary index 2, or an index past
  the schema's domain);
- numeric and categorical columns: the value itself (a missing value is counted as a schema
  anomaly, not as a value).
Predictions: the predicted class (classification) or the predicted value (regression).

The Pusher writes `assets.extra/drift_reference.json` with these series computed on a sample of
the train split, the eval set's predictions, and the feature domains of the schema
(`components/monitoring_reference.py`). Both sides call `feature_series`, so a series means
the same thing in training and in production.
"""

import json
import os

import numpy as np

REFERENCE_FILE = "drift_reference.json"
OOV_INDEX = 2  # keras.datasets' oov_char
NUMERIC_KINDS = {"mean_intensity", "ink_fraction", "length", "oov_rate"}


def series_name(feature: str, summary: str) -> str:
    """The `feature` label of a series: the feature, or `feature.summary`."""
    return feature if summary == "value" else f"{feature}.{summary}"


def feature_series(kind: str, values: np.ndarray, domain: dict | None = None) -> dict:
    """{summary name: one value per example} for one raw feature of a batch.

    Numeric values keep NaN for missing; categorical values are str, "" for missing.
    """
    values = np.asarray(values)
    if kind == "image":
        pixels = values.reshape(len(values), -1).astype(np.float64)
        return {
            "mean_intensity": pixels.mean(axis=1) / 255.0,
            "ink_fraction": (pixels > 0).mean(axis=1),
        }
    if kind == "sequence":
        words = values.reshape(len(values), -1)
        present = words != 0
        length = present.sum(axis=1)
        vocabulary = (domain or {}).get("max")
        oov = words == OOV_INDEX
        if vocabulary is not None:
            oov = oov | (words > vocabulary)
        return {
            "length": length.astype(np.float64),
            "oov_rate": np.where(
                length > 0, (oov & present).sum(axis=1) / np.maximum(length, 1), 0.0
            ),
        }
    if kind == "numeric":
        return {"value": values.reshape(-1).astype(np.float64)}
    return {"value": np.array([_text(v) for v in values.reshape(-1)], dtype=object)}


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def missing_mask(kind: str, values: np.ndarray) -> np.ndarray | None:
    """Examples whose value is missing (numeric NaN, categorical ""), for one-value features."""
    if kind == "numeric":
        return np.isnan(np.asarray(values, np.float64).reshape(-1))
    if kind == "categorical":
        return np.array([_text(v) == "" for v in np.asarray(values).reshape(-1)])
    return None


def out_of_domain(kind: str, values: np.ndarray, domain: dict | None) -> np.ndarray | None:
    """Examples with a value outside the schema's domain (a range, or a set of strings)."""
    if not domain:
        return None
    values = np.asarray(values)
    if "values" in domain:
        allowed = set(domain["values"])
        return np.array([_text(v) not in allowed and _text(v) != "" for v in values.reshape(-1)])
    numbers = values.reshape(len(values), -1).astype(np.float64)
    low, high = domain.get("min", -np.inf), domain.get("max", np.inf)
    if kind == "sequence":
        numbers = np.where(numbers == 0, low, numbers)  # padding is not a value
    with np.errstate(invalid="ignore"):
        return np.any((numbers < low) | (numbers > high), axis=1)


def predicted(problem_type: str, outputs: dict) -> np.ndarray | None:
    """The prediction series of a batch's outputs: class ids, or the regression values."""
    if problem_type == "regression":
        values = outputs.get("predictions")
        return None if values is None else np.asarray(values, np.float64).reshape(-1)
    classes = outputs.get("class_ids")
    return None if classes is None else np.asarray(classes).reshape(-1).astype(np.int64)


def predictions_from_scores(problem_type: str, scores: list) -> np.ndarray:
    """eval_predictions.json (the model's raw outputs) as the prediction series."""
    scores = np.asarray(scores, np.float64)
    if problem_type == "regression":
        return scores.reshape(-1)
    if problem_type == "binary":
        return (scores.reshape(-1) > 0.5).astype(np.int64)
    return np.argmax(scores, axis=-1)


def read_reference(version_dir: str) -> dict | None:
    """The reference of a pushed version, or None if it has none (pushed before issue 6)."""
    path = os.path.join(version_dir, "assets.extra", REFERENCE_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)
