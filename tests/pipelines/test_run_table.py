"""The table at the end of `dlwp run`, from summaries of the shapes a run leaves (README,
"Outputs"): blessed and pushed, not blessed, cached, nothing pushed, a regression K-fold."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from pipelines.run_table import RunOutputs, duration, run_table

OUTPUTS = RunOutputs(
    summary_path="/h/reports/tumours/summary.json",
    reports_dir="/h/reports/tumours",
    serving_dir="/h/serving/tumours",
    exports_dir="/h/exports/tumours",
    log_path="/h/logs/tumours-20261201-120000.log",
    request_path="/h/requests/tumours.json",
    home_flag=" --home /h",
    latest_version=1,
    total_s=95.4,
)

REASONS = [
    "data validation passed: nothing in eval or test breaks the model or the contract",
    "beats the common-sense baseline: test auc 0.9841 vs baseline 0.5000 (needs ≥ 0.5500)",
    "no earlier blessed model to compare with",
]


def export(published: bool, reason: str | None = None) -> dict:
    return {
        "size_bytes": 9000,
        "metric": 0.98,
        "delta": 0.0,
        "published": published,
        "reason": reason,
    }


BINARY: dict[str, Any] = {
    "model": "tumours",
    "task": "binary",
    "examples": {"train": 300, "eval": 100, "test": 100},
    "metric": {
        "name": "auc",
        "higher_is_better": True,
        "test": 0.98412,
        "eval": 0.97,
        "folds": None,
        "fold_mean": None,
        "fold_std": None,
    },
    "baseline": {"name": "constant_prediction_auc", "test": 0.5},
    "simple_models": {
        "metric": "auc",
        "models": {"linear": 0.97, "gradient_boosted_trees": 0.99},
        "best": "gradient_boosted_trees",
        "deep_model": 0.98412,
        "deep_model_wins": False,
    },
    "blessed": True,
    "blessing_reasons": REASONS,
    "pushed_version": 1,
    "exports": {
        "tflite_float32": export(True),
        "tflite_int8": export(False, "auc 0.9612 is 0.0229 below the SavedModel's"),
        "tfjs_float32": export(True),
    },
    "training": {"protocol": "holdout", "epochs": 12},
    "tensorboard": "/h/pipelines/tumours/Trainer/model_run/9",
    "timings_s": {"total": 80.0, "ExampleGen": 2.0, "Transform": 20.4, "Trainer": 41.0},
    "cached": [],
}


def row(lines: list[str], label: str) -> list[str]:
    """The value of row `label`, one string per line (continuations included)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {label}  "))
    indent = len(lines[start]) - len(lines[start][len(label) + 2 :].lstrip())
    values = [lines[start][indent:]]
    for line in lines[start + 1 :]:
        if line[:indent].strip():
            break
        values.append(line[indent:])
    return values


def test_a_blessed_binary_run_shows_metric_baseline_simple_models_and_where_things_are():
    lines = run_table(BINARY, OUTPUTS)
    assert lines[1] == "tumours: binary, 300 train, 100 eval, 100 test examples"
    assert " ".join(lines[2].split()) == "test auc 0.9841 baseline 0.5000 (constant prediction auc)"
    assert " ".join(lines[3].split()) == (
        "linear 0.9700, gradient boosted trees 0.9900 (gradient boosted trees wins)"
    )
    # The simple models line up under the baseline.
    assert lines[3].index("linear") == lines[2].index("baseline")
    assert " ".join(lines[4].split()) == "eval auc 0.9700 (hold-out)"
    assert row(lines, "blessed") == ["yes", *REASONS]
    assert row(lines, "pushed") == ["version 1   /h/serving/tumours/1"]
    assert row(lines, "exports") == [
        "2 of 3 formats published   /h/exports/tumours/1",
        "tflite_int8 not published: auc 0.9612 is 0.0229 below the SavedModel's",
    ]
    assert row(lines, "serve") == ["dlwp serve --home /h"]
    assert row(lines, "then") == [
        "dlwp request tumours --home /h && "
        "curl -d @/h/requests/tumours.json localhost:8501/v1/models/tumours:predict"
    ]
    assert row(lines, "tensorboard") == [
        "tensorboard --logdir /h/pipelines/tumours/Trainer/model_run/9"
    ]
    assert row(lines, "summary") == ["/h/reports/tumours/summary.json"]
    assert row(lines, "reports") == ["/h/reports/tumours/1"]
    assert row(lines, "log") == ["/h/logs/tumours-20261201-120000.log"]
    assert row(lines, "time") == [
        "1 min 35 s   (the pipeline 1 min 20 s; slowest Trainer 41 s, Transform 20 s)"
    ]
    assert not any(line.startswith("  cached") for line in lines)


def test_a_pushed_run_names_its_report_page_and_where_it_is_served():
    summary = {**copy.deepcopy(BINARY), "report": "/h/reports/tumours/1/report.html"}
    lines = run_table(summary, OUTPUTS)
    assert row(lines, "report") == [
        "/h/reports/tumours/1/report.html",
        "dlwp report tumours --home /h; served at localhost:8501/reports/tumours/1/",
    ]


