"""Can the model overfit? (book 6.2.4: "to figure out how big a model you'll need, you must
develop a model that overfits"; book 5.3.3, listings 5.10-5.12: a model too small to overfit
gains from more capacity.)

A fit overfits when validation stopped improving (early stopping fired) while the training
score at the end is clearly better than the best validation score. A model that does not is
scaled once, twice the units per layer and one more layer, trained the same way, and the
better of the two by validation score is kept.

    fit, capacity = fit_with_capacity(lambda units: train(units), (16, 16), "auc")
    capacity.kept  # (16, 16), or (32, 32, 32) when that one validates better
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from components.convergence import EARLY_STOPPING, Fit, is_better
from components.models import HIGHER_IS_BETTER

# The training error must be this much (relative) below the best validation error. A model
# too small to overfit scores the same on both, up to the sampling noise of the validation
# set: two standard errors of a 25 % error rate on 150 rows, 2 * sqrt(0.25 * 0.75 / 150), are
# 0.07, over a quarter of it (a 1-unit net on 100-row folds was seen 10 % apart).
OVERFIT_GAP = 0.25


def _error(metric: str, score: float) -> float:
    """The metric as an error, lower is better: 1 - accuracy or 1 - auc, or the mae."""
    return 1.0 - score if HIGHER_IS_BETTER[metric] else score


def overfits(fit: Fit, metric: str) -> bool:
    """Whether `fit` reached overfitting: early stopping fired, and the training error at the
    end is at least `OVERFIT_GAP` (relative) below the best validation error."""
    if fit.convergence.stopped_by != EARLY_STOPPING:
        return False
    gap = (1.0 - OVERFIT_GAP) * _error(metric, fit.score)
    return _error(metric, fit.training_score) < gap


def scaled_units(hidden_units: tuple[int, ...]) -> tuple[int, ...]:
    """Twice the units per layer and one more layer (of the last layer's width)."""
    doubled = tuple(2 * units for units in hidden_units)
    return (*doubled, doubled[-1]) if doubled else (16,)


@dataclasses.dataclass(frozen=True)
class Capacity:
    """What the capacity check found: whether the first model overfit, whether a scaled one
    was tried, the architectures tried (hidden units) and the one kept."""

    overfits: bool
    scaled: bool
    tried: tuple[tuple[int, ...], ...]
    kept: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values (lists for the unit tuples)."""
        return {
            "overfits": self.overfits,
            "scaled": self.scaled,
            "tried": [list(units) for units in self.tried],
            "kept": list(self.kept),
        }


def fit_with_capacity(
    train: Callable[[tuple[int, ...]], Fit],
    hidden_units: tuple[int, ...],
    metric: str,
    budget_fixed: bool = False,
) -> tuple[Fit, Capacity]:
    """Trains `hidden_units`; when it does not overfit, trains the scaled model too and keeps
    the one with the better validation score (the first on a tie).

    Args:
        train: fits a fresh model of the given hidden units (on the same data, the same way).
        hidden_units: the task's architecture.
        metric: the Keras metric of success.
        budget_fixed: the user fixed the epoch budget (`--epochs`). A fit cut short by it
            cannot tell a model too small from one not trained long enough, so no scaled model
            is tried: a quick run stays quick.
    """
    first = train(hidden_units)
    if overfits(first, metric):
        return first, Capacity(True, False, (hidden_units,), hidden_units)
    if budget_fixed and first.convergence.stopped_by != EARLY_STOPPING:
        return first, Capacity(False, False, (hidden_units,), hidden_units)
    bigger = scaled_units(hidden_units)
    second = train(bigger)
    kept, units = (
        (second, bigger) if is_better(metric, second.score, first.score) else (first, hidden_units)
    )
    return kept, Capacity(False, True, (hidden_units, bigger), units)
