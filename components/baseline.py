"""Baseline: the common-sense baseline a model must beat (book 5.2.2 and 6.2.3).

Learnt from the train split, scored on the test split, in the units of the task's metric:
- classification: the accuracy of always predicting the train majority class, and of guessing
  at random with the train class frequencies (Σ p_train(c) · p_test(c), the sum of squared class
  frequencies when the splits match: ≈ 0.19 on Reuters); for a binary task measured by AUC, a
  constant prediction's AUC, 0.5;
- regression: the MAE of always predicting the train mean.
"""

import json
import os

import numpy as np
import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts

BASELINE_FILE = "baseline.json"


class BaselineResult(artifact.Artifact):
    """baseline.json: the baseline's name and its score on test, plus the other baselines."""

    TYPE_NAME = "dlwp.Baseline"


def read_labels(examples_uri: str, split: str, label: str, problem_type: str) -> np.ndarray:
    """The label of every example of a split: class indices, or floats for regression."""
    dtype = tf.float32 if problem_type == "regression" else tf.int64
    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096)
    spec = {label: tf.io.FixedLenFeature([], dtype)}
    batches = [tf.io.parse_example(batch, spec)[label].numpy() for batch in dataset]
    return np.concatenate(batches) if batches else np.array([])


def compute_baseline(train: np.ndarray, test: np.ndarray, problem_type: str, metric: str) -> dict:
    """The baselines of a task; `name` and `test` are the one in the units of `metric`."""
    if problem_type == "regression":
        mae = float(np.mean(np.abs(test - np.mean(train))))
        return {"name": "mean_prediction_mae", "test": mae, "train_mean": float(np.mean(train))}
    classes, counts = np.unique(train, return_counts=True)
    frequencies = dict(zip(classes.tolist(), (counts / counts.sum()).tolist(), strict=True))
    majority = classes[np.argmax(counts)]
    majority_accuracy = float(np.mean(test == majority))
    random_accuracy = float(
        sum(frequencies.get(c, 0.0) * np.mean(test == c) for c in np.unique(test))
    )
    result = {
        "majority_class": majority.item(),
        "majority_class_accuracy": majority_accuracy,
        "random_guess_accuracy": random_accuracy,
    }
    if metric == "auc":
        return {"name": "constant_prediction_auc", "test": 0.5, **result}
    best = max(("majority_class_accuracy", "random_guess_accuracy"), key=lambda k: result[k])
    return {"name": best, "test": result[best], **result}


@component
def Baseline(  # noqa: N802 - TFX names components like classes
    examples: InputArtifact[standard_artifacts.Examples],
    baseline: OutputArtifact[BaselineResult],
    label: Parameter[str],
    problem_type: Parameter[str],
    metric: Parameter[str],
) -> None:
    """Computes the common-sense baseline from train and scores it on test."""
    result = compute_baseline(
        read_labels(examples.uri, "train", label, problem_type),
        read_labels(examples.uri, "test", label, problem_type),
        problem_type,
        metric,
    )
    tf.io.gfile.makedirs(baseline.uri)
    with tf.io.gfile.GFile(os.path.join(baseline.uri, BASELINE_FILE), "w") as f:
        json.dump(result, f, indent=1)
