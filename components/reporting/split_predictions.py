"""The pushed model's answers on the test split, as TF Serving's classify / regress API gives
them: the SavedModel's `from_examples` signature on ExampleGen's serialized test examples.

Only the labels and outputs are kept for every row; of the examples themselves only the
`FAILURE_MODES` most confidently wrong (a bounded heap), for the report's failure modes.

    answers = predict_test_split(examples_uri, tf.saved_model.load(pushed_dir), task)
    answers.labels, answers.class_ids, answers.worst
"""

from __future__ import annotations

import dataclasses
import heapq
import os
from typing import Any

import numpy as np
import tensorflow as tf

from contract.features import ProblemType
from contract.signatures import (
    CLASS_IDS,
    EXAMPLES_INPUT,
    FROM_EXAMPLES,
    PREDICTIONS,
    SCORES,
)
from contract.task import TaskContract

TEST_SPLIT = "test"
READ_BATCH = 4096
FAILURE_MODES = 12


@dataclasses.dataclass(frozen=True)
class WrongAnswer:
    """One test example the model got wrong: its place in the split, the serialized
    tf.Example, its label, the model's answer and how sure it was (the score of the wrong
    class; None for regression) or how far off (the absolute error; None for a class)."""

    index: int
    serialized: bytes
    label: float
    predicted: float
    confidence: float | None
    error: float | None


@dataclasses.dataclass(frozen=True)
class SplitAnswers:
    """Every test row's label and the model's outputs, in the split's order, and the most
    confidently wrong rows, the worst first.

    Attributes:
        labels: class ids (int64) or regression targets (float64), [n].
        scores: [n] for binary (of class 1), [n, classes] for multiclass, None for regression.
        class_ids: the served class ids [n] (None for regression).
        predictions: regression values [n] (None for a classifier).
        worst: at most FAILURE_MODES wrong answers, the most confident (largest error) first.
    """

    labels: np.ndarray
    scores: np.ndarray | None
    class_ids: np.ndarray | None
    predictions: np.ndarray | None
    worst: tuple[WrongAnswer, ...]


def _confidence(scores: np.ndarray, class_ids: np.ndarray, binary: bool) -> np.ndarray:
    """The score the model gave the class it answered."""
    if binary:
        scores = scores.reshape(-1)
        return np.where(class_ids == 1, scores, 1.0 - scores)
    return np.take_along_axis(scores, class_ids.reshape(-1, 1), axis=1).reshape(-1)


def predict_test_split(
    examples_uri: str, model: Any, task: TaskContract, keep: int = FAILURE_MODES
) -> SplitAnswers:
    """Runs a loaded SavedModel (`tf.saved_model.load`) on the test split of the Examples at
    `examples_uri`; keeps the `keep` most confidently wrong examples.

    Raises:
        ValueError: the split has no examples (nothing to report on).
    """
    regression = task.problem_type is ProblemType.REGRESSION
    binary = task.problem_type is ProblemType.BINARY
    signature = model.signatures[FROM_EXAMPLES]
    label_spec = {
        task.label: tf.io.FixedLenFeature([], tf.float32 if regression else tf.int64),
    }
    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{TEST_SPLIT}", "*")))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(READ_BATCH)
    labels, scores, class_ids, predictions = [], [], [], []
    heap: list[tuple[float, int, WrongAnswer]] = []  # the least bad of the kept on top
    start = 0
    for batch in dataset:
        batch_labels = tf.io.parse_example(batch, label_spec)[task.label].numpy()
        outputs = signature(**{EXAMPLES_INPUT: batch})
        if regression:
            values = outputs[PREDICTIONS].numpy().reshape(-1).astype(np.float64)
            predictions.append(values)
            errors = np.abs(values - batch_labels)
            candidates = np.arange(batch_labels.size)
            keys = errors
        else:
            batch_scores = outputs[SCORES].numpy().astype(np.float64)
            ids = outputs[CLASS_IDS].numpy().reshape(-1).astype(np.int64)
            scores.append(batch_scores.reshape(-1) if binary else batch_scores)
            class_ids.append(ids)
            confidence = _confidence(batch_scores, ids, binary)
            candidates = np.flatnonzero(ids != batch_labels)
            keys = confidence
        labels.append(batch_labels)
        # Only a row that beats the weakest kept one is pushed: its bytes are copied then.
        serialized = batch.numpy()
        for i in candidates:
            entry = (float(keys[i]), -(start + int(i)))
            if len(heap) == keep and entry <= heap[0][:2]:
                continue
            answer = WrongAnswer(
                index=start + int(i),
                serialized=bytes(serialized[i]),
                label=float(batch_labels[i]),
                predicted=float(values[i]) if regression else float(ids[i]),
                confidence=None if regression else float(keys[i]),
                error=float(keys[i]) if regression else None,
            )
            item = (*entry, answer)
            if len(heap) < keep:
                heapq.heappush(heap, item)
            else:
                heapq.heapreplace(heap, item)
        start += int(batch_labels.size)
    if not labels:
        raise ValueError(
            f"the test split of {examples_uri} has no examples; a report needs test examples"
        )
    worst = tuple(answer for *_, answer in sorted(heap, key=lambda item: item[:2], reverse=True))
    return SplitAnswers(
        labels=np.concatenate(labels),
        scores=None if regression else np.concatenate(scores),
        class_ids=None if regression else np.concatenate(class_ids),
        predictions=np.concatenate(predictions) if regression else None,
        worst=worst,
    )
