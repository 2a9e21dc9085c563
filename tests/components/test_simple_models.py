"""Simple models beside the deep one (book 6.2.3): a linear model and gradient-boosted trees,
fit on real tables (scikit-learn's bundled ones) and on a messy one, scored on test."""

import json

import numpy as np
import pandas as pd
import pytest
from ml_metadata.proto import metadata_store_pb2
from sklearn import datasets

from components.example_writer import write_splits
from components.simple_models import (
    SIMPLE_MODELS_FILE,
    compare,
    date_parts,
    fit_simple_models,
    read_table,
)
from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract
from pipelines.run_record import NodeRecord, RunRecord
from pipelines.summary import build_summary
from pipelines.tasks import BOOK_TASKS

LABEL = "label"


def split_rows(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Row indices of a shuffled 60 / 20 / 20 split."""
    order = np.random.default_rng(seed).permutation(n)
    a, b = int(0.6 * n), int(0.8 * n)
    return {"train": order[:a], "eval": order[a:b], "test": order[b:]}


def write_table(tmp_path, columns: dict[str, list], seed: int = 0) -> str:
    """Writes the columns as tf.Example splits; returns the examples' URI."""
    uri = str(tmp_path / "examples")
    n = len(columns[LABEL])
    splits = {
        split: {name: [values[i] for i in rows] for name, values in columns.items()}
        for split, rows in split_rows(n, seed).items()
    }
    write_splits(splits, uri)
    return uri


def sklearn_table(tmp_path, load, problem_type: str, metric: str) -> tuple[str, TaskContract]:
    data = load()
    names = [str(name) for name in data.feature_names]
    columns = {name: data.data[:, i].tolist() for i, name in enumerate(names)}
    regression = problem_type == "regression"
    columns[LABEL] = [float(y) if regression else int(y) for y in data.target]
    task = TaskContract(
        features=tuple(Feature(name, FeatureKind.NUMERIC) for name in names),
        label=LABEL,
        problem_type=ProblemType(problem_type),
        metric=metric,
        num_classes=None if regression else len(set(columns[LABEL])),
    )
    return write_table(tmp_path, columns), task


def test_both_simple_models_reach_a_high_auc_on_breast_cancer(tmp_path):
    uri, task = sklearn_table(tmp_path, datasets.load_breast_cancer, "binary", "auc")
    result = fit_simple_models(uri, task)
    assert result["metric"] == "auc" and result["skipped"] is None
    assert set(result["models"]) == {"linear", "gradient_boosted_trees"}
    for name, model in result["models"].items():
        assert model["test"] > 0.95, name
        assert model["train_s"] >= 0


def test_both_simple_models_classify_wine(tmp_path):
    uri, task = sklearn_table(tmp_path, datasets.load_wine, "multiclass", "accuracy")
    result = fit_simple_models(uri, task)
    # Three classes of about a third each: guessing gets about 0.4 at best.
    assert result["models"]["linear"]["test"] > 0.85
    assert result["models"]["gradient_boosted_trees"]["test"] > 0.85


def test_both_simple_models_beat_the_mean_predictor_on_diabetes(tmp_path):
    uri, task = sklearn_table(tmp_path, datasets.load_diabetes, "regression", "mae")
    result = fit_simple_models(uri, task)
    target = datasets.load_diabetes().target
    rows = split_rows(len(target))
    fit_mean = target[np.concatenate([rows["train"], rows["eval"]])].mean()
    mean_mae = np.mean(np.abs(target[rows["test"]] - fit_mean))
    for name, model in result["models"].items():
        assert model["test"] < 0.9 * mean_mae, name


def messy_columns(n: int = 400, seed: int = 1) -> dict[str, list]:
    """A colour (missing in 10 % of rows), a date in three formats, a noisy number with gaps;
    the label is 1 for red things, and for anything dated in the second half of the year."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    colour[rng.random(n) < 0.1] = None
    dates = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D")
    formats = ["%Y-%m-%d", "%Y/%m/%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
    when = [d.strftime(formats[i % 3]) for i, d in enumerate(dates)]
    noise = [None if rng.random() < 0.2 else float(x) for x in rng.normal(size=n)]
    label = [int(c == "red" or d.month >= 7) for c, d in zip(colour, dates, strict=True)]
    return {"colour": list(colour), "when": when, "noise": noise, LABEL: label}


MESSY_TASK = TaskContract(
    features=(
        Feature("colour", FeatureKind.CATEGORICAL),
        Feature("when", FeatureKind.DATE),
        Feature("noise", FeatureKind.NUMERIC),
    ),
    label=LABEL,
    problem_type=ProblemType.BINARY,
    metric="auc",
    num_classes=2,
)


def test_categories_missing_values_and_dates_are_understood(tmp_path):
    columns = messy_columns()
    test_rows = split_rows(len(columns[LABEL]))["test"]
    # A category train never showed, and a date that is not one, only in test.
    columns["colour"][test_rows[0]] = "purple"
    columns["when"][test_rows[1]] = "not a date"
    uri = write_table(tmp_path, columns)
    result = fit_simple_models(uri, MESSY_TASK)
    # Without the month and the colour the label is a coin toss (AUC ≈ 0.5).
    for name, model in result["models"].items():
        assert model["test"] > 0.9, name


def test_a_missing_feature_is_a_missing_value(tmp_path):
    columns = messy_columns(n=50)
    table = read_table(write_table(tmp_path, columns), "train", MESSY_TASK)
    train_rows = split_rows(50)["train"]
    assert len(table) == len(train_rows) == 30
    assert table["colour"].isna().sum() == sum(columns["colour"][i] is None for i in train_rows)
    assert table["noise"].dtype == np.float64
    assert table["noise"].isna().sum() == sum(columns["noise"][i] is None for i in train_rows)
    assert table[LABEL].dtype == np.int64


def test_dates_in_several_formats_become_their_parts():
    values = ["2012-01-01", "2012/03/01 10:00", "2012-12-31T23:59:59", "", None, "soon"]
    parts = date_parts(pd.Series(values, name="when"))
    # 2012 is a leap year: 1 March is day 61; 1 January 2012 was a Sunday (weekday 6).
    expected = [
        [2012, 1, 1, 6],
        [2012, 3, 61, 3],
        [2012, 12, 366, 0],
    ]
    assert parts.iloc[:3].to_numpy().tolist() == expected
    assert parts.iloc[3:].isna().all().all()
    assert list(parts.columns) == ["when.year", "when.month", "when.day_of_year", "when.weekday"]


def test_simple_models_read_a_date_as_the_transform_does():
    # The written day, whatever the zone (contract.dates), not the UTC day after it.
    parts = date_parts(pd.Series(["2012-01-01T23:00:00-05:00", "2012-02-30"], name="when"))
    assert parts.iloc[0].tolist() == [2012, 1, 1, 6]
    assert parts.iloc[1].isna().all()


def test_image_tasks_are_skipped_with_a_reason_and_nothing_is_fit(tmp_path):
    # No examples exist: skipping must not read any.
    result = fit_simple_models(str(tmp_path / "nowhere"), BOOK_TASKS["mnist"].contract())
    assert result["models"] == {}
    assert "tables only" in result["skipped"] and "'image'" in result["skipped"]


def simple_result(metric: str, linear: float, trees: float) -> dict:
    return {
        "metric": metric,
        "models": {
            "linear": {"test": linear, "train_s": 0.1},
            "gradient_boosted_trees": {"test": trees, "train_s": 0.2},
        },
        "skipped": None,
    }


def test_a_deep_model_that_loses_is_told_so():
    summary, warnings = compare(simple_result("auc", 0.97, 0.99), 0.954)
    assert summary == {
        "metric": "auc",
        "models": {"linear": 0.97, "gradient_boosted_trees": 0.99},
        "best": "gradient_boosted_trees",
        "deep_model": 0.954,
        "deep_model_wins": False,
    }
    assert warnings == [
        "the deep model (auc 0.954) loses to gradient-boosted trees (auc 0.990) and a linear "
        "model (auc 0.970) on test"
    ]


def test_a_lower_mae_wins():
    summary, warnings = compare(simple_result("mae", 2.5, 1.9), 2.0)
    assert summary is not None
    assert summary["best"] == "gradient_boosted_trees" and summary["deep_model_wins"] is False
    assert warnings == [
        "the deep model (mae 2.000) loses to gradient-boosted trees (mae 1.900) on test"
    ]
    summary, warnings = compare(simple_result("mae", 2.5, 2.1), 2.0)
    assert summary is not None and summary["deep_model_wins"] is True and warnings == []


def test_skipped_or_missing_simple_models_leave_the_summary_field_null():
    assert compare({"metric": "accuracy", "models": {}, "skipped": "images"}, 0.9) == (None, [])
    assert compare(None, 0.9) == (None, [])


def artifact(uri: str) -> metadata_store_pb2.Artifact:
    return metadata_store_pb2.Artifact(uri=uri)


def test_the_summary_shows_the_deep_model_against_the_simple_ones(tmp_path):
    (tmp_path / "simple").mkdir()
    (tmp_path / "simple" / SIMPLE_MODELS_FILE).write_text(
        json.dumps(simple_result("mae", 2.5, 1.9))
    )
    (tmp_path / "verdict").mkdir()
    (tmp_path / "verdict" / "verdict.json").write_text(
        json.dumps({"blessed": True, "reasons": [], "metric": "mae", "test": 2.0})
    )
    nodes = {
        "SimpleModels": NodeRecord(
            "SimpleModels", 0, {"dlwp.SimpleModels": [artifact(str(tmp_path / "simple"))]}
        ),
        "BlessingGate": NodeRecord(
            "BlessingGate", 0, {"ModelBlessing": [artifact(str(tmp_path / "verdict"))]}
        ),
    }
    summary = build_summary(BOOK_TASKS["boston_housing"], RunRecord("run", nodes), {})
    assert summary["simple_models"]["best"] == "gradient_boosted_trees"
    assert summary["simple_models"]["deep_model"] == pytest.approx(2.0)
    assert summary["model_warnings"] == [
        "the deep model (mae 2.000) loses to gradient-boosted trees (mae 1.900) on test"
    ]
    assert summary["per_class"] is None  # regression


def test_the_same_score_but_for_float_rounding_is_a_tie_the_deep_model_does_not_lose():
    # The AUC of one ranking, computed by TFMA and by scikit-learn (measured on breast cancer).
    summary, warnings = compare(simple_result("auc", 0.996031746031746, 0.99), 0.9960317460317459)
    assert summary is not None and summary["deep_model_wins"] is True and warnings == []
