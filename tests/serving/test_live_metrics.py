"""The live metric series (serving/live_metrics.py): labels posted to `:feedback` give
`dlwp_live_metric` equal to an independent recount over the labelled rows weighted by 1/p (the
probability each was logged with, computed from the scores the tests sent), after a relabel and
after a restart, beside the version's test metric from its report.json."""

import json
import math
import os

import httpx
import numpy as np
import pytest
from labelled_feedback import CLOTHES, HOUSES, running_label_app, write_feedback
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from scipy.stats import norm

from serving.feedback_index import FeedbackIndex
from serving.live_metrics import LiveMetrics

Z95 = float(norm.ppf(0.975))


@pytest.fixture
def feedback(tmp_path):
    return write_feedback(str(tmp_path))


def scrape(app) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, parsed from the /metrics text."""
    text = httpx.get(f"{app.url}/metrics", timeout=30).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def series(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def post(app, model: str, body) -> None:
    answer = httpx.post(f"{app.url}/v1/models/{model}:feedback", json=body, timeout=30)
    assert answer.status_code == 200, answer.text


def expected_accuracy(rows: list[tuple[float, float, float]]) -> tuple[float, float, float, int]:
    """(value, lower, upper, n) of the weighted accuracy of (prediction, label, p) rows: the
    Hájek estimate with Wilson's interval on Kish's effective count."""
    prediction, label, p = (np.array(x, np.float64) for x in zip(*rows, strict=True))
    w, y = 1 / p, (prediction == label).astype(np.float64)
    value = np.sum(w * y) / np.sum(w)
    n = np.sum(w) ** 2 / np.sum(w * w)
    center = (value + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(value * (1 - value) / n + Z95**2 / (4 * n * n))
    return value, max(0.0, center - half), min(1.0, center + half), len(rows)


def expected_mae(rows: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """(value, lower, upper) of the weighted MAE: the normal interval of the linearised
    variance sum(w² (y - m)²) / (sum w)² · n / (n - 1)."""
    prediction, label, p = (np.array(x, np.float64) for x in zip(*rows, strict=True))
    w, y = 1 / p, np.abs(prediction - label)
    value = np.sum(w * y) / np.sum(w)
    n = len(y)
    variance = np.sum(w * w * (y - value) ** 2) / np.sum(w) ** 2 * n / (n - 1)
    half = Z95 * math.sqrt(variance)
    return value, max(0.0, value - half), value + half


def assert_accuracy(samples, version: int, arm: str, rows) -> None:
    value, lower, upper, n = expected_accuracy(rows)
    labels = {"model": CLOTHES, "version": str(version), "arm": arm}
    got = [
        series(samples, "dlwp_live_metric", **labels, metric=name)
        for name in ("accuracy", "accuracy_lower", "accuracy_upper")
    ]
    np.testing.assert_allclose(got, [value, lower, upper], rtol=1e-9)
    assert series(samples, "dlwp_labelled_examples_total", **labels) == n


def label_clothes(feedback, seed: int = 1) -> dict[tuple[str, int], tuple]:
    """A label for every logged clothes example (right about 60 % of the time); returns
    (request_id, index) -> (the Sent, the label)."""
    rng = np.random.default_rng(seed)
    labelled = {}
    for sent in feedback.logged(CLOTHES):
        right = rng.random() < 0.6
        label = int(sent.prediction) if right else int((sent.prediction + 1) % 4)
        labelled[(sent.request_id, sent.index)] = (sent, label)
    return labelled


def body_of(labelled) -> list[dict]:
    return [
        {"request_id": sent.request_id, "index": sent.index, "label": label}
        for sent, label in labelled.values()
    ]


def rows_of(labelled, version: int) -> list[tuple[float, float, float]]:
    return [
        (sent.prediction, float(label), sent.probability)
        for sent, label in labelled.values()
        if sent.version == version
    ]


def test_live_accuracy_is_the_weighted_recount_per_version_and_arm(feedback):
    labelled = label_clothes(feedback)
    assert len(rows_of(labelled, 1)) >= 5 and len(rows_of(labelled, 2)) >= 5
    assert len({round(s.probability, 6) for s, _ in labelled.values()}) > 5  # unequal weights
    with running_label_app(feedback) as app:
        post(app, CLOTHES, body_of(labelled))
        samples = scrape(app)
    assert_accuracy(samples, 1, "unsplit", rows_of(labelled, 1))
    assert_accuracy(samples, 2, "canary", rows_of(labelled, 2))
    # Unweighted, version 1's accuracy would differ: the weights matter.
    rows = np.array(rows_of(labelled, 1))
    plain = np.mean(rows[:, 0] == rows[:, 1])
    weighted = series(
        samples, "dlwp_live_metric", model=CLOTHES, version="1", arm="unsplit", metric="accuracy"
    )
    assert abs(plain - weighted) > 1e-6


def test_a_relabel_replaces_the_old_observation(feedback):
    labelled = label_clothes(feedback)
    with running_label_app(feedback) as app:
        post(app, CLOTHES, body_of(labelled))
        key, (sent, label) = next((k, v) for k, v in labelled.items() if v[0].version == 1)
        flipped = int(sent.prediction) if label != int(sent.prediction) else (label + 1) % 4
        labelled[key] = (sent, flipped)
        post(app, CLOTHES, {"request_id": sent.request_id, "index": sent.index, "label": flipped})
        samples = scrape(app)
    assert_accuracy(samples, 1, "unsplit", rows_of(labelled, 1))


def test_a_restarted_server_restores_the_series_from_the_index(feedback):
    labelled = label_clothes(feedback)
    with running_label_app(feedback) as app:
        post(app, CLOTHES, body_of(labelled))
    registry = CollectorRegistry()
    live = LiveMetrics(registry)
    index = FeedbackIndex(os.path.join(feedback.folder, CLOTHES), writable=False)
    try:
        assert live.restore(CLOTHES, index) == len(labelled)
        assert live.restore(CLOTHES, index) == 0  # once per model
    finally:
        index.close()
    value, lower, upper, n = expected_accuracy(rows_of(labelled, 2))
    labels = {"model": CLOTHES, "version": "2", "arm": "canary"}
    got = [
        registry.get_sample_value("dlwp_live_metric", {**labels, "metric": name})
        for name in ("accuracy", "accuracy_lower", "accuracy_upper")
    ]
    np.testing.assert_allclose(got, [value, lower, upper], rtol=1e-9)
    assert registry.get_sample_value("dlwp_labelled_examples_total", labels) == n
    # A new server's first label joins what was restored, without counting it twice.
    with running_label_app(feedback) as app:
        sent, label = next(v for v in labelled.values() if v[0].version == 1)
        post(app, CLOTHES, {"request_id": sent.request_id, "index": sent.index, "label": label})
        samples = scrape(app)
    assert_accuracy(samples, 1, "unsplit", rows_of(labelled, 1))


def test_live_mae_of_a_regression_is_the_weighted_recount(feedback):
    rng = np.random.default_rng(2)
    houses = feedback.logged(HOUSES)
    assert len(houses) >= 3
    labels = [round(s.prediction + float(rng.normal(0, 20)), 2) for s in houses]
    with running_label_app(feedback) as app:
        post(
            app,
            HOUSES,
            [{"request_id": s.request_id, "label": v} for s, v in zip(houses, labels, strict=True)],
        )
        samples = scrape(app)
    rows = [(s.prediction, v, s.probability) for s, v in zip(houses, labels, strict=True)]
    got = [
        series(samples, "dlwp_live_metric", model=HOUSES, version="1", arm="unsplit", metric=name)
        for name in ("mae", "mae_lower", "mae_upper")
    ]
    np.testing.assert_allclose(got, expected_mae(rows), rtol=1e-6)


def write_report(reports_dir: str, model: str, version: int, report: dict) -> None:
    folder = os.path.join(reports_dir, model, str(version))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "report.json"), "w") as f:
        json.dump(report, f)


def test_the_test_metric_comes_from_each_versions_report(feedback, tmp_path):
    reports = str(tmp_path / "reports")
    write_report(reports, CLOTHES, 1, {"success": {"metric": "accuracy", "test": 0.875}})
    confusion = [[5, 1, 0, 0], [2, 7, 0, 1], [0, 0, 4, 0], [0, 3, 0, 6]]
    write_report(
        reports,
        CLOTHES,
        2,
        {"success": {"metric": "auc", "test": 0.9}, "classes": {"confusion": confusion}},
    )
    labelled = label_clothes(feedback)
    with running_label_app(feedback, reports_dir=reports) as app:
        post(app, CLOTHES, body_of(labelled))
        post(app, HOUSES, {"request_id": feedback.logged(HOUSES)[0].request_id, "label": 1.0})
        samples = scrape(app)
    matrix = np.array(confusion)
    assert (
        series(samples, "dlwp_test_metric", model=CLOTHES, version="1", metric="accuracy") == 0.875
    )
    assert series(
        samples, "dlwp_test_metric", model=CLOTHES, version="2", metric="accuracy"
    ) == pytest.approx(np.trace(matrix) / matrix.sum())
    assert not [
        key for key in samples if key[0] == "dlwp_test_metric" and ("model", HOUSES) in key[1]
    ]
