"""A binary model's launch threshold: the score above which it predicts class 1, chosen on the
held-out eval predictions by a rule (docs/reports.md), never on test.

    rule = ThresholdRule("target_fpr", 0.05)
    live = choose_threshold(eval_labels, eval_scores, rule)   # class_ids = scores > live
    rates_at(eval_labels, eval_scores, live)                  # {"fpr": ..., "recall": ...}

Rules: `threshold` T (the value itself; default 0.5), `target_fpr` F (the highest recall whose
false-positive rate is at most F), `target_recall` R (the highest threshold whose recall is at
least R).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, roc_curve

from contract.signatures import DECISION_THRESHOLD

THRESHOLD, TARGET_FPR, TARGET_RECALL = "threshold", "target_fpr", "target_recall"
RULE_KINDS = (THRESHOLD, TARGET_FPR, TARGET_RECALL)
# In the model run of a binary task: the launch threshold, its rule and its eval rates.
THRESHOLD_FILE = "threshold.json"
# Where the launch threshold is chosen: the held-out eval predictions (never test).
CHOSEN_ON_EVAL = "eval"


@dataclasses.dataclass(frozen=True)
class ThresholdRule:
    """How the launch threshold is chosen: `kind` (one of RULE_KINDS) and its `value`."""

    kind: str = THRESHOLD
    value: float = DECISION_THRESHOLD

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ValueError(
                f"unknown threshold rule {self.kind!r}; expected one of {', '.join(RULE_KINDS)}"
            )

    def to_json(self) -> dict[str, Any]:
        """`{"kind": ..., "value": ...}`, as threshold.json and the Trainer's config hold it."""
        return {"kind": self.kind, "value": float(self.value)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ThresholdRule:
        """The rule `to_json` wrote."""
        return cls(value["kind"], float(value["value"]))

    def describe(self) -> str:
        """The rule in words, for a progress line: `target FPR 0.05`."""
        words = {THRESHOLD: "threshold", TARGET_FPR: "target FPR", TARGET_RECALL: "target recall"}
        return f"{words[self.kind]} {self.value:g}"


def _binary(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels as booleans (class 1) and scores as float64, checked.

    Raises:
        ValueError: the lengths differ, a label is not 0 or 1, or one class is missing.
    """
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(f"{labels.size} labels for {scores.size} scores; give one label per score")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"binary labels are 0 or 1, got {sorted(set(labels.tolist()) - {0, 1})[:5]}"
        )
    positives = int(labels.sum())
    if positives in (0, labels.size):
        missing = "positive (label 1)" if positives == 0 else "negative (label 0)"
        raise ValueError(
            f"the {labels.size} examples hold no {missing} example, so false-positive rate and "
            "recall are undefined: add examples of both classes (more rows, or --kfold-repeats "
            "on small data)"
        )
    return labels == 1, scores


def rates_at(labels: Any, scores: Any, threshold: float) -> dict[str, float]:
    """The error rates of `class_ids = scores > threshold` against `labels` (0 or 1).

    Returns:
        `fpr` (false positives / negatives), `fnr` (false negatives / positives), `recall`
        (true positives / positives) and `precision` (true positives / flagged; 0.0 when
        nothing is flagged).

    Raises:
        ValueError: the labels are not 0 or 1, or hold one class only.
    """
    positive, scores = _binary(labels, scores)
    flagged = scores > threshold
    tn, fp, fn, tp = confusion_matrix(positive, flagged, labels=[False, True]).ravel()
    return {
        "fpr": float(fp / (fp + tn)),
        "fnr": float(fn / (fn + tp)),
        "recall": float(tp / (tp + fn)),
        "precision": float(tp / (tp + fp)) if tp + fp else 0.0,
    }


def _below(cut: float, scores: np.ndarray) -> float:
    """A threshold t with `scores > t` exactly the scores >= `cut`: midway to the next lower
    score, as a float32 where one lies there (the SavedModel compares float32 scores with a
    float32 threshold); just below `cut` when no score is lower."""
    lower = scores[scores < cut]
    if not lower.size:
        return float(np.nextafter(np.float32(cut), np.float32(-np.inf)))
    low = float(lower.max())
    # Adjacent float32 scores have no float32 between them: then the lower one itself.
    for candidate in (np.float32((cut + low) / 2), np.float32(low)):
        if low <= candidate < cut:
            return float(candidate)
    return low


def choose_threshold(labels: Any, scores: Any, rule: ThresholdRule) -> float:
    """The launch threshold of `rule` on held-out `labels` (0 or 1) and `scores` (of class 1);
    the model predicts class 1 when its score is strictly above it.

    `target_fpr` F: of the operating points whose false-positive rate is at most F, the one of
    highest recall; `target_recall` R: the highest threshold whose recall is at least R. Both
    return a float32 value midway between two eval scores, so that the eval rates at it are
    those of the chosen point.

    Raises:
        ValueError: (target rules) the labels hold one class only, or no threshold with
            FPR <= F flags any positive example.
    """
    if rule.kind == THRESHOLD:
        return float(rule.value)
    positive, scores = _binary(labels, scores)
    # roc_curve's points flag `scores >= thresholds[i]`, thresholds descending (the first is
    # +inf: nothing flagged); every distinct score is a point.
    fpr, tpr, cuts = roc_curve(positive, scores, drop_intermediate=False)
    if rule.kind == TARGET_FPR:
        allowed = np.flatnonzero((fpr <= rule.value) & (tpr > 0))
        if not allowed.size:
            lowest = float(fpr[tpr > 0].min())
            raise ValueError(
                f"no threshold reaches a false-positive rate of at most {rule.value:g} on the "
                f"{positive.size} eval examples while flagging any positive one (the lowest is "
                f"{lowest:.3f}): raise --target-fpr, or choose --threshold or --target-recall"
            )
        point = allowed[np.argmax(tpr[allowed])]  # the first: the highest cut of that recall
    else:
        # Recall counted as rates_at counts it, so that the eval rates reported agree.
        recall = np.array([np.sum(positive & (scores >= c)) for c in cuts]) / positive.sum()
        point = np.flatnonzero(recall >= rule.value)[0]  # cuts descend: the highest
    return _below(float(cuts[point]), scores)
