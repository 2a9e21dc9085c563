"""`dlwp audit` and `dlwp ab` on a real feedback index (written with the server's FeedbackIndex,
two processes' files), against numpy and scipy recounts of the labelled rows."""

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import stats

from serving.feedback_index import FeedbackIndex, Label, LoggedExample

MODEL = "houses"
START_US = 1_795_000_000_000_000


def _write(folder, rows, labels, start_us):
    """One server process's index file: `rows` logged, `labels` given."""
    index = FeedbackIndex(str(folder), start_us=start_us)
    try:
        index.add_logged(rows)
        if labels:
            index.add_labels(labels)
    finally:
        index.close()


def _rows(prefix, version, arm, predictions, probabilities, problem_type="multiclass"):
    return [
        LoggedExample(
            request_id=f"{prefix}{i}",
            index=0,
            model=MODEL,
            version=version,
            arm=arm,
            problem_type=problem_type,
            prediction=float(prediction),
            margin=None if problem_type == "regression" else 0.5,
            probability=float(p),
            logged_at_ms=1_000 + i,
            file=f"feedback-{prefix}.tfrecord.gz",
            ordinal=i,
        )
        for i, (prediction, p) in enumerate(zip(predictions, probabilities, strict=True))
    ]


def _labels(rows, values, at_ms=5_000):
    return [
        Label(r.request_id, r.index, float(v), at_ms, "api")
        for r, v in zip(rows, values, strict=True)
    ]


def _report(home, version, success, confusion=None):
    folder = home / "reports" / MODEL / str(version)
    folder.mkdir(parents=True)
    classes = {"confusion": confusion} if confusion else None
    (folder / "report.json").write_text(
        json.dumps({"task": {"problem_type": "multiclass"}, "success": success, "classes": classes})
    )


