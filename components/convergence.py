"""Training until validation stops improving (book 6.2.4 "scale up until it overfits").

A fit runs for an epoch budget with early stopping on the validation metric of success, and
restores the best epoch's weights. When the budget ends while validation is still improving
(early stopping has not fired), the budget doubles, up to `BUDGET_GROWTH` times the first one:
on small data the book's recipe is hundreds of epochs, and a budget chosen up front can be too
short.

    fit = fit_until_converged(model, x, y, validation_data=(vx, vy), metric="auc",
                              budget=Budget(epochs=20))
    fit.score, fit.convergence.stopped_by  # the best validation auc; "early_stopping"

A fit given a `phase` (`components.training_phases`) reports its epochs, writes TensorBoard's
events and is backed up, so that a killed Trainer resumes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from tensorflow_transform.keras_lib import tf_keras as keras

from components.models import HIGHER_IS_BETTER
from components.training_phases import Phase, Phases

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

    def get_state(self) -> dict[str, Any]:
        """The budget so far (for a resumed fit, `components.training_backup`)."""
        return {"epochs": self.epochs, "grown": self.grown}

    def set_state(self, state: dict[str, Any]) -> None:
        self.epochs, self.grown = int(state["epochs"]), bool(state["grown"])


class _StoppingState:
    """Early stopping's state, for a resumed fit: the best score, its epoch and weights, the
    epochs waited since."""

    def __init__(self, stopping: keras.callbacks.EarlyStopping):
        self.stopping = stopping

    def get_state(self) -> dict[str, Any]:
        s = self.stopping
        state = {"wait": s.wait, "best": float(s.best), "best_epoch": s.best_epoch}
        weights = s.best_weights
        return {**state, "stopped_epoch": s.stopped_epoch, "arrays": weights or []}

    def set_state(self, state: dict[str, Any]) -> None:
        s = self.stopping
        s.wait, s.best, s.best_epoch = int(state["wait"]), state["best"], int(state["best_epoch"])
        s.stopped_epoch = int(state["stopped_epoch"])
        s.best_weights = list(state["arrays"]) if state.get("arrays") else None


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
    phase: Phase | None = None,
    **fit_kwargs: Any,
) -> Fit:
    """Fits `model` until validation stops improving or the budget's cap, at the best weights.

    Args:
        model: a compiled Keras model reporting `metric`.
        x, y, validation_data: as `model.fit` takes them.
        metric: the Keras metric of success (accuracy, auc, mae).
        budget: the epoch budget.
        callbacks: more callbacks for every fit (pruning's).
        phase: the Trainer's phase this fit is (progress, TensorBoard, backup); default: none.
        **fit_kwargs: further `model.fit` arguments (batch_size).
    """
    stopping = early_stopping(metric, budget.patience)
    growing = _GrowingBudget(budget)

    def fit(initial_epoch: int, every: list[Any]) -> None:
        model.fit(
            x,
            y,
            validation_data=validation_data,
            epochs=budget.cap,
            initial_epoch=initial_epoch,
            callbacks=every,
            **{"verbose": 0, **fit_kwargs},
        )

    log = (phase or Phases().phase("fit", "fit")).fit(
        model,
        fit,
        [stopping, growing, *callbacks],
        {"early_stopping": _StoppingState(stopping), "budget": growing},
        epochs=budget.cap,
        total_epochs=lambda: growing.epochs,
    )
    history = log.history
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


def fit_for_epochs(
    model: Any,
    x: Any,
    y: Any = None,
    *,
    epochs: int,
    callbacks: Sequence[Any] = (),
    phase: Phase | None = None,
    **fit_kwargs: Any,
) -> dict[str, list[float]]:
    """Fits `model` for `epochs` (the final fit, on the pool); returns its history.

    Args: as `fit_until_converged`'s, with the epoch count instead of a budget.
    """

    def fit(initial_epoch: int, every: list[Any]) -> None:
        model.fit(
            x,
            y,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=every,
            **{"verbose": 0, **fit_kwargs},
        )

    log = (phase or Phases().phase("fit", "fit")).fit(model, fit, list(callbacks), {}, epochs)
    return log.history
