"""The one rule from scores to classes, and the class names a model answers with."""

import numpy as np
import pytest
import tensorflow as tf

from components.signatures import every_class_name, model_outputs
from contract.signatures import (
    CLASS_IDS,
    CLASSES,
    PREDICTIONS,
    SCORES,
    classes_from_scores,
    prediction_key,
)


def test_binary_scores_above_the_threshold_are_class_one():
    scores = np.array([[0.2], [0.5], [0.51], [0.9]])
    assert classes_from_scores("binary", scores).tolist() == [0, 0, 1, 1]
    assert classes_from_scores("binary", scores, threshold=0.8).tolist() == [0, 0, 0, 1]


def test_multiclass_takes_the_arg_max():
    scores = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    assert classes_from_scores("multiclass", scores).tolist() == [1, 0]


def test_regression_has_no_classes():
    with pytest.raises(ValueError, match="regression"):
        classes_from_scores("regression", np.array([1.0, 2.0]))


def test_tfma_reads_scores_or_predictions():
    assert prediction_key("binary") == SCORES
    assert prediction_key("regression") == PREDICTIONS


def test_the_class_names_output_is_named_as_tf_serving_reads_it():
    assert CLASSES == tf.saved_model.CLASSIFY_OUTPUT_CLASSES
    assert SCORES == tf.saved_model.CLASSIFY_OUTPUT_SCORES


def test_class_names_follow_the_predicted_class():
    scores = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]], np.float32)
    names = ("cat", "dog", "owl")
    outputs = model_outputs("multiclass", tf.constant(scores), class_names=names)
    expected = [names[k] for k in classes_from_scores("multiclass", scores)]
    assert [c.decode() for c in outputs[CLASSES].numpy()] == expected == ["dog", "cat", "owl"]
    every = every_class_name(outputs, names).numpy()
    assert every.shape == (3, 3) and every[2].tolist() == [b"cat", b"dog", b"owl"]
    binary = model_outputs("binary", tf.constant([[0.2], [0.7]]), class_names=("no", "yes"))
    assert binary[CLASSES].numpy().tolist() == [b"no", b"yes"]


def test_without_class_names_the_outputs_are_unchanged():
    outputs = model_outputs("multiclass", tf.constant([[0.1, 0.9]]))
    assert set(outputs) == {SCORES, CLASS_IDS}
    regression = model_outputs("regression", tf.constant([[1.5]]), class_names=None)
    assert set(regression) == {PREDICTIONS}


def test_class_names_must_name_every_class_once():
    with pytest.raises(ValueError, match="2 class names .* 3 classes"):
        model_outputs("multiclass", tf.constant([[0.1, 0.2, 0.7]]), class_names=("a", "b"))
    with pytest.raises(ValueError, match="3 class names .* 2 classes"):
        model_outputs("binary", tf.constant([[0.1]]), class_names=("a", "b", "c"))
