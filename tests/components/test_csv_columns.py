"""Columns understood as a practitioner would: dates, small-integer columns, columns left out with
their reason, duplicate rows across splits, possible target leaks, and the column report."""

import json

import pytest

from components.csv_columns import (
    column_kind,
    duplicate_rows,
    is_date,
    left_out_reason,
    possible_leaks,
)
from components.csv_dataset import load_csv_table
from contract.features import FeatureKind, ProblemType


def write(tmp_path, text, name="messy.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "cell",
    ["2012-01-01", "2012/01/01", "2012-01-31 23:59", "2012/12/31T08:05:59", "1999-02-28 00:00:00"],
)
def test_dates_in_both_formats_with_and_without_a_time_are_dates(cell):
    assert is_date(cell)


@pytest.mark.parametrize(
    "cell",
    ["2012-13-01", "2012-00-10", "2012-01-32", "2012-01/01", "12-01-01", "2012-01-01 24:00"]
    + ["2012-01-01 10:60", "20120101", "2012-01-01x", "January 1, 2012"]
    + ["2012-02-30", "2013-02-29"],  # no such day: the Transform would read them as missing
)
def test_out_of_range_or_other_shapes_are_not_dates(cell):
    assert not is_date(cell)


def test_a_column_of_dates_with_missing_cells_is_a_date_column():
    assert column_kind(["2012-01-01", None, "2013/06/30 12:00"]) is FeatureKind.DATE
    assert column_kind(["2012-01-01", "soon"]) is FeatureKind.CATEGORICAL


def test_an_integer_column_with_two_values_stays_numeric():
    assert column_kind([0, 1, 1, 0, None]) is FeatureKind.NUMERIC
    assert left_out_reason([0, 1] * 20, FeatureKind.NUMERIC) is None


def test_empty_and_constant_columns_are_left_out_with_their_reason():
    assert "empty" in left_out_reason([None] * 5, FeatureKind.NUMERIC)
    assert "constant" in left_out_reason([7, 7, None, 7], FeatureKind.NUMERIC)
    assert "constant" in left_out_reason(["x"] * 4, FeatureKind.CATEGORICAL)


def test_a_text_flag_with_empty_cells_is_kept():
    # "yes" or empty: missing has its own vocabulary index, so the column says something.
    assert left_out_reason(["yes", None, "yes", None], FeatureKind.CATEGORICAL) is None


def test_id_like_text_is_left_out_only_with_enough_rows():
    ids = [f"user-{i}" for i in range(25)]
    assert "ID-like: 25 distinct values in 25" in left_out_reason(ids, FeatureKind.CATEGORICAL)
    assert left_out_reason(ids[:19], FeatureKind.CATEGORICAL) is None  # too few rows to tell
    repeated = [f"town-{i % 20}" for i in range(25)]  # 20 of 25 distinct: 80 %, kept
    assert left_out_reason(repeated, FeatureKind.CATEGORICAL) is None


def test_a_row_counter_is_left_out_but_distinct_measurements_are_kept():
    shuffled_counter = [(i * 7) % 30 + 1 for i in range(30)]  # 1..30 in another order
    assert "row counter: the integers 1..30" in left_out_reason(
        shuffled_counter, FeatureKind.NUMERIC
    )
    timestamps = [1_400_000_000 + 900 * i for i in range(30)]
    assert left_out_reason(timestamps, FeatureKind.NUMERIC) is None
    floats = [float(i) for i in range(30)]
    assert left_out_reason(floats, FeatureKind.NUMERIC) is None


def test_eval_and_test_rows_that_repeat_a_train_row_are_counted():
    splits = {
        "train": {"a": [1, 2, 3], "b": ["x", None, "z"], "y": [0, 1, 0]},
        "eval": {"a": [2, 2], "b": [None, None], "y": [1, 0]},  # one repeat, one label differs
        "test": {"a": [1, 3, 3], "b": ["x", "z", "z"], "y": [0, 0, 0]},
    }
    assert duplicate_rows(splits) == {"eval": 1, "test": 3}


