"""The pushed model's signature names and output keys (components/signatures.py builds them;
serving/ reads them), and the one rule that turns scores into classes."""

from __future__ import annotations

import numpy as np

from contract.features import ProblemType

SERVING_DEFAULT = "serving_default"  # raw features in, one input per feature
FROM_EXAMPLES = "from_examples"  # serialized tf.Examples in (classify, regress, TFMA)
EXAMPLES_INPUT = "examples"

SCORES = "scores"  # class probabilities; for binary, of class 1
CLASS_IDS = "class_ids"
# Class names, when the task has them (TF Serving's classify reads them): in `serving_default`
# the name of the predicted class, string [n]; in `from_examples` every class name in class-id
# order, string [n, classes], zipped with `scores` (the shape of TF Serving's classification
# output; a binary model's single score is of the second name).
CLASSES = "classes"
PREDICTIONS = "predictions"  # regression

# A binary model predicts class 1 when its score exceeds this: the default launch threshold.
DECISION_THRESHOLD = 0.5
# The pushed SavedModel's attribute holding the launch threshold its signatures use (a float32
# variable: `tf.saved_model.load(dir).decision_threshold.numpy()`).
DECISION_THRESHOLD_ATTRIBUTE = "decision_threshold"


def prediction_key(problem_type: str) -> str:
    """The output TFMA and the exports' parity check read: scores, or regression values."""
    return PREDICTIONS if ProblemType(problem_type) is ProblemType.REGRESSION else SCORES


def classes_from_scores(
    problem_type: str, scores: np.ndarray, threshold: float = DECISION_THRESHOLD
) -> np.ndarray:
    """Class ids from a classifier's scores: score > `threshold` for binary (the score of
    class 1, [n] or [n, 1]), the arg max for multiclass ([n, classes]).

    Raises:
        ValueError: `problem_type` is regression (there are no classes) or unknown.
    """
    kind = ProblemType(problem_type)
    scores = np.asarray(scores, np.float64)
    if kind is ProblemType.BINARY:
        return (scores.reshape(-1) > threshold).astype(np.int64)
    if kind is ProblemType.MULTICLASS:
        return np.argmax(scores, axis=-1).astype(np.int64)
    raise ValueError("a regression model has no classes; read its predictions instead")
