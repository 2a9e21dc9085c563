"""Per-class recall and balanced accuracy (book 6.1.4), read from real TFMA output: TFMA runs the
pipeline's own EvalConfig on examples that carry their scores (no model needed)."""

import glob

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tensorflow_model_analysis.proto import metrics_for_slice_pb2

from components.class_metrics import class_metrics_from_slices, per_class_summary
from components.evaluation import eval_config
from components.example_writer import write_splits
from contract.signatures import SCORES
from pipelines.run_record import NodeRecord, RunRecord
from pipelines.summary import build_summary
from pipelines.tasks import BOOK_TASKS

LABEL = "label"


def evaluate(tmp_path, labels, scores, metric: str, problem_type: str) -> str:
    """TFMA's output folder for examples with these labels and scores."""
    write_splits({"test": {LABEL: labels, SCORES: scores}}, str(tmp_path / "examples"))
    config = eval_config(metric, LABEL, problem_type)
    for spec in config.model_specs:
        spec.ClearField("signature_name")  # no model: the scores are read from the examples
    for metrics_spec in config.metrics_specs:
        for metric_config in metrics_spec.metrics:
            metric_config.ClearField("threshold")  # no last blessed model to compare with
    output = str(tmp_path / "evaluation")
    tfma.run_model_analysis(
        eval_config=config,
        data_location=glob.glob(str(tmp_path / "examples" / "Split-test" / "*"))[0],
        output_path=output,
    )
    return output


def one_hot_scores(classes: list[int], num_classes: int) -> list[np.ndarray]:
    return [np.eye(num_classes, dtype=np.float32)[c] * 0.8 + 0.2 / num_classes for c in classes]


# Six examples of class 0, two of 1, two of 2; predicted: 5 of 6, 1 of 2, 2 of 2 right.
MULTICLASS_LABELS = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2]
MULTICLASS_PREDICTED = [0, 0, 0, 0, 0, 2, 1, 0, 2, 2]
# Four of each class; class 1 scores above 0.5 three times in four, class 0 never.
BINARY_LABELS = [1, 1, 1, 1, 0, 0, 0, 0]
BINARY_SCORES = [0.9, 0.8, 0.3, 0.6, 0.1, 0.2, 0.3, 0.4]


@pytest.fixture(scope="module")
def multiclass_evaluation(tmp_path_factory):
    return evaluate(
        tmp_path_factory.mktemp("multiclass"),
        MULTICLASS_LABELS,
        one_hot_scores(MULTICLASS_PREDICTED, 3),
        "accuracy",
        "multiclass",
    )


@pytest.fixture(scope="module")
def binary_evaluation(tmp_path_factory):
    scores = [np.array([s], np.float32) for s in BINARY_SCORES]
    return evaluate(tmp_path_factory.mktemp("binary"), BINARY_LABELS, scores, "auc", "binary")


def test_per_class_recall_of_a_multiclass_model(multiclass_evaluation):
    recall, counts = class_metrics_from_slices(tfma.load_metrics(multiclass_evaluation), LABEL)
    assert recall == pytest.approx({0: 5 / 6, 1: 0.5, 2: 1.0})
    assert counts == {0: 6, 1: 2, 2: 2}


def test_per_class_recall_of_a_binary_model(binary_evaluation):
    recall, counts = class_metrics_from_slices(tfma.load_metrics(binary_evaluation), LABEL)
    assert recall == pytest.approx({0: 1.0, 1: 0.75})
    assert counts == {0: 4, 1: 4}


def test_balanced_accuracy_is_the_mean_recall_and_classes_get_their_names():
    summary = per_class_summary({0: 5 / 6, 1: 0.5, 2: 1.0}, {0: 6, 1: 2, 2: 2}, ("a", "b"))
    assert summary is not None
    # Overall accuracy is 8 / 10; balanced accuracy weighs the rare classes as much.
    assert summary["balanced_accuracy"] == pytest.approx((5 / 6 + 0.5 + 1.0) / 3)
    assert summary["recall"] == pytest.approx({"a": 5 / 6, "b": 0.5, "2": 1.0})
    assert summary["test_examples"] == {"a": 6, "b": 2, "2": 2}
    assert summary["imbalanced"] is True


def test_classes_within_one_and_a_half_times_are_balanced():
    balanced = per_class_summary({0: 0.9, 1: 0.8}, {0: 30, 1: 20}, None)
    imbalanced = per_class_summary({0: 0.9, 1: 0.8}, {0: 31, 1: 20}, None)
    assert balanced is not None and balanced["imbalanced"] is False
    assert imbalanced is not None and imbalanced["imbalanced"] is True
    assert per_class_summary({}, {}, None) is None


def slice_of(class_index: int, values: dict[tuple[str, str], float]):
    metrics = metrics_for_slice_pb2.MetricsForSlice()
    key = metrics.slice_key.single_slice_keys.add(column=LABEL, int64_value=class_index)
    del key
    for (name, model_name), value in values.items():
        entry = metrics.metric_keys_and_values.add()
        entry.key.name, entry.key.model_name = name, model_name
        entry.value.double_value.value = value
    return metrics


def test_the_candidate_is_read_when_the_last_blessed_model_was_scored_too():
    slices = [
        slice_of(
            0,
            {
                ("binary_accuracy", "baseline"): 0.1,
                ("binary_accuracy", "candidate"): 0.7,
                ("example_count", "candidate"): 5.0,
            },
        ),
        slice_of(1, {("binary_accuracy", "candidate"): 0.9, ("example_count", "candidate"): 3.0}),
    ]
    assert class_metrics_from_slices(slices, LABEL) == ({0: 0.7, 1: 0.9}, {0: 5, 1: 3})


def test_the_summary_reports_per_class_recall_by_class_name(multiclass_evaluation):
    evaluator = NodeRecord(
        "Evaluator",
        0,
        {"ModelEvaluation": [metadata_store_pb2.Artifact(uri=multiclass_evaluation)]},
    )
    summary = build_summary(
        BOOK_TASKS["fashion_mnist"], RunRecord("run", {"Evaluator": evaluator}), {}
    )
    assert summary["per_class"]["recall"] == pytest.approx(
        {"T-shirt/top": 5 / 6, "Trouser": 0.5, "Pullover": 1.0}
    )
    assert summary["per_class"]["balanced_accuracy"] == pytest.approx(7 / 9)
    assert summary["simple_models"] is None and summary["model_warnings"] == []
