"""The Trainer's protocols on tiny data and tiny models: K-fold shuffled, stratified and
iterated (book 5.2.1), held-out numbers only from models that did not see the rows, a budget
that grows while validation improves and a model too small to overfit scaled (book 6.2.4)."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score
from tensorflow_transform.keras_lib import tf_keras

from components import protocols
from components.capacity import fit_with_capacity, overfits, scaled_units
from components.convergence import (
    EARLY_STOPPING,
    EPOCH_CAP,
    Budget,
    Convergence,
    Fit,
    fit_until_converged,
)
from components.errors import BadDataError, SettingsError
from components.models import ModelConfig, build_model


def builder(problem_type, names, learning_rate=None):
    """`build(hidden_units)` of the book's dense model over numeric features `names`."""

    def build(hidden_units):
        return build_model(
            ModelConfig(
                features=tuple((name, "numeric") for name in names),
                problem_type=problem_type,
                num_classes=None,
                hidden_units=hidden_units,
                learning_rate=learning_rate,
            )
        )

    return build


def recording(build, fitted, predicted):
    """`build`, with every model noting what it was fit on and what it predicted."""

    def build_recorded(hidden_units):
        model = build(hidden_units)
        fit, predict = model.fit, model.predict

        def recorded_fit(x, *args, **kwargs):
            fitted[id(model)] = x
            return fit(x, *args, **kwargs)

        def recorded_predict(x, *args, **kwargs):
            outputs = predict(x, *args, **kwargs)
            predicted.append((id(model), x, outputs))
            return outputs

        model.fit, model.predict = recorded_fit, recorded_predict
        return model

    return build_recorded


def linear_rows(n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n)).astype(np.float32)
    return {"a": a, "b": b}, (a + b > 0).astype(np.int64)


def dataset(features, labels, batch=16):
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch)


def test_folds_of_a_file_sorted_by_label_are_shuffled_and_stratified():
    labels = np.array([0] * 30 + [1] * 10)  # sorted by label: contiguous folds miss class 1
    splits = protocols.fold_splits(labels, k=4, seed=0, stratify=True)
    assert len(splits) == 4
    held = [held for _, held in splits]
    assert sorted(int(labels[rows].sum()) for rows in held) == [2, 2, 3, 3]  # 10 ones, 4 folds
    assert sorted(np.concatenate(held).tolist()) == list(range(40))  # each row held once
    assert not all(np.all(np.diff(np.sort(rows)) == 1) for rows in held)  # not file order
    for fit_rows, rows in splits:
        assert not set(fit_rows) & set(rows)


def test_iterated_k_fold_gives_p_times_k_splits_with_a_new_shuffle_each_repeat():
    labels = np.arange(24, dtype=np.float32)  # a regression target: plain shuffled K-fold
    splits = protocols.fold_splits(labels, k=3, repeats=2, seed=7)
    assert len(splits) == 6
    first = {frozenset(held) for _, held in splits[:3]}
    second = {frozenset(held) for _, held in splits[3:]}
    for repeat in (first, second):
        assert sorted(i for held in repeat for i in held) == list(range(24))
    assert first != second
    again = protocols.fold_splits(labels, k=3, repeats=2, seed=7)  # the seed fixes them
    assert [held.tolist() for _, held in again] == [held.tolist() for _, held in splits]


def test_k_fold_refuses_fewer_rows_than_folds_or_classes_too_small_to_stratify():
    with pytest.raises(BadDataError, match="at least 4 training rows"):
        protocols.fold_splits(np.array([0, 1, 0]), k=4)
    with pytest.raises(BadDataError, match="a class with at least 4 training rows"):
        protocols.fold_splits(np.array([0, 1, 2, 0, 1, 2, 0]), k=4, stratify=True)


def _fit(stopped_by, validation, training):
    convergence = Convergence(stopped_by, 20, False, 10, 15, 20, 5)
    return Fit(None, {}, convergence, score=validation, training_score=training)


def test_a_model_overfits_when_early_stopping_fired_and_training_is_clearly_better():
    assert overfits(_fit(EARLY_STOPPING, validation=0.80, training=0.95), "accuracy")
    assert overfits(_fit(EARLY_STOPPING, validation=2.6, training=1.5), "mae")
    # Train and validation alike: capacity, not overfitting, ended the progress.
    assert not overfits(_fit(EARLY_STOPPING, validation=0.80, training=0.81), "auc")
    assert not overfits(_fit(EARLY_STOPPING, validation=2.6, training=2.4), "mae")
    # Still improving when the budget ran out: not known to overfit.
    assert not overfits(_fit(EPOCH_CAP, validation=0.80, training=0.99), "accuracy")