def _leak_splits(n, leak):
    """n rows per split; `leak` is the label itself as text, `noise` does not know it."""
    splits = {}
    for split, offset in (("train", 0), ("eval", 1), ("test", 2)):
        labels = [(i * 7 + offset) % 3 for i in range(n)]
        splits[split] = {
            "code": [f"c{y}" if leak else f"c{i % 4}" for i, y in enumerate(labels)],
            "amount": [y * 10.0 + (i % 5) if leak else float(i % 5) for i, y in enumerate(labels)],
            "label": labels,
        }
    return splits


def test_a_column_that_gives_the_label_away_is_a_possible_leak():
    kinds = {"code": FeatureKind.CATEGORICAL, "amount": FeatureKind.NUMERIC}
    leaks = possible_leaks(_leak_splits(30, leak=True), "label", ProblemType.MULTICLASS, kinds)
    assert {leak.column for leak in leaks} == {"code", "amount"}
    assert all(leak.value == 1.0 for leak in leaks)
    honest = possible_leaks(_leak_splits(30, leak=False), "label", ProblemType.MULTICLASS, kinds)
    assert honest == ()


def test_no_leak_is_claimed_when_the_majority_class_is_already_above_90_percent():
    splits = {
        split: {"flag": ["a"] * 19 + ["b"], "label": [0] * 19 + [1]}
        for split in ("train", "eval", "test")
    }
    kinds = {"flag": FeatureKind.CATEGORICAL}
    assert possible_leaks(splits, "label", ProblemType.BINARY, kinds) == ()


def test_a_regression_column_ranked_like_the_target_is_a_possible_leak():
    target = [float(i * i) for i in range(20)]
    splits = {
        split: {"same_order": [i**0.5 for i in target], "noise": [i % 3 for i in range(20)]}
        | {"y": target}
        for split in ("train", "eval", "test")
    }
    kinds = {"same_order": FeatureKind.NUMERIC, "noise": FeatureKind.NUMERIC}
    leaks = possible_leaks(splits, "y", ProblemType.REGRESSION, kinds)
    assert [(leak.column, leak.value) for leak in leaks] == [("same_order", 1.0)]


MESSY_HEADER = "customer,opened,visited,plan,constant,score,weather\n"


def messy_rows(n):
    """Dates in both formats with and without a time, an ID column, a constant column, a
    small-integer column, empty labels every tenth row, sorted by label."""
    weather = ["fog", "rain", "sun"]
    rows = []
    for i in range(n):
        opened = f"2012-{1 + i % 12:02d}-{1 + i % 28:02d}" if i % 2 else f"2013/{1 + i % 12:02d}/05"
        visited = f"2014-03-{1 + i % 28:02d} {i % 24:02d}:30" if i % 5 else ""
        label = "" if i % 10 == 9 else weather[i * 3 // n]
        rows.append(f"cust-{i:05d},{opened},{visited},{i % 3},same,{(i * 37) % 101},{label}\n")
    return MESSY_HEADER + "".join(rows)


def test_the_column_report_says_what_was_understood_and_left_out(tmp_path):
    table = load_csv_table(write(tmp_path, messy_rows(60)), "weather", "multiclass")
    report = table.report().to_json()
    kinds = {c["name"]: c["kind"] for c in report["columns"]}
    assert kinds == {
        "customer": "left out",
        "opened": "date",
        "visited": "date",
        "plan": "numeric",
        "constant": "left out",
        "score": "numeric",
        "weather": "label",
    }
    assert set(report["left_out"]) == {"customer", "constant"}
    assert report["rows_read"] == 60 and report["empty_label_rows"] == 6
    assert report["empty_label_lines"][:2] == [11, 21]
    assert sum(report["split_counts"].values()) == 54
    assert report["class_names"] == ["fog", "rain", "sun"]
    visited = next(c for c in report["columns"] if c["name"] == "visited")
    assert visited["missing_share"] == pytest.approx(12 / 60, abs=1e-4)
    assert "sine/cosine" in visited["transform"]
    json.dumps(report)  # JSON-ready as it is


def test_the_terminal_table_has_one_line_per_column_and_names_the_reasons(tmp_path):
    table = load_csv_table(write(tmp_path, messy_rows(60)), "weather", "multiclass")
    text = "\n".join(table.report().lines())
    assert "6 rows with an empty label 'weather' left out" in text
    assert "ID-like" in text and "constant" in text
    for name in ("customer", "opened", "visited", "plan", "constant", "score", "weather"):
        assert f"  {name} " in text
