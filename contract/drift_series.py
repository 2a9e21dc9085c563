"""What the drift monitor watches: a model's raw features as a few interpretable series, never
one per pixel or word, computed the same way on the train split (the reference) and on live
traffic (docs/monitoring.md).

- image (int pixels 0-255, [n, 784]): `mean_intensity` (mean pixel / 255) and `ink_fraction`
  (the fraction of pixels that are not background, > 0);
- sequence (word indices padded with 0, [n, length]): `length` (words) and `oov_rate` (the
  fraction of words outside the vocabulary: keras's out-of-vocabulary index 2, or an index past
  the schema's domain);
- numeric and categorical columns: the value itself (a missing value is counted as a schema
  anomaly, not as a value);
- date columns: the date as a fractional year (`2012-07-02` is 2012.5, contract/dates.py), so
  a shift in when the examples happen shows as numeric drift; a missing or unparsable date is
  NaN, counted as missing.
Predictions: the predicted class (classification) or the predicted value (regression).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from contract.dates import fractional_years
from contract.features import FeatureKind, ProblemType
from contract.schema_domains import Domain
from contract.signatures import CLASS_IDS, PREDICTIONS

OOV_INDEX = 2  # keras.datasets' oov_char
PREDICTION_SERIES = "predictions"


def series_name(feature: str, summary: str) -> str:
    """The `feature` label of a series: the feature, or `feature.summary`."""
    return feature if summary == "value" else f"{feature}.{summary}"


def is_numeric_series(kind: str) -> bool:
    """True when a kind's series are numbers (every kind but a categorical column)."""
    return FeatureKind(kind) is not FeatureKind.CATEGORICAL


def feature_series(
    kind: str, values: np.ndarray, domain: Domain | None = None
) -> dict[str, np.ndarray]:
    """{summary name: one value per example} for one raw feature of a batch.

    Numeric values keep NaN for missing; categorical values are str, "" for missing.
    """
    kind = FeatureKind(kind)
    values = np.asarray(values)
    if kind is FeatureKind.IMAGE:
        pixels = values.reshape(len(values), -1).astype(np.float64)
        return {
            "mean_intensity": pixels.mean(axis=1) / 255.0,
            "ink_fraction": (pixels > 0).mean(axis=1),
        }
    if kind is FeatureKind.SEQUENCE:
        words = values.reshape(len(values), -1)
        present = words != 0
        length = present.sum(axis=1)
        oov = words == OOV_INDEX
        if domain is not None and domain.max is not None:
            oov = oov | (words > domain.max)
        oov_rate = np.where(length > 0, (oov & present).sum(axis=1) / np.maximum(length, 1), 0.0)
        return {"length": length.astype(np.float64), "oov_rate": oov_rate}
    if kind is FeatureKind.NUMERIC:
        return {"value": values.reshape(-1).astype(np.float64)}
    if kind is FeatureKind.DATE:
        return {"value": fractional_years(values)}
    return {"value": np.array([_text(v) for v in values.reshape(-1)], dtype=object)}


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def missing_mask(kind: str, values: np.ndarray) -> np.ndarray | None:
    """Examples whose value is missing (numeric NaN, categorical "", a date that is "" or
    cannot be parsed: the model sees both as missing), for one-value features."""
    kind = FeatureKind(kind)
    if kind is FeatureKind.NUMERIC:
        return np.isnan(np.asarray(values, np.float64).reshape(-1))
    if kind is FeatureKind.CATEGORICAL:
        return np.array([_text(v) == "" for v in np.asarray(values).reshape(-1)])
    if kind is FeatureKind.DATE:
        return np.isnan(fractional_years(values))
    return None


def out_of_domain(kind: str, values: np.ndarray, domain: Domain | None) -> np.ndarray | None:
    """Examples with a value outside the schema's domain (a range, or a set of strings); none
    for dates, which are open-ended (a date after training is expected, not an anomaly)."""
    if domain is None or FeatureKind(kind) is FeatureKind.DATE:
        return None
    values = np.asarray(values)
    if domain.values is not None:
        allowed = set(domain.values)
        return np.array([_text(v) not in allowed and _text(v) != "" for v in values.reshape(-1)])
    numbers = values.reshape(len(values), -1).astype(np.float64)
    low = -np.inf if domain.min is None else domain.min
    high = np.inf if domain.max is None else domain.max
    if FeatureKind(kind) is FeatureKind.SEQUENCE:
        numbers = np.where(numbers == 0, low, numbers)  # padding is not a value
    with np.errstate(invalid="ignore"):
        return np.any((numbers < low) | (numbers > high), axis=1)


def predicted(problem_type: str, outputs: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The prediction series of a batch's outputs: class ids, or the regression values."""
    if ProblemType(problem_type) is ProblemType.REGRESSION:
        values = outputs.get(PREDICTIONS)
        return None if values is None else np.asarray(values, np.float64).reshape(-1)
    classes = outputs.get(CLASS_IDS)
    return None if classes is None else np.asarray(classes).reshape(-1).astype(np.int64)
