"""Per-class recall and balanced accuracy on test (book 6.1.4: for imbalanced classes, accuracy
alone is not the measure of success).

TFMA's Evaluator slices the test split by label value (components/evaluation.py). In the slice
label = c, every example is of class c, so the accuracy there (SparseCategoricalAccuracy, or
BinaryAccuracy for a binary model) is the recall of class c, and its example count is the
class's count in test.

    recall, counts = read_class_metrics(evaluation_uri, "label")
    per_class = per_class_summary(recall, counts, class_names)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import tensorflow_model_analysis as tfma

# TFMA's names of the accuracies computed per slice, by preference.
RECALL_METRICS = ("binary_accuracy", "sparse_categorical_accuracy")
EXAMPLE_COUNT = "example_count"
# The candidate's metrics: "candidate" when TFMA also scored the last blessed model, else "".
_CANDIDATE_NAMES = ("candidate", "")
# Book 6.1.4: above this ratio of the largest to the smallest class count in test, the classes
# are called imbalanced and balanced accuracy is the number to read.
IMBALANCE_RATIO = 1.5


def _candidate_value(values: dict[tuple[str, str], float], names: Sequence[str]) -> float | None:
    for name in names:
        for model_name in _CANDIDATE_NAMES:
            if (name, model_name) in values:
                return values[(name, model_name)]
    return None


def class_metrics_from_slices(
    slices: Iterable, label: str
) -> tuple[dict[int, float], dict[int, int]]:
    """({class index: recall}, {class index: test examples}) from TFMA's MetricsForSlice protos
    of the candidate model; classes absent from test have no slice and are left out."""
    recall, counts = {}, {}
    for metrics_for_slice in slices:
        keys = metrics_for_slice.slice_key.single_slice_keys
        if len(keys) != 1 or keys[0].column != label or keys[0].WhichOneof("kind") != "int64_value":
            continue
        values = {
            (entry.key.name, entry.key.model_name): entry.value.double_value.value
            for entry in metrics_for_slice.metric_keys_and_values
            if not entry.key.is_diff
            and not entry.key.HasField("sub_key")
            and entry.value.HasField("double_value")
        }
        class_index = int(keys[0].int64_value)
        class_recall = _candidate_value(values, RECALL_METRICS)
        count = _candidate_value(values, (EXAMPLE_COUNT,))
        if class_recall is not None:
            recall[class_index] = class_recall
        if count is not None:
            counts[class_index] = int(round(count))
    return dict(sorted(recall.items())), dict(sorted(counts.items()))


def read_class_metrics(evaluation_uri: str, label: str) -> tuple[dict[int, float], dict[int, int]]:
    """Per-class recall and test counts in the Evaluator's output."""
    return class_metrics_from_slices(tfma.load_metrics(evaluation_uri), label)


def class_name(index: int, class_names: Sequence[str] | None) -> str:
    """A class's name when the task knows it, else its index as a string."""
    if class_names is not None and 0 <= index < len(class_names):
        return class_names[index]
    return str(index)


def per_class_summary(
    recall: dict[int, float], counts: dict[int, int], class_names: Sequence[str] | None
) -> dict | None:
    """The summary's `per_class`: recall and test examples by class name, balanced accuracy
    (the mean of the recalls of the classes in test) and whether the classes are imbalanced;
    None when TFMA wrote no per-class metric."""
    if not recall:
        return None
    present = [count for count in counts.values() if count > 0]
    imbalanced = bool(present) and max(present) / min(present) > IMBALANCE_RATIO
    return {
        "recall": {class_name(c, class_names): r for c, r in recall.items()},
        "test_examples": {class_name(c, class_names): n for c, n in counts.items()},
        "balanced_accuracy": sum(recall.values()) / len(recall),
        "imbalanced": imbalanced,
    }
