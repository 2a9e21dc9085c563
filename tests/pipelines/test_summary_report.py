"""summary.json's fields that come from the version's report (docs/reports.md): the page's path,
and per-class recall counted at the served class ids."""

import json
import types

import pytest

from pipelines.summary import per_class

TASK = types.SimpleNamespace(
    problem_type="binary", label="diagnosis", class_names=("benign", "malignant")
)


def test_per_class_recall_is_the_reports_at_the_launch_threshold(tmp_path):
    page = tmp_path / "report.html"
    (tmp_path / "report.json").write_text(
        json.dumps({"classes": {"recall": [0.986, 0.976], "support": [72, 42]}})
    )
    summary = per_class(TASK, None, str(page))
    assert summary["recall"] == {"benign": 0.986, "malignant": 0.976}
    assert summary["test_examples"] == {"benign": 72, "malignant": 42}
    assert summary["balanced_accuracy"] == pytest.approx((0.986 + 0.976) / 2)
    assert summary["imbalanced"] is True  # 72 / 42 > 1.5


def test_a_class_absent_from_test_has_no_recall(tmp_path):
    (tmp_path / "report.json").write_text(
        json.dumps({"classes": {"recall": [0.9, 0.0], "support": [50, 0]}})
    )
    summary = per_class(TASK, None, str(tmp_path / "report.html"))
    assert summary["recall"] == {"benign": 0.9}


def test_without_a_report_or_an_evaluation_there_is_no_per_class(tmp_path):
    assert per_class(TASK, None, None) is None
    regression = types.SimpleNamespace(problem_type="regression", label="y", class_names=None)
    assert per_class(regression, None, str(tmp_path / "report.html")) is None
