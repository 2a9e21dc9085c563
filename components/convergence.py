"""Training until validation stops improving (book 6.2.4 "scale up until it overfits").

A fit runs for an epoch budget with early stopping on the validation metric of success, and
restores the best epoch's weights. When the budget ends while validation is still improving
(early stopping has not fired), the budget doubles, up to `BUDGET_GROWTH` times the first one:
on small data the book's recipe is hundreds of epochs, and a budget chosen up front can be too
short.

    fit = fit_until_converged(model, x, y, validation_data=(vx, vy), metric="auc",
                              budget=Budget(epochs=20))
    fit.score, fit.convergence.stopped_by  # the best validation auc; "early_stopping"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from tensorflow_transform.keras_lib import tf_keras as keras

from components.models import HIGHER_IS_BETTER

PATIENCE = 5
BUDGET_GROWTH = 4  # the cap of a growing budget, in first budgets
EARLY_STOPPING = "early_stopping"
EPOCH_CAP = "epoch_cap"


def is_better(metric: str, score: float, than: float) -> bool:
    """Whether `score` is strictly better than `than` in `metric`."""
    return score > than if HIGHER_IS_BETTER[metric] else score < than


@dataclasses.dataclass(frozen=True)
class Budget:
    """How many epochs a fit may run.

    Attributes:
        epochs: the first budget (the task's maximum, or `--epochs`).
        grow: whether it may grow while validation improves (not when `--epochs` fixed it).
    """

    epochs: int
    grow: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"an epoch budget must be at least 1, got {self.epochs}")

    @property
    def cap(self) -> int:
        """The most epochs a fit may run."""
        return self.epochs * BUDGET_GROWTH if self.grow else self.epochs

    @property
    def patience(self) -> int:
        """Epochs without improvement before early stopping fires.

        5 for the book's short budgets (Fashion-MNIST, 20 epochs). A budget of hundreds of
        epochs is small data, where an epoch is a few steps and the validation score is noisy
        from one epoch to the next: there, 5 epochs stop on noise long before the book's
        Boston Housing curve flattens (book 4.3.4: after 120-140 of 500 epochs), so patience
        is a twentieth of the budget.
        """
        return max(PATIENCE, self.epochs // 20)


@dataclasses.dataclass(frozen=True)
class Convergence:
    """How a fit ended: `stopped_by` early stopping or the epoch cap, its budget at the end
    (`epoch_budget`, grown or not), the best epoch (1-based) and the epochs it ran."""

    stopped_by: str
    epoch_budget: int
    budget_grown: bool
    best_epoch: int
    epochs_run: int
    epoch_cap: int
    patience: int

    def to_json(self) -> dict[str, Any]:
        """The record's fields as JSON values."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Fit:
    """A model after `fit_until_converged`, at its best epoch's weights."""

    model: Any
    history: dict[str, list[float]]
    convergence: Convergence
    score: float  # the best validation score of the metric of success
    training_score: float  # the training score of the last epoch run


class _GrowingBudget(keras.callbacks.Callback):
    """Stops at the budget unless early stopping has not fired yet; then doubles the budget,
    up to the cap. Listed after the `EarlyStopping` it asks."""

    def __init__(self, budget: Budget):
        super().__init__()
        self.epochs = budget.epochs
        self.cap = budget.cap
        self.grown = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.model.stop_training or epoch + 1 < self.epochs:
            return
        if self.epochs < self.cap:
            self.epochs = min(2 * self.epochs, self.cap)
            self.grown = True
        else:
            self.model.stop_training = True


def early_stopping(metric: str, patience: int = PATIENCE) -> keras.callbacks.EarlyStopping:
    """Early stopping on the validation metric of success, restoring the best weights."""
    # The metric of success, not the loss: on Fashion-MNIST the validation loss turns up
    # epochs before the validation accuracy stops improving.
    return keras.callbacks.EarlyStopping(
        monitor=f"val_{metric}",
        mode="max" if HIGHER_IS_BETTER[metric] else "min",
        patience=patience,
        restore_best_weights=True,
    )


def fit_until_converged(
    model: Any,
    x: Any,
    y: Any = None,
    *,
    validation_data: Any,
    metric: str,
    budget: Budget,
    callbacks: Sequence[Any] = (),
    **fit_kwargs: Any,
) -> Fit:
    """Fits `model` until validation stops improving or the budget's cap, at the best weights.

    Args:
        model: a compiled Keras model reporting `metric`.
        x, y, validation_data: as `model.fit` takes them.
        metric: the Keras metric of success (accuracy, auc, mae).
        budget: the epoch budget.
        callbacks: more callbacks for every fit (pruning's).
        **fit_kwargs: further `model.fit` arguments (batch_size, verbose).
    """
    stopping = early_stopping(metric, budget.patience)
    growing = _GrowingBudget(budget)
    fit = model.fit(
        x,
        y,
        validation_data=validation_data,
        epochs=budget.cap,
        callbacks=[stopping, growing, *callbacks],
        **fit_kwargs,
    )
    history = {name: [float(v) for v in values] for name, values in fit.history.items()}
    epochs_run = len(history["loss"])
    best = stopping.best_epoch
    convergence = Convergence(
        stopped_by=EARLY_STOPPING if stopping.stopped_epoch > 0 else EPOCH_CAP,
        epoch_budget=growing.epochs,
        budget_grown=growing.grown,
        best_epoch=best + 1,
        epochs_run=epochs_run,
        epoch_cap=budget.cap,
        patience=budget.patience,
    )
    return Fit(
        model=model,
        history=history,
        convergence=convergence,
        score=history[f"val_{metric}"][best],
        training_score=history[metric][-1],
    )