@pytest.fixture
def home(tmp_path):
    """Version 1 unsplit (equal probabilities), version 2 split into stable/canary arms
    (unequal probabilities), in two index files; a relabelled example; unlabelled rows."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "feedback" / MODEL
    v1 = _rows("a", 1, "", np.zeros(60), np.full(60, 0.2))
    v1_truth = (rng.random(60) < 0.2).astype(int)  # the prediction, class 0, is right at 0
    _write(folder, v1, _labels(v1[:50], v1_truth[:50]), START_US)
    p_stable, p_canary = rng.uniform(0.1, 1, 300), rng.uniform(0.1, 1, 300)
    stable = _rows("s", 1, "stable", np.zeros(300), p_stable)
    canary = _rows("c", 2, "canary", np.zeros(300), p_canary)
    stable_labels = np.where(rng.random(300) < 0.85 + 0.1 * p_stable, 0, 2)
    canary_labels = np.where(rng.random(300) < 0.70 + 0.1 * p_canary, 0, 2)
    _write(
        folder,
        stable + canary,
        _labels(stable, stable_labels) + _labels(canary[:250], canary_labels[:250]),
        START_US + 1,
    )
    # A relabel, in the first process's file: the latest label counts.
    relabel = FeedbackIndex(str(folder), start_us=START_US)
    relabel.add_labels([Label("c0", 0, 2.0 if canary_labels[0] == 0 else 0.0, 9_000, "page")])
    relabel.close()
    canary_labels[0] = 2 if canary_labels[0] == 0 else 0
    _report(tmp_path, 1, {"metric": "accuracy", "test": 0.99})
    _report(tmp_path, 2, {"metric": "auc", "test": 0.9}, confusion=[[40, 10], [5, 45]])
    return tmp_path, {
        "v1": (v1_truth[:50], np.full(50, 0.2)),
        "stable": (stable_labels, p_stable),
        "canary": (canary_labels[:250], p_canary[:250]),
    }


def _correct(labels):
    return (np.asarray(labels) == 0).astype(float)  # every prediction is class 0


def test_audit_json_recounts_each_version_and_arm(run_cli, home):
    path, truth = home
    code, out, err = run_cli("audit", MODEL, "--home", str(path), "--json")
    rows = {(r["version"], r["arm"]): r for r in json.loads(out)["rows"]}
    assert set(rows) == {(1, "unsplit"), (1, "stable"), (2, "canary")}
    order = [(1, "unsplit"), (1, "stable"), (2, "canary")]
    assert [rows[k]["logged"] for k in order] == [60, 300, 300]
    assert [rows[k]["labelled"] for k in order] == [50, 300, 250]
    # Equal probabilities: the estimate is the plain share and the interval scipy's Wilson.
    labels, _ = truth["v1"]
    right = int(_correct(labels).sum())
    wilson = stats.binomtest(right, 50).proportion_ci(method="wilson")
    live = rows[(1, "unsplit")]["live"]
    assert live["value"] == pytest.approx(right / 50)
    assert (live["lower"], live["upper"]) == pytest.approx((wilson.low, wilson.high))
    for key, arm in (((1, "stable"), "stable"), ((2, "canary"), "canary")):
        labels, p = truth[arm]
        assert rows[key]["live"]["value"] == pytest.approx(
            np.average(_correct(labels), weights=1 / p)
        )
        w = 1 / p
        assert rows[key]["live"]["effective_count"] == pytest.approx(w.sum() ** 2 / (w**2).sum())
    # Version 1's report has accuracy; version 2's (AUC) gives accuracy from its confusion.
    assert rows[(1, "unsplit")]["test"] == 0.99
    assert rows[(2, "canary")]["test"] == pytest.approx(85 / 100)
    assert rows[(1, "unsplit")]["worse_than_test"] and rows[(1, "stable")]["worse_than_test"]
    assert code == 1, err  # some version is worse in production than on test


def test_audit_text_flags_what_is_worse_than_test(run_cli, home):
    path, _ = home
    code, out, _ = run_cli("audit", MODEL, "--home", str(path))
    lines = out.splitlines()
    assert code == 1
    unsplit = next(line for line in lines if "unsplit" in line)
    assert unsplit.split()[:4] == ["1", "unsplit", "60", "50"]
    assert unsplit.endswith("worse than test")
    assert any(
        line.startswith("worse than test: the interval's upper bound is on the wrong side")
        for line in lines
    )


def test_audit_without_feedback_exits_2_naming_the_folder(run_cli, tmp_path):
    code, _, err = run_cli("audit", MODEL, "--home", str(tmp_path))
    assert code == 2
    assert f"no feedback index for '{MODEL}' in {tmp_path / 'feedback' / MODEL}" in err
    assert "--feedback-rate" in err and "Traceback" not in err


def test_regression_audit_weights_absolute_errors(run_cli, tmp_path):
    rng = np.random.default_rng(8)
    predictions, p = rng.normal(20, 5, 80), rng.uniform(0.2, 1, 80)
    values = predictions + rng.normal(0, 3, 80)
    rows = _rows("r", 3, "", predictions, p, problem_type="regression")
    _write(tmp_path / "feedback" / MODEL, rows, _labels(rows, values), START_US)
    folder = tmp_path / "reports" / MODEL / "3"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({"success": {"metric": "mae", "test": 0.5}}))
    code, out, _ = run_cli("audit", MODEL, "--home", str(tmp_path), "--json")
    (row,) = json.loads(out)["rows"]
    errors, w = np.abs(predictions - values), 1 / p
    m = np.average(errors, weights=w)
    se = math.sqrt((w**2 * (errors - m) ** 2).sum() / w.sum() ** 2 * 80 / 79)
    assert row["live"]["metric"] == "mae"
    assert row["live"]["value"] == pytest.approx(m)
    assert row["live"]["lower"] == pytest.approx(m - stats.norm.ppf(0.975) * se)
    assert row["worse_than_test"] and code == 1  # MAE's lower bound is above the test MAE


def test_ab_compares_the_two_arms_with_the_older_version_first(run_cli, home):
    path, truth = home
    code, out, _ = run_cli("ab", MODEL, "--home", str(path), "--json")
    result = json.loads(out)
    assert code == 0
    assert (result["a"]["name"], result["b"]["name"]) == ("stable", "canary")
    assert (result["a"]["versions"], result["b"]["versions"]) == ([1], [2])
    assert (result["a"]["labelled"], result["b"]["labelled"]) == (300, 250)
    estimates, variances = [], []
    for arm in ("stable", "canary"):
        labels, p = truth[arm]
        y, w = _correct(labels), 1 / p
        m = np.average(y, weights=w)
        estimates.append(m)
        variances.append((w**2 * (y - m) ** 2).sum() / w.sum() ** 2 * len(y) / (len(y) - 1))
    difference, se = estimates[1] - estimates[0], math.sqrt(sum(variances))
    assert result["difference"] == pytest.approx(difference)
    assert result["p_value"] == pytest.approx(2 * stats.norm.sf(abs(difference) / se))
    assert result["outcome"] == "worse"
    assert result["verdict"].startswith(
        f"canary is worse than stable ({100 * difference:+.1f} points"
    )


def test_ab_text_names_arms_difference_and_verdict(run_cli, home):
    path, _ = home
    code, out, _ = run_cli("ab", MODEL, "--home", str(path))
    assert code == 0
    assert "A stable" in out and "B canary" in out
    assert out.splitlines()[-1].startswith("verdict: canary is worse than stable")


def test_ab_without_two_arms_exits_2_saying_what_it_found(run_cli, tmp_path):
    rows = _rows("s", 1, "stable", np.zeros(40), np.full(40, 0.5))
    _write(tmp_path / "feedback" / MODEL, rows, _labels(rows, np.zeros(40)), START_US)
    code, _, err = run_cli("ab", MODEL, "--home", str(tmp_path))
    assert code == 2
    assert "have 1 (stable)" in err and f"--split {MODEL}=" in err


def test_problem_type_comes_from_the_report_when_the_server_could_not_tell(run_cli, tmp_path):
    rows = [
        dataclasses.replace(row, problem_type="")
        for row in _rows("r", 1, "", [10.0, 12.0, 20.0], [1.0, 1.0, 1.0], "regression")
    ]
    _write(tmp_path / "feedback" / MODEL, rows, _labels(rows, [11.0, 12.0, 16.0]), START_US)
    folder = tmp_path / "reports" / MODEL / "1"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(
        json.dumps({"task": {"problem_type": "regression"}, "success": {"metric": "mae"}})
    )
    code, out, _ = run_cli("audit", MODEL, "--home", str(tmp_path), "--json")
    (row,) = json.loads(out)["rows"]
    assert (row["live"]["metric"], row["live"]["value"]) == ("mae", pytest.approx(5 / 3))
    assert code == 0
