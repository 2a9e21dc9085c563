"""The evaluation protocols (book 5.2.1 and 6.2.2): hold-out, and iterated K-fold for small data.

Both train with `components.convergence` (early stopping, a budget that grows while
validation improves) and check capacity once with `components.capacity`, then fit the final
model from scratch on every non-test row (the pool: train + eval) for the epochs found. No
reported number and no monitoring reference comes from rows a model was fit on:

- hold-out: the score and predictions on eval are those of the model fit on train alone,
  never of the final model, which also saw eval;
- K-fold: folds shuffled with the seed, stratified for classification, repeated P times with
  a new shuffle (iterated K-fold, book 5.2.1); the score is the mean of the P x K fold scores,
  and the predictions are out of fold: each pool row predicted by the fold models that did not
  see it, averaged over the repeats.

They take a `build(hidden_units)` function and data (datasets or arrays), not TFX's `fn_args`,
and a `components.training_phases.Phases` that names each fit (its progress lines, TensorBoard
folder and backup): "search" (and "capacity", the scaled model) and "final" for hold-out,
"fold-<i>" (and "fold-1-capacity") and "final" for K-fold.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from components.capacity import Capacity, fit_with_capacity
from components.convergence import (
    EARLY_STOPPING,
    EPOCH_CAP,
    Budget,
    Fit,
    fit_for_epochs,
    fit_until_converged,
)
from components.errors import BadDataError
from components.training_phases import Phases

K_FOLDS = 4
KFOLD = "kfold"  # the task spec's protocol name; any other is hold-out

Features = dict[str, np.ndarray]
Build = Callable[[tuple[int, ...]], Any]


@dataclasses.dataclass(frozen=True)
class ProtocolResult:
    """What a protocol gives the Trainer.

    Attributes:
        model: the final model, fit on the whole pool.
        epochs: the epochs it was fit for.
        eval_score: the validation score (hold-out) or the mean fold score (K-fold).
        eval_predictions: the held-out outputs: on eval (hold-out) or out of fold (K-fold).
        eval_labels: the labels of the rows of `eval_predictions`, in their order.
        folds: the P x K fold scores (K-fold), else None.
        convergence: how training ended (`components.convergence.Convergence` fields; K-fold
            adds `best_epochs`, one per fold).
        capacity: the capacity check (`components.capacity.Capacity.to_json()`).
        history: the curves and the fits' histories, for `history.json`.
    """

    model: Any
    epochs: int
    eval_score: float
    eval_predictions: np.ndarray
    eval_labels: np.ndarray
    folds: list[float] | None
    convergence: dict[str, Any]
    capacity: dict[str, Any]
    history: dict[str, Any]

    @property
    def fold_mean(self) -> float | None:
        """The mean of the fold scores (K-fold), else None."""
        return float(np.mean(self.folds)) if self.folds else None

    @property
    def fold_std(self) -> float | None:
        """Their standard deviation (K-fold; numpy's, as scikit-learn's cross-validation
        reports it), else None."""
        return float(np.std(self.folds)) if self.folds else None


def _capacity_history(fits: Sequence[Fit], capacity: Capacity) -> dict[str, Any]:
    return {"capacity_fits": [fit.history for fit in fits]} if capacity.scaled else {}


def _xy(data: Any) -> tuple[Any, Any]:
    """`model.fit`'s x and y of a dataset of (features, label) batches or (features, labels)."""
    return (data[0], data[1]) if isinstance(data, tuple) else (data, None)


def _inputs(data: Any) -> Any:
    """The features alone, for `model.predict`."""
    return data[0] if isinstance(data, tuple) else data.map(lambda x, y: x)


def _labels(data: Any) -> np.ndarray:
    """The labels alone, in the order `model.predict(_inputs(data))` answers (the eval
    dataset is not shuffled)."""
    if isinstance(data, tuple):
        return np.asarray(data[1]).reshape(-1)
    return np.concatenate([np.asarray(y).reshape(-1) for _, y in data.as_numpy_iterator()])


