"""The parity gate's measures and its tolerance rule."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components.exporting.parity import compare, roc_auc


def test_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) * 0.5 + labels * 0.3, 1)  # few distinct values: ties
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))


def test_auc_of_a_single_class_is_nan_and_fails_the_gate():
    labels = np.ones(4, dtype=int)  # scikit-learn raises on one class; the gate reports NaN
    assert np.isnan(roc_auc(np.array([0.2, 0.9, 0.4, 0.6]), labels))
    scores = {"scores": np.array([0.2, 0.9, 0.4, 0.6])}
    result = compare("auc", "binary", scores, scores, labels)
    assert not result.passed and "auc nan" in result.reason


def _multiclass(classes):
    scores = np.full((len(classes), 3), 0.1)
    scores[np.arange(len(classes)), classes] = 0.8
    return {"scores": scores}


def test_an_accuracy_drop_beyond_one_point_fails_and_within_passes():
    labels = np.zeros(200, dtype=int)
    reference = _multiclass(np.zeros(200, dtype=int))  # accuracy 1.0
    two_wrong = np.zeros(200, dtype=int)
    two_wrong[:2] = 1  # accuracy 0.99: a drop of exactly 1 point
    three_wrong = np.zeros(200, dtype=int)
    three_wrong[:3] = 1  # 0.985
    within = compare("accuracy", "multiclass", _multiclass(two_wrong), reference, labels)
    beyond = compare("accuracy", "multiclass", _multiclass(three_wrong), reference, labels)
    assert within.passed and within.delta == pytest.approx(-0.01)
    assert within.agreement == pytest.approx(0.99)
    assert not beyond.passed and "accuracy 0.9850" in beyond.reason


def test_mae_may_grow_two_percent_and_improvements_always_pass():
    labels = np.zeros(100)
    reference = {"predictions": np.full(100, 1.0)}  # MAE 1.0
    assert compare(
        "mae", "regression", {"predictions": np.full(100, 1.019)}, reference, labels
    ).passed
    worse = compare("mae", "regression", {"predictions": np.full(100, 1.03)}, reference, labels)
    assert not worse.passed and worse.agreement is None
    assert worse.max_abs_diff == pytest.approx(0.03)
    better = compare("mae", "regression", {"predictions": np.full(100, 0.5)}, reference, labels)
    assert better.passed and better.delta == pytest.approx(-0.5)


def test_binary_agreement_thresholds_scores_at_one_half():
    labels = np.array([0, 1, 0, 1])
    reference = {"scores": np.array([0.2, 0.9, 0.4, 0.6])}
    flipped = {"scores": np.array([0.2, 0.9, 0.6, 0.6])}
    result = compare("auc", "binary", flipped, reference, labels)
    assert result.agreement == 0.75
    assert result.metric == pytest.approx(roc_auc_score(labels, flipped["scores"]))
