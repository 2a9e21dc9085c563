"""Uncertainty sampling for the feedback log (book 6.3.4: collect the hard samples for the next
model; docs/monitoring.md, "Feedback"): an example the model is unsure of is logged more often.

    sampler = UncertaintySampler(rate=0.01, hard_rate=0.2)
    scored = score_outputs("binary", outputs, threshold=0.5)
    p = sampler.probabilities(scored.margins, n)     # logged with probability p, recorded

An example of margin m (0: the hardest, 1: the surest) is logged with probability
`p = R + (H - R) * (1 - m)`. The margin of a multiclass answer is its top score minus the
second; of a binary one `|s - t| / max(t, 1 - t)` with t the version's launch threshold;
regression has none (p = R). Every example keeps a chance R > 0, so an audit that weighs each
labelled example by 1/p estimates the metric over all the traffic (the Hájek estimator).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from contract.features import ProblemType
from contract.signatures import CLASS_IDS, DECISION_THRESHOLD, PREDICTIONS, SCORES


@dataclasses.dataclass(frozen=True)
class UncertaintySampler:
    """The probability each example is logged with (module docstring).

    Attributes:
        rate: R, the base rate (`--feedback-rate`), in (0, 1].
        hard_rate: H, the rate of a margin-0 example (`--feedback-hard-rate`), R ≤ H ≤ 1;
            None: R (uniform sampling).
    """

    rate: float
    hard_rate: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 1:
            raise ValueError(f"the feedback rate {self.rate} must be above 0 and at most 1")
        if self.hard_rate is not None and not self.rate <= self.hard_rate <= 1:
            raise ValueError(
                f"the hard rate {self.hard_rate} must be between the feedback rate "
                f"{self.rate} and 1"
            )

    @property
    def hard(self) -> float:
        """H, the probability of a margin-0 example."""
        return self.rate if self.hard_rate is None else self.hard_rate

    def probabilities(self, margins: np.ndarray | None, n: int) -> np.ndarray:
        """The probability of each of `n` examples; `margins` None: all at the base rate."""
        if margins is None or self.hard == self.rate:
            return np.full(n, self.rate)
        margins = np.clip(np.nan_to_num(np.asarray(margins, np.float64), nan=0.0), 0.0, 1.0)
        return self.rate + (self.hard - self.rate) * (1.0 - margins)


def margins(problem_type: str, scores: np.ndarray, threshold: float = DECISION_THRESHOLD):
    """The margin of each answer, in [0, 1] (module docstring); None for regression.

    Args:
        problem_type: binary, multiclass or regression.
        scores: a binary model's score of class 1 ([n], [n, 1], or [n, 2] with class 1 last);
            a multiclass model's class probabilities [n, classes].
        threshold: a binary model's launch threshold.
    """
    kind = ProblemType(problem_type)
    if kind is ProblemType.REGRESSION:
        return None
    scores = np.asarray(scores, np.float64)
    if kind is ProblemType.BINARY:
        score = scores[:, -1] if scores.ndim == 2 else scores.reshape(-1)
        return np.clip(np.abs(score - threshold) / max(threshold, 1.0 - threshold), 0.0, 1.0)
    if scores.shape[-1] < 2:
        return np.ones(len(scores))
    top_two = np.sort(scores, axis=-1)[:, -2:]
    return np.clip(top_two[:, 1] - top_two[:, 0], 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class ScoredOutputs:
    """What the log records of a call's answers.

    Attributes:
        problem_type: binary, multiclass or regression; "" when the outputs are not a dlwp
            model's (then predictions are NaN and there are no margins).
        predictions: float [n]: the served class id, or the regression value.
        margins: float [n] in [0, 1], or None (regression, unknown).
    """

    problem_type: str
    predictions: np.ndarray
    margins: np.ndarray | None


def _problem_type(outputs: Mapping[str, np.ndarray]) -> str:
    """A model's problem type read from its outputs' shapes (a version without task.json)."""
    if SCORES in outputs:
        scores = np.asarray(outputs[SCORES])
        wide = scores.ndim == 2 and scores.shape[1] > 1
        return ProblemType.MULTICLASS.value if wide else ProblemType.BINARY.value
    if PREDICTIONS in outputs:
        return ProblemType.REGRESSION.value
    return ""


def score_outputs(
    problem_type: str | None,
    outputs: Mapping[str, np.ndarray],
    n: int,
    threshold: float = DECISION_THRESHOLD,
) -> ScoredOutputs:
    """The predictions and margins of a call's `n` answers.

    Args:
        problem_type: the version's (task.json), or None to read it from the outputs.
        outputs: the signature's outputs (`scores` and `class_ids`, or `predictions`).
        threshold: a binary model's launch threshold.
    """
    kind = problem_type or _problem_type(outputs)
    unknown = ScoredOutputs(kind, np.full(n, np.nan), None)
    try:
        if kind == ProblemType.REGRESSION.value and PREDICTIONS in outputs:
            values = np.asarray(outputs[PREDICTIONS], np.float64).reshape(n, -1)[:, 0]
            return ScoredOutputs(kind, values, None)
        if kind in (ProblemType.BINARY.value, ProblemType.MULTICLASS.value) and SCORES in outputs:
            scores = np.asarray(outputs[SCORES], np.float64).reshape(n, -1)
            found = margins(kind, scores, threshold)
            if CLASS_IDS in outputs:
                predictions = np.asarray(outputs[CLASS_IDS], np.float64).reshape(n)
            elif kind == ProblemType.BINARY.value:
                predictions = (scores[:, -1] > threshold).astype(np.float64)
            else:
                predictions = np.argmax(scores, axis=-1).astype(np.float64)
            return ScoredOutputs(kind, predictions, found)
    except ValueError:  # outputs of another shape than the task says: logged, unscored
        return unknown
    return unknown