def hold_out(
    build: Build,
    hidden_units: tuple[int, ...],
    train: Any,
    validation: Any,
    pool: Any,
    *,
    metric: str,
    budget: Budget,
    callbacks: Sequence[Any] = (),
    batch_size: int | None = None,
    phases: Phases | None = None,
) -> ProtocolResult:
    """Fits on train, validated on eval, then a fresh model on the pool for the best epochs.

    Args:
        build: a compiled model of the given hidden units.
        hidden_units: the task's architecture.
        train, validation, pool: the train split, the eval split and both (the pool): each a
            dataset of `(features, label)` batches (train and pool shuffled), or
            `(features, labels)` arrays, which Keras shuffles each epoch.
        metric: the Keras metric of success.
        budget: the epoch budget of the search fit.
        callbacks: more callbacks for every fit (pruning's).
        batch_size: the batch of arrays (datasets are batched).
        phases: the run's phases (progress, TensorBoard, backups); default: none.
    """
    phases = phases or Phases()
    fits: list[Fit] = []

    def search(units: tuple[int, ...]) -> Fit:
        key, title = (
            ("search", "search fit") if units == hidden_units else ("capacity", "capacity fit")
        )
        fits.append(
            fit_until_converged(
                build(units),
                *_xy(train),
                validation_data=validation,
                metric=metric,
                budget=budget,
                callbacks=callbacks,
                phase=phases.phase(key, title),
                batch_size=batch_size,
            )
        )
        return fits[-1]

    kept, capacity = fit_with_capacity(search, hidden_units, metric, budget_fixed=not budget.grow)
    # The held-out outputs of the model that never saw eval: the monitoring reference.
    eval_predictions = kept.model.predict(_inputs(validation), batch_size=batch_size, verbose=0)
    epochs = kept.convergence.best_epoch
    final = build(capacity.kept)
    final_history = fit_for_epochs(
        final,
        *_xy(pool),
        epochs=epochs,
        callbacks=callbacks,
        phase=phases.phase("final", "final fit"),
        batch_size=batch_size,
    )
    history = {
        **kept.history,
        "final_fit": final_history,
        "best_epoch": epochs,
        **_capacity_history(fits, capacity),
    }
    return ProtocolResult(
        model=final,
        epochs=epochs,
        eval_score=kept.score,
        eval_predictions=np.asarray(eval_predictions),
        eval_labels=_labels(validation),
        folds=None,
        convergence=kept.convergence.to_json(),
        capacity=capacity.to_json(),
        history=history,
    )