def test_a_fit_cut_short_by_a_fixed_budget_tries_no_bigger_model():
    tried = []

    def train(units):
        tried.append(units)
        return _fit(EPOCH_CAP, validation=0.80, training=0.81)

    _, capacity = fit_with_capacity(train, (16, 16), "auc", budget_fixed=True)
    assert tried == [(16, 16)] and not capacity.scaled
    _, capacity = fit_with_capacity(train, (16, 16), "auc", budget_fixed=False)
    assert tried == [(16, 16), (16, 16), (32, 32, 32)] and capacity.scaled


def test_scaling_doubles_every_layer_and_adds_one():
    assert scaled_units((16, 16)) == (32, 32, 32)
    assert scaled_units((512,)) == (1024, 1024)


def test_patience_is_five_for_short_budgets_and_a_twentieth_of_long_ones():
    assert Budget(20).patience == 5
    assert Budget(500).patience == 25
    assert (Budget(20).cap, Budget(20, grow=False).cap) == (80, 20)


def rows_of(features):
    """The row numbers of the `row` feature (row / 48)."""
    return set(np.rint(features["row"] * 48).astype(int).tolist())


def test_k_fold_predicts_every_pool_row_out_of_fold_and_scores_p_times_k_folds():
    tf_keras.utils.set_random_seed(0)
    features, labels = linear_rows(48, seed=0)
    features["row"] = np.arange(48, dtype=np.float32) / 48
    fitted, predicted = {}, []
    build = recording(builder("binary", ["a", "b", "row"], 1e-2), fitted, predicted)
    result = protocols.k_fold(
        build,
        (8,),
        features,
        labels,
        metric="auc",
        budget=Budget(3, grow=False),
        batch_size=8,
        stratify=True,
        k=4,
        repeats=2,
        seed=0,
    )
    assert len(result.folds) == 8
    assert result.eval_score == pytest.approx(np.mean(result.folds))
    assert result.fold_mean == pytest.approx(np.mean(result.folds))
    assert result.fold_std == pytest.approx(np.std(result.folds))
    predicted_rows = []
    for model, x, _ in predicted:
        assert not rows_of(x) & rows_of(fitted[model])  # never a row the model was fit on
        predicted_rows += sorted(rows_of(x))
    assert sorted(predicted_rows) == sorted(list(range(48)) * 2)  # each row once per repeat
    assert rows_of(fitted[id(result.model)]) == set(range(48))  # the final fit: the pool
    assert result.eval_predictions.shape == (48, 1)
    assert roc_auc_score(labels, result.eval_predictions[:, 0]) > 0.8  # aligned with its rows


def test_hold_out_scores_and_predicts_eval_with_the_model_fit_on_train_only():
    tf_keras.utils.set_random_seed(0)
    train_x, train_y = linear_rows(64, seed=1)
    eval_x, eval_y = linear_rows(32, seed=2)
    train, validation = dataset(train_x, train_y), dataset(eval_x, eval_y)
    pool = train.concatenate(validation)
    fitted, predicted = {}, []
    build = recording(builder("binary", ["a", "b"], 1e-2), fitted, predicted)
    result = protocols.hold_out(
        build, (8,), train, validation, pool, metric="auc", budget=Budget(3, grow=False)
    )
    assert fitted[id(result.model)] is pool
    [(model, _, outputs)] = predicted
    assert fitted[model] is train and model != id(result.model)
    np.testing.assert_array_equal(result.eval_predictions, outputs)
    refit = result.model.predict(validation.map(lambda x, y: x), verbose=0)
    assert not np.allclose(refit, result.eval_predictions)
    assert result.eval_score == pytest.approx(max(result.history["val_auc"]))
    assert result.epochs == result.convergence["best_epoch"]
    assert len(result.history["final_fit"]["loss"]) == result.epochs


