"""The parity gate: an export is published only if its metric stays within a tolerance of the
SavedModel's on the test split (docs/exports.md).

Default tolerances: accuracy and AUC may drop at most 0.01 (1 point); MAE may grow at most 2 %
of the SavedModel's. Improvements always pass.
"""

import dataclasses

import numpy as np
from sklearn.metrics import roc_auc_score

from contract.features import ProblemType
from contract.signatures import DECISION_THRESHOLD, SCORES, classes_from_scores, prediction_key

ABSOLUTE_TOLERANCE = {"accuracy": 0.01, "auc": 0.01}
RELATIVE_TOLERANCE = {"mae": 0.02}
# A drop of exactly the tolerance passes; float rounding must not make it fail.
_ROUNDING = 1e-9


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a positive (label 1) outranks a negative
    (any other label), ties counting one half; NaN when the labels hold one class only, where
    scikit-learn raises instead."""
    positive = np.asarray(labels) == 1
    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, scores))


def score(metric: str, problem_type: str, outputs: dict, labels: np.ndarray) -> float:
    """The task's metric of success on the outputs of a model."""
    values = np.asarray(outputs[prediction_key(problem_type)], np.float64)
    if metric == "mae":
        return float(np.mean(np.abs(values.reshape(-1) - labels)))
    if metric == "auc":
        return roc_auc(values.reshape(-1), labels)
    return float(np.mean(np.argmax(values, axis=-1) == labels))


def predicted_classes(
    problem_type: str, outputs: dict, threshold: float = DECISION_THRESHOLD
) -> np.ndarray | None:
    """The predicted class of each example (None for regression); a binary model's at its
    launch threshold."""
    if ProblemType(problem_type) is ProblemType.REGRESSION:
        return None
    return classes_from_scores(problem_type, outputs[SCORES], threshold)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """How an export's outputs compare with the SavedModel's on the same examples."""

    metric: float
    delta: float  # export - SavedModel, in the metric's units
    agreement: float | None  # fraction of examples with the same predicted class
    max_abs_diff: float  # over the scores or predictions
    passed: bool
    reason: str | None


def compare(
    metric: str,
    problem_type: str,
    outputs: dict,
    reference: dict,
    labels: np.ndarray,
    tolerance: float | None = None,
    threshold: float = DECISION_THRESHOLD,
) -> Comparison:
    """Scores `outputs` and judges them against `reference` (the SavedModel's outputs); their
    agreement is on the classes at `threshold`, the SavedModel's launch threshold (binary)."""
    value = score(metric, problem_type, outputs, labels)
    expected = score(metric, problem_type, reference, labels)
    key = prediction_key(problem_type)
    difference = np.abs(
        np.asarray(outputs[key], np.float64).reshape(-1)
        - np.asarray(reference[key], np.float64).reshape(-1)
    )
    classes, expected_classes = (
        predicted_classes(problem_type, outputs, threshold),
        predicted_classes(problem_type, reference, threshold),
    )
    agreement = None if classes is None else float(np.mean(classes == expected_classes))
    delta = value - expected
    if metric in RELATIVE_TOLERANCE:
        allowed = RELATIVE_TOLERANCE[metric] if tolerance is None else tolerance
        worse = delta > allowed * expected + _ROUNDING
        limit = f"{allowed:.0%} of the SavedModel's {expected:.4f}"
    else:
        allowed = ABSOLUTE_TOLERANCE[metric] if tolerance is None else tolerance
        worse = -delta > allowed + _ROUNDING or np.isnan(value)
        limit = f"{allowed} below the SavedModel's {expected:.4f}"
    reason = f"{metric} {value:.4f} is more than {limit}" if worse else None
    return Comparison(
        metric=value,
        delta=float(delta),
        agreement=agreement,
        max_abs_diff=float(difference.max()) if difference.size else 0.0,
        passed=not worse,
        reason=reason,
    )