def fold_splits(
    labels: np.ndarray, k: int = K_FOLDS, repeats: int = 1, seed: int = 0, stratify: bool = False
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (fit rows, validation rows) index pairs of iterated K-fold: `repeats` x `k` pairs,
    each repeat a new shuffle of the rows with the seed; stratified by label when asked.

    Raises:
        BadDataError: fewer rows than folds, or (stratified) no class with a row per fold.
    """
    labels = np.asarray(labels).reshape(len(labels), -1)[:, 0]
    if len(labels) < k:
        raise BadDataError(
            f"K-fold needs at least {k} training rows (one per fold), got {len(labels)}: "
            "add rows to the file"
        )
    splitter: RepeatedStratifiedKFold | RepeatedKFold
    if stratify and np.unique(labels, return_counts=True)[1].max() < k:
        raise BadDataError(
            f"stratified K-fold needs a class with at least {k} training rows (one per fold), "
            "but every class has fewer: add rows, or merge rare classes"
        )
    if stratify:
        splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    else:
        splitter = RepeatedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    return list(splitter.split(np.zeros((len(labels), 1)), labels))


def _rows(features: Features, rows: np.ndarray) -> Features:
    return {name: values[rows] for name, values in features.items()}


def _outputs(model: Any) -> int:
    """The width of a model's output: 1 (a score, a value) or the number of classes."""
    return int(np.prod(model.output_shape[1:]))


def _combined_convergence(fits: Sequence[Fit], epochs: int) -> dict[str, Any]:
    """One record for the fold fits: early stopping only if it stopped every fold."""
    first = fits[0].convergence
    stopped = all(fit.convergence.stopped_by == EARLY_STOPPING for fit in fits)
    return {
        "stopped_by": EARLY_STOPPING if stopped else EPOCH_CAP,
        "epoch_budget": max(fit.convergence.epoch_budget for fit in fits),
        "budget_grown": any(fit.convergence.budget_grown for fit in fits),
        "best_epoch": epochs,
        "best_epochs": [fit.convergence.best_epoch for fit in fits],
        "epochs_run": max(fit.convergence.epochs_run for fit in fits),
        "epoch_cap": first.epoch_cap,
        "patience": first.patience,
    }


def k_fold(
    build: Build,
    hidden_units: tuple[int, ...],
    features: Features,
    labels: np.ndarray,
    *,
    metric: str,
    budget: Budget,
    batch_size: int,
    stratify: bool,
    k: int = K_FOLDS,
    repeats: int = 1,
    seed: int = 0,
    callbacks: Sequence[Any] = (),
    phases: Phases | None = None,
) -> ProtocolResult:
    """Iterated K-fold over the pool (book listings 4.27-4.31 with early stopping), then the
    final model on the whole pool for the mean best epoch count.

    The capacity check runs on the first fold; every fold then trains the kept architecture
    (so the first fold's score also chose it, as a hold-out's eval score does).

    Args:
        build: a compiled model of the given hidden units.
        hidden_units: the task's architecture.
        features, labels: the pool (every non-test row), in memory.
        metric: the Keras metric of success.
        budget: the epoch budget of each fold's fit.
        batch_size: the batch of every fit.
        stratify: stratify the folds by label (classification).
        k, repeats, seed: K folds, P repeats, the shuffle's seed.
        callbacks: more callbacks for every fit (pruning's).
        phases: the run's phases (progress, TensorBoard, backups); default: none.
    """
    phases = phases or Phases()
    splits = fold_splits(labels, k, repeats, seed, stratify)
    tried: list[Fit] = []

    def train(units: tuple[int, ...], fold: int) -> Fit:
        fit_rows, held = splits[fold]
        key, title = f"fold-{fold + 1}", f"fold {fold + 1}/{len(splits)}"
        if fold == 0 and units != hidden_units:  # the capacity check's scaled model
            key, title = f"{key}-capacity", f"{title} capacity"
        return fit_until_converged(
            build(units),
            _rows(features, fit_rows),
            labels[fit_rows],
            validation_data=(_rows(features, held), labels[held]),
            metric=metric,
            budget=budget,
            callbacks=callbacks,
            phase=phases.phase(key, title),
            batch_size=batch_size,
        )

    def first_fold(units: tuple[int, ...]) -> Fit:
        tried.append(train(units, 0))
        return tried[-1]

    first, capacity = fit_with_capacity(
        first_fold, hidden_units, metric, budget_fixed=not budget.grow
    )
    fits = [first, *(train(capacity.kept, fold) for fold in range(1, len(splits)))]
    predictions = np.zeros((len(labels), _outputs(first.model)), np.float64)
    for fold, (fit, (_, held)) in enumerate(zip(fits, splits, strict=True)):
        # Each repeat predicts every pool row once, by the fold model that did not see it.
        outputs = fit.model.predict(_rows(features, held), batch_size=batch_size, verbose=0)
        predictions[held] += np.asarray(outputs).reshape(len(held), -1) / repeats
        logging.info(
            "fold %d: %s %.4f at epoch %d", fold, metric, fit.score, fit.convergence.best_epoch
        )
    epochs = max(1, int(round(float(np.mean([f.convergence.best_epoch for f in fits])))))
    final = build(capacity.kept)
    final_history = fit_for_epochs(
        final,
        features,
        labels,
        epochs=epochs,
        callbacks=callbacks,
        phase=phases.phase("final", "final fit"),
        batch_size=batch_size,
    )
    history = {
        **final_history,
        "folds": [fit.history for fit in fits],
        "fold_best_epochs": [fit.convergence.best_epoch for fit in fits],
        **_capacity_history(tried, capacity),
    }
    return ProtocolResult(
        model=final,
        epochs=epochs,
        eval_score=float(np.mean([fit.score for fit in fits])),
        eval_predictions=predictions,
        eval_labels=np.asarray(labels).reshape(len(labels), -1)[:, 0],
        folds=[fit.score for fit in fits],
        convergence=_combined_convergence(fits, epochs),
        capacity=capacity.to_json(),
        history=history,
    )
