"""The common-sense baseline (book 5.2.2, 6.2.3), in the units of the metric of success."""

import numpy as np
import pytest

from components.baseline import compute_baseline


def test_majority_class_learnt_on_train_scored_on_test():
    result = compute_baseline(
        np.array([0, 0, 0, 1]), np.array([0, 1, 1, 1]), "multiclass", "accuracy"
    )
    assert result["majority_class"] == 0
    assert result["majority_class_accuracy"] == pytest.approx(0.25)
    # Guessing with train frequencies (0.75, 0.25) on test frequencies (0.25, 0.75).
    assert result["random_guess_accuracy"] == pytest.approx(0.75 * 0.25 + 0.25 * 0.75)
    assert (result["name"], result["test"]) == ("random_guess_accuracy", pytest.approx(0.375))


def test_random_guess_is_the_sum_of_squared_frequencies_when_splits_match():
    rng = np.random.default_rng(0)
    frequencies = rng.dirichlet(np.ones(46))
    train = rng.choice(46, size=200_000, p=frequencies)
    test = rng.choice(46, size=200_000, p=frequencies)
    result = compute_baseline(train, test, "multiclass", "accuracy")
    assert result["random_guess_accuracy"] == pytest.approx(np.sum(frequencies**2), rel=0.02)


def test_binary_task_measured_by_auc_has_the_constant_predictor_baseline():
    result = compute_baseline(np.array([0, 1, 1]), np.array([1, 1, 0]), "binary", "auc")
    assert (result["name"], result["test"]) == ("constant_prediction_auc", 0.5)
    assert result["majority_class_accuracy"] == pytest.approx(2 / 3)


def test_regression_baseline_predicts_the_train_mean():
    result = compute_baseline(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0]), "regression", "mae")
    assert (result["name"], result["test"]) == ("mean_prediction_mae", pytest.approx(1.0))
