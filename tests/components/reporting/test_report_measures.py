"""The report's numbers (docs/reports.md) against independent recounts: Wilson's interval from
its closed formula, the bootstrap AUC against scikit-learn, the confusion matrix, the
threshold table and the regression errors counted with numpy."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components.reporting import measures


def wilson(right: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval, the closed formula (Wilson 1927)."""
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_accuracy_has_wilsons_interval():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 1000)
    class_ids = np.where(rng.random(1000) < 0.89, labels, (labels + 1) % 10)
    success = measures.success_interval("accuracy", labels, class_ids=class_ids)
    right = int(sum(int(a == b) for a, b in zip(labels, class_ids, strict=True)))
    low, high = wilson(right, 1000)
    assert success["right"] == right and success["examples"] == 1000
    assert success["test"] == right / 1000
    assert success["low"] == pytest.approx(low, abs=1e-9)
    assert success["high"] == pytest.approx(high, abs=1e-9)
    assert success["method"] == "wilson" and success["confidence"] == 0.95


def test_auc_is_sklearns_with_a_bootstrap_interval_around_it():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 2000)
    # Rounded scores: many ties, which the rank formula must count as sklearn does.
    scores = np.round(np.clip(labels * 0.3 + rng.random(2000) * 0.7, 0, 1), 1)
    success = measures.success_interval("auc", labels, scores=scores)
    expected = roc_auc_score(labels, scores)
    assert success["test"] == pytest.approx(expected, abs=1e-12)
    assert success["low"] < expected < success["high"]
    # The standard error of an AUC near 0.8 on 2,000 rows is about 0.01: a 95 % interval of
    # about ±0.02, neither a point nor the whole range.
    assert 0.01 < success["high"] - success["low"] < 0.08
    assert success["method"] == "bootstrap" and success["right"] is None


def test_the_bootstrap_is_repeatable():
    rng = np.random.default_rng(2)
    labels = rng.normal(size=500)
    predictions = labels + rng.normal(size=500)
    first = measures.success_interval("mae", labels, predictions=predictions)
    second = measures.success_interval("mae", labels, predictions=predictions)
    assert first == second
    assert first["test"] == pytest.approx(np.mean(np.abs(predictions - labels)))
    assert first["low"] < first["test"] < first["high"]


def test_confusion_and_per_class_errors_are_the_counts():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 300)
    class_ids = np.where(rng.random(300) < 0.6, labels, rng.integers(0, 4, 300))
    class_ids[labels == 3] = 1  # class 3 is never predicted: its precision is 0
    errors = measures.class_errors(labels, class_ids, ["a", "b", "c", "d"])
    counted = np.zeros((4, 4), int)
    for true, predicted in zip(labels, class_ids, strict=True):
        counted[true, predicted] += 1
    assert errors["confusion"] == counted.tolist()
    assert errors["support"] == counted.sum(axis=1).tolist()
    for c in range(4):
        predicted = counted[:, c].sum()
        assert errors["recall"][c] == pytest.approx(counted[c, c] / counted[c].sum())
        assert errors["precision"][c] == pytest.approx(
            counted[c, c] / predicted if predicted else 0.0
        )
    cells = sorted(
        ((counted[t, p], t, p) for t in range(4) for p in range(4) if t != p and counted[t, p]),
        key=lambda cell: (-cell[0], cell[1], cell[2]),
    )[:5]
    assert [(c["count"], c["true"], c["predicted"]) for c in errors["most_confused"]] == [
        (int(n), t, p) for n, t, p in cells
    ]


def test_the_threshold_table_counts_a_day_of_cases():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.42, 0.3, 0.7, 0.42, 0.2, 0.1, 0.1, 0.05])
    table = measures.threshold_table(labels, scores, live=0.37, cases_per_day=1000)
    thresholds = [row["threshold"] for row in table["table"]]
    assert thresholds == sorted([round(0.05 * i, 2) for i in range(1, 20)] + [0.37])
    live = table["live_row"]
    # scores > 0.37: 0.9, 0.8, 0.42 (positives) and 0.7, 0.42 (negatives).
    assert live["threshold"] == 0.37
    assert live["fpr"] == pytest.approx(2 / 6) and live["recall"] == pytest.approx(3 / 4)
    assert live["fnr"] == pytest.approx(1 / 4) and live["precision"] == pytest.approx(3 / 5)
    assert live["false_positives_per_day"] == pytest.approx(2 / 10 * 1000)
    assert live["false_negatives_per_day"] == pytest.approx(1 / 10 * 1000)
    assert live["flagged_per_day"] == pytest.approx(5 / 10 * 1000)
    assert table["test_positive_rate"] == 0.4 and table["cases_per_day"] == 1000
    top = table["table"][-1]  # 0.95: nothing flagged
    assert top["flagged_per_day"] == 0 and top["precision"] == 0.0 and top["recall"] == 0.0


def test_regression_errors_summary_and_default_tolerance():
    rng = np.random.default_rng(4)
    labels = rng.uniform(5, 50, 3000)
    predictions = labels + rng.normal(0, 3, 3000)
    summary = measures.regression_errors(labels, predictions, baseline_prediction=22.5)
    errors = np.abs(predictions - labels)
    assert summary["abs_errors"]["mean"] == pytest.approx(errors.mean())
    assert summary["abs_errors"]["max"] == pytest.approx(errors.max())
    assert summary["abs_errors"]["quantiles"]["0.9"] == pytest.approx(np.quantile(errors, 0.9))
    assert sum(summary["histogram"]["counts"]) == 3000
    assert len(summary["histogram"]["edges"]) == 21
    sample = summary["sorted_sample"]
    assert len(sample) == 1000 and sample == sorted(sample)
    assert sample[0] == pytest.approx(errors.min()) and sample[-1] == pytest.approx(errors.max())
    baseline_median = float(np.median(np.abs(labels - 22.5)))
    digits = 1 - math.floor(math.log10(baseline_median))
    assert summary["tolerance"] == round(baseline_median, digits)
    assert summary["within_tolerance"] == pytest.approx(
        np.count_nonzero(errors <= summary["tolerance"]) / 3000
    )


def test_significant_digits():
    assert measures.round_significant(2.4567) == 2.5
    assert measures.round_significant(0.012345) == 0.012
    assert measures.round_significant(12345.0) == 12000.0
    assert measures.round_significant(0.0) == 0.0


def test_the_table_compares_in_float32_as_the_served_model_does():
    # A float32 score of exactly 0.3 is not above a float32 threshold of 0.3 (the SavedModel's
    # comparison), although float32(0.3) = 0.30000001192 is above the float64 0.3.
    labels = np.array([0, 1])
    scores = np.array([np.float32(0.3), 0.9], np.float32)
    row = measures.threshold_row(labels, scores, 0.3, cases_per_day=100)
    assert row["fpr"] == 0.0 and row["flagged_per_day"] == 50.0