def test_a_run_that_pushes_nothing_names_the_serving_versions_report(tmp_path):
    page = tmp_path / "reports" / "tumours" / "2" / "report.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    summary = copy.deepcopy(BINARY)
    summary.update(blessed=False, pushed_version=None, exports=None, report=None)
    outputs = dataclasses.replace(
        OUTPUTS, reports_dir=str(tmp_path / "reports" / "tumours"), latest_version=2
    )
    assert row(run_table(summary, outputs), "report")[0] == str(page)
    # No page for the serving version (a version pushed before reports existed): no row.
    lines = run_table(summary, dataclasses.replace(outputs, latest_version=1))
    assert not any(line.lstrip().startswith("report ") for line in lines)


def test_a_regression_run_shows_the_fold_mean_and_its_spread():
    summary = copy.deepcopy(BINARY)
    summary.update(task="regression", simple_models=None, exports=None, pushed_version=None)
    summary["metric"].update(
        name="mae", test=2.61, eval=2.9, folds=[2.5, 3.1, 2.8, 3.2], fold_mean=2.9, fold_std=0.2739
    )
    summary["baseline"] = {"name": "mean_prediction_mae", "test": 6.125}
    lines = run_table(summary, OUTPUTS)
    assert " ".join(lines[2].split()) == "test mae 2.6100 baseline 6.1250 (mean prediction mae)"
    assert " ".join(lines[3].split()) == "eval mae fold mean 2.9000 ± 0.2739 over 4 folds"


def test_a_model_not_blessed_says_why_and_that_nothing_was_pushed():
    summary = copy.deepcopy(BINARY)
    reasons = [
        REASONS[0],
        "does not beat the common-sense baseline: test auc 0.5210 vs baseline 0.5000 "
        "(needs ≥ 0.5500)",
        REASONS[2],
    ]
    summary.update(blessed=False, blessing_reasons=reasons, pushed_version=None, exports=None)
    lines = run_table(summary, OUTPUTS)
    assert row(lines, "blessed") == ["no", *reasons]
    assert row(lines, "pushed") == ["not pushed: the model is not blessed (version 1 serves)"]
    assert row(lines, "exports") == ["none: nothing was pushed"]
    assert row(lines, "reports") == ["/h/reports/tumours/unpushed"]


def test_a_first_run_that_pushes_nothing_has_no_curl_line():
    summary = copy.deepcopy(BINARY)
    summary.update(blessed=False, pushed_version=None, exports=None)
    lines = run_table(summary, dataclasses.replace(OUTPUTS, latest_version=None))
    assert row(lines, "pushed") == ["not pushed: the model is not blessed"]
    assert not any("curl" in line or "dlwp serve" in line for line in lines)


def test_a_cached_rerun_says_what_was_reused_and_what_serves():
    summary = copy.deepcopy(BINARY)
    steps = ["ExampleGen", "Transform", "Trainer", "BlessingGate", "Pusher", "Exporter"]
    summary.update(
        pushed_version=None,
        exports=None,
        cached=steps,
        timings_s={"total": 9.0, **{step: 0.1 for step in steps}},
    )
    lines = run_table(summary, OUTPUTS)
    assert row(lines, "pushed") == [
        "not pushed: nothing changed since an earlier run (version 1 serves)"
    ]
    assert row(lines, "exports") == ["none: nothing was pushed"]
    assert row(lines, "cached") == [
        "all 6 steps reused from an earlier identical run: " + ", ".join(steps)
    ]
    assert row(lines, "then")[0].startswith("dlwp request tumours --home /h && curl")


def test_a_blessed_model_published_before_is_not_pushed_again():
    summary = copy.deepcopy(BINARY)
    summary.update(pushed_version=None, exports=None, cached=["ExampleGen"])
    lines = run_table(summary, OUTPUTS)
    assert row(lines, "pushed") == [
        "not pushed: this model was published before (version 1 serves)"
    ]
    assert row(lines, "cached") == ["1 step reused from an earlier identical run: ExampleGen"]


def test_null_fields_of_steps_that_did_not_run_are_rendered():
    summary: dict[str, Any] = {
        "model": "tumours",
        "task": "binary",
        "examples": {},
        "metric": {"name": "auc", "test": None, "eval": None, "folds": None},
        "baseline": None,
        "simple_models": None,
        "blessed": False,
        "blessing_reasons": [],
        "pushed_version": None,
        "exports": None,
        "training": None,
        "tensorboard": None,
        "timings_s": {"total": 3.0},
        "cached": [],
    }
    lines = run_table(summary, dataclasses.replace(OUTPUTS, latest_version=None, total_s=None))
    assert lines[1] == "tumours: binary"
    assert " ".join(lines[2].split()) == "test auc n/a"
    assert row(lines, "blessed") == ["no: the blessing gate did not run"]
    assert row(lines, "reports") == ["/h/reports/tumours"]
    assert row(lines, "time") == ["3.0 s"]
    assert not any("tensorboard" in line or "eval auc" in line for line in lines)


@pytest.mark.parametrize(
    "seconds, shown",
    [(4.26, "4.3 s"), (42.4, "42 s"), (185.0, "3 min 5 s"), (3725.0, "1 h 2 min")],
)
def test_durations_read_as_a_person_says_them(seconds, shown):
    assert duration(seconds) == shown
