"""The one rule from scores to classes."""

import numpy as np
import pytest

from contract.signatures import PREDICTIONS, SCORES, classes_from_scores, prediction_key


def test_binary_scores_above_the_threshold_are_class_one():
    scores = np.array([[0.2], [0.5], [0.51], [0.9]])
    assert classes_from_scores("binary", scores).tolist() == [0, 0, 1, 1]
    assert classes_from_scores("binary", scores, threshold=0.8).tolist() == [0, 0, 0, 1]


def test_multiclass_takes_the_arg_max():
    scores = [[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]]
    assert classes_from_scores("multiclass", scores).tolist() == [1, 0]


def test_regression_has_no_classes():
    with pytest.raises(ValueError, match="regression"):
        classes_from_scores("regression", [1.0, 2.0])


def test_tfma_reads_scores_or_predictions():
    assert prediction_key("binary") == SCORES
    assert prediction_key("regression") == PREDICTIONS