def test_hold_out_on_arrays_fits_the_final_model_on_the_pool_arrays():
    tf_keras.utils.set_random_seed(0)
    train, held = linear_rows(64, seed=1), linear_rows(32, seed=2)
    pool = (
        {k: np.concatenate([train[0][k], held[0][k]]) for k in train[0]},
        np.r_[train[1], held[1]],
    )
    fitted, predicted = {}, []
    build = recording(builder("binary", ["a", "b"], 1e-2), fitted, predicted)
    result = protocols.hold_out(
        build, (8,), train, held, pool, metric="auc", budget=Budget(3, grow=False), batch_size=16
    )
    assert fitted[id(result.model)] is pool[0]
    [(model, x, outputs)] = predicted
    assert fitted[model] is train[0] and x is held[0]
    assert result.eval_predictions.shape == (32, 1)
    # Keras's AUC (200 thresholds) of the search model on eval, from the predictions' rows.
    auc = roc_auc_score(held[1], result.eval_predictions[:, 0])
    assert auc == pytest.approx(result.eval_score, abs=0.02)


def regression_rows(n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n)).astype(np.float32)
    return {"a": a, "b": b}, (a - 0.5 * b).astype(np.float32)


def test_a_fit_still_improving_when_its_budget_ends_grows_it_up_to_the_cap():
    tf_keras.utils.set_random_seed(0)
    x, y = regression_rows(128, seed=0)
    vx, vy = regression_rows(64, seed=1)
    build = builder("regression", ["a", "b"], learning_rate=3e-4)  # slow: improves all along
    grown = fit_until_converged(
        build((4,)), x, y, validation_data=(vx, vy), metric="mae", budget=Budget(2), verbose=0
    )
    assert grown.convergence.budget_grown and grown.convergence.epoch_budget == 8
    assert grown.convergence.stopped_by == EPOCH_CAP and grown.convergence.epochs_run == 8
    fixed = fit_until_converged(
        build((4,)),
        x,
        y,
        validation_data=(vx, vy),
        metric="mae",
        budget=Budget(2, grow=False),
        verbose=0,
    )
    assert not fixed.convergence.budget_grown and fixed.convergence.epochs_run == 2


def test_early_stopping_ends_a_fit_whose_validation_stopped_improving():
    tf_keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    x = {"a": rng.normal(size=64).astype(np.float32), "b": rng.normal(size=64).astype(np.float32)}
    y, vy = rng.normal(size=64).astype(np.float32), rng.normal(size=64).astype(np.float32)
    fit = fit_until_converged(
        builder("regression", ["a", "b"], learning_rate=1e-2)((64, 64)),
        x,
        y,
        validation_data=(x, vy),  # noise to noise: nothing to learn beyond the mean
        metric="mae",
        budget=Budget(40),
        batch_size=16,
        verbose=0,
    )
    convergence = fit.convergence
    assert convergence.stopped_by == EARLY_STOPPING and not convergence.budget_grown
    assert convergence.epochs_run == convergence.best_epoch + convergence.patience
    assert fit.score == pytest.approx(min(fit.history["val_mae"]))


def v_rows(n, seed):
    """y = 3|a| + 3|b|: four ReLUs fit it, two cannot."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n)).astype(np.float32)
    noise = rng.normal(scale=0.1, size=n)
    return {"a": a, "b": b}, (3 * np.abs(a) + 3 * np.abs(b) + noise).astype(np.float32)


def test_a_model_too_small_to_overfit_is_scaled_and_the_better_one_kept():
    tf_keras.utils.set_random_seed(0)
    train, validation = dataset(*v_rows(256, seed=0)), dataset(*v_rows(256, seed=1))
    result = protocols.hold_out(
        builder("regression", ["a", "b"], learning_rate=1e-2),
        (2,),
        train,
        validation,
        train.concatenate(validation),
        metric="mae",
        budget=Budget(40, grow=False),
    )
    assert result.capacity == {
        "overfits": False,
        "scaled": True,
        "tried": [[2], [4, 4]],
        "kept": [4, 4],
    }
    small, big = (min(fit["val_mae"]) for fit in result.history["capacity_fits"])
    assert result.eval_score == pytest.approx(big) and big < 0.5 * small


def test_trainer_config_carries_kfold_repeats_and_a_fixed_epoch_count_does_not_grow():
    from pipelines.pipeline import trainer_config
    from pipelines.settings import TrainingOptions
    from pipelines.tasks import BOOK_TASKS

    boston = BOOK_TASKS["boston_housing"]
    config = trainer_config(boston, TrainingOptions(kfold_repeats=3))
    assert (config["kfold_repeats"], config["grow_budget"], config["max_epochs"]) == (3, True, 500)
    assert not trainer_config(boston, TrainingOptions(max_epochs=7))["grow_budget"]
    with pytest.raises(SettingsError, match="--kfold-repeats .* got 0"):
        TrainingOptions(kfold_repeats=0)
