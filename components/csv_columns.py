"""Columns of a user's CSV understood as a practitioner would (book 6.1.3, 5.4.2).

- A column of numbers is numeric, however few distinct values it has (a 0/1 column too).
- A text column whose every non-empty cell is a date (`2012-01-31`, `2012/01/31`, optionally
  followed by `[ T]HH:MM[:SS]`) is a date: the Transform turns it into the year and cyclical
  month, day of year and weekday (book 5.4.2, the clock-angle example).
- Any other text column is categorical.
- Columns that cannot help are left out, each with its reason: empty or constant columns, ID-like
  text (nearly one value per row: it can only memorize), and row counters.

The `ColumnReport` says all of it once: per column its kind, missing share, distinct values,
what the transform does or why it is left out, and, over the rows, what a practitioner checks
before training: empty labels left out, rows of eval and test that repeat a train row (book
5.2.3, redundancy) and single columns that predict the label almost perfectly (a possible
target leak, book 5.2.3).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from contract.dates import parse_date
from contract.features import FeatureKind, ProblemType

# `2012-01-31` or `2012/01/31` (one separator throughout), then optionally a time.
DATE_PATTERN = re.compile(
    r"(?P<year>\d{4})(?P<sep>[-/])(?P<month>\d{2})(?P=sep)(?P<day>\d{2})"
    r"(?:[ T](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
)
# ID-like text: more distinct values than this share of its non-empty cells, and at least
# ID_MIN_ROWS of them (on fewer rows, every column looks unique).
ID_DISTINCT_SHARE = 0.9
ID_MIN_ROWS = 20
# A possible target leak (book 5.2.3): one column alone reaches this on held-out rows ...
LEAK_ACCURACY = 0.99
# ... while always answering the majority class would not come near it.
LEAK_MAX_MAJORITY = 0.9
LEAK_SPEARMAN = 0.99

LABEL_KIND = "label"
SPLIT_KIND = "split"
LEFT_OUT_KIND = "left out"

TRANSFORMS = {
    FeatureKind.NUMERIC: "z-score with the train mean and std; missing → mean",
    FeatureKind.CATEGORICAL: (
        "index in the train vocabulary; missing → its own index; unseen → one OOV bucket"
    ),
    FeatureKind.DATE: "year as a number; month, day of year, weekday as sine/cosine",
}


def is_date(cell: str) -> bool:
    """True for `YYYY-MM-DD` or `YYYY/MM/DD`, optionally with `[ T]HH:MM[:SS]`, a day of the
    calendar (`contract.dates`, as the Transform reads it) at a time of the clock."""
    match = DATE_PATTERN.fullmatch(cell)
    if match is None or parse_date(cell) is None:
        return False
    ranges = {"hour": (0, 23), "minute": (0, 59), "second": (0, 59)}
    for part, (low, high) in ranges.items():
        text = match.group(part)
        if text is not None and not low <= int(text) <= high:
            return False
    return True


def column_kind(values: Sequence[Any]) -> FeatureKind:
    """The kind of a typed column (ints, floats or strings; None for a missing cell)."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, (int, float)) for v in present):
        return FeatureKind.NUMERIC
    if all(isinstance(v, str) and is_date(v) for v in present):
        return FeatureKind.DATE
    return FeatureKind.CATEGORICAL


def left_out_reason(values: Sequence[Any], kind: FeatureKind) -> str | None:
    """Why a feature column cannot help the model, or None when it is kept.

    - Empty everywhere, or one value (a numeric column with one value and empty cells too: the
      transform fills them with that value).
    - ID-like text: nearly one distinct value per row; the model could only memorize them.
    - A row counter: integers that are exactly min..max, one per row. They number the rows and
      say nothing about them; in a file sorted by label they would even look predictive. Other
      integer columns with one value per row (sizes, timestamps) are measurements and kept.

    A text column with one value and empty cells is kept: the vocabulary gives missing its own
    index, so it is a flag.
    """
    present = [v for v in values if v is not None]
    if not present:
        return "empty: no value in any row"
    distinct = set(present)
    missing = len(values) - len(present)
    if len(distinct) == 1 and (kind is not FeatureKind.CATEGORICAL or not missing):
        return f"constant: {present[0]!r} in every non-empty row"
    if (
        kind is FeatureKind.CATEGORICAL
        and len(present) >= ID_MIN_ROWS
        and len(distinct) > ID_DISTINCT_SHARE * len(present)
    ):
        return (
            f"ID-like: {len(distinct)} distinct values in {len(present)} non-empty rows; "
            "a value seen once can only be memorized"
        )
    if (
        kind is FeatureKind.NUMERIC
        and not missing
        and len(present) >= ID_MIN_ROWS
        and all(isinstance(v, int) for v in present)
        and len(distinct) == len(present) == max(present) - min(present) + 1
    ):
        return (
            f"row counter: the integers {min(present)}..{max(present)}, one per row; "
            "it numbers the rows and says nothing about them"
        )
    return None


@dataclasses.dataclass(frozen=True)
class ColumnSummary:
    """One column of the file as the workflow understood it."""

    name: str
    kind: str  # a FeatureKind value, LABEL_KIND, SPLIT_KIND or LEFT_OUT_KIND
    missing_share: float
    distinct: int
    transform: str
    left_out_reason: str | None = None


def summarize_column(
    name: str, values: Sequence[Any], kind: str, transform: str, reason: str | None = None
) -> ColumnSummary:
    """A column's summary; `kind` is LEFT_OUT_KIND when `reason` is given."""
    present = [v for v in values if v is not None]
    return ColumnSummary(
        name=name,
        kind=LEFT_OUT_KIND if reason else kind,
        missing_share=round(1 - len(present) / len(values), 4) if values else 0.0,
        distinct=len(set(present)),
        transform="" if reason else transform,
        left_out_reason=reason,
    )


def duplicate_rows(splits: Mapping[str, Mapping[str, Sequence[Any]]]) -> dict[str, int]:
    """For eval and test: how many of their rows equal a train row in every column."""

    def row_keys(columns: Mapping[str, Sequence[Any]]) -> list[tuple]:
        names = sorted(columns)
        return list(zip(*(columns[name] for name in names), strict=True))

    train = set(row_keys(splits["train"]))
    return {
        split: sum(key in train for key in row_keys(splits[split]))
        for split in splits
        if split != "train"
    }


@dataclasses.dataclass(frozen=True)
class PossibleLeak:
    """A column that alone predicts the label almost perfectly (book 5.2.3)."""

    column: str
    measure: str
    value: float


def _held_out(splits: Mapping[str, Mapping[str, Sequence[Any]]], name: str) -> list[Any]:
    return [v for split in splits if split != "train" for v in splits[split][name]]


def _one_column_accuracy(
    kind: FeatureKind, train_x: Sequence[Any], train_y: Sequence[int], test_x, test_y
) -> float:
    """Accuracy on held-out rows of a model that sees only this column (learnt on train)."""
    if kind is FeatureKind.NUMERIC:
        from sklearn.tree import DecisionTreeClassifier

        # A shallow tree finds the thresholds a leak hides behind ("refund > 0"); it handles
        # missing values (NaN) itself.
        def as_matrix(values: Sequence[Any]) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], float).reshape(-1, 1)

        tree = DecisionTreeClassifier(max_depth=3, random_state=0)
        tree.fit(as_matrix(train_x), train_y)
        return float(np.mean(tree.predict(as_matrix(test_x)) == np.asarray(test_y)))
    by_value: dict[Any, Counter] = {}
    for value, label in zip(train_x, train_y, strict=True):
        by_value.setdefault(value, Counter())[label] += 1
    overall = Counter(train_y).most_common(1)[0][0]
    guess = {value: counts.most_common(1)[0][0] for value, counts in by_value.items()}
    hits = [guess.get(value, overall) == label for value, label in zip(test_x, test_y, strict=True)]
    return float(np.mean(hits))


def possible_leaks(
    splits: Mapping[str, Mapping[str, Sequence[Any]]],
    label: str,
    problem_type: ProblemType,
    kinds: Mapping[str, FeatureKind],
) -> tuple[PossibleLeak, ...]:
    """Columns that alone predict the label almost perfectly: reported, never dropped.

    Classification: a model of the one column learnt on train (its value's majority label, or
    a shallow tree for a number) reaches LEAK_ACCURACY on eval + test, while the majority class
    is below LEAK_MAX_MAJORITY. Regression: |Spearman| of a numeric column with the target on
    train reaches LEAK_SPEARMAN.
    """
    train = splits["train"]
    leaks = []
    if problem_type is ProblemType.REGRESSION:
        from scipy.stats import spearmanr

        for name, kind in kinds.items():
            if kind is not FeatureKind.NUMERIC:
                continue
            present = [i for i, x in enumerate(train[name]) if x is not None]
            xs = [train[name][i] for i in present]
            ys = [train[label][i] for i in present]
            if len(present) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
                continue
            rho = float(spearmanr(xs, ys).statistic)
            if abs(rho) >= LEAK_SPEARMAN:
                leaks.append(PossibleLeak(name, "Spearman correlation on train", round(rho, 4)))
        return tuple(leaks)
    test_y = _held_out(splits, label)
    labels = list(train[label]) + test_y
    majority = Counter(labels).most_common(1)[0][1] / len(labels)
    if majority >= LEAK_MAX_MAJORITY or not test_y:
        return ()
    for name, kind in kinds.items():
        if all(v is None for v in train[name]):
            continue
        accuracy = _one_column_accuracy(
            kind, train[name], train[label], _held_out(splits, name), test_y
        )
        if accuracy >= LEAK_ACCURACY:
            leaks.append(PossibleLeak(name, "accuracy on eval + test alone", round(accuracy, 4)))
    return tuple(leaks)


@dataclasses.dataclass(frozen=True)
class ColumnReport:
    """What the workflow understood of a CSV: `<home>/reports/<model>/columns.json`.

    Attributes:
        path: the file.
        label: the label column.
        rows_read: data rows in the file.
        empty_label_lines: file lines (the header is line 1) whose label is empty: left out of
            every split.
        split: how the rows were split ("split column", "stratified shuffle, seed N" or
            "shuffle, seed N").
        split_counts: rows per split.
        class_names: the classes in the order of their indices (classification), else None.
        columns: every column of the file, in file order.
        duplicate_rows: rows of eval and of test that equal a train row in every column kept.
        possible_leaks: columns that alone predict the label almost perfectly.
    """

    path: str
    label: str
    rows_read: int
    empty_label_lines: tuple[int, ...]
    split: str
    split_counts: Mapping[str, int]
    class_names: tuple[str, ...] | None
    columns: tuple[ColumnSummary, ...]
    duplicate_rows: Mapping[str, int]
    possible_leaks: tuple[PossibleLeak, ...] = ()

    @property
    def left_out(self) -> dict[str, str]:
        """{column: why it is left out}, in file order."""
        return {c.name: c.left_out_reason for c in self.columns if c.left_out_reason}

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (what columns.json holds)."""
        return {
            "file": self.path,
            "label": self.label,
            "rows_read": self.rows_read,
            "empty_label_rows": len(self.empty_label_lines),
            "empty_label_lines": list(self.empty_label_lines[:20]),
            "split": self.split,
            "split_counts": dict(self.split_counts),
            "class_names": list(self.class_names) if self.class_names is not None else None,
            "columns": [dataclasses.asdict(c) for c in self.columns],
            "left_out": self.left_out,
            "duplicate_rows": dict(self.duplicate_rows),
            "possible_leaks": [dataclasses.asdict(leak) for leak in self.possible_leaks],
        }

    def summary(self) -> dict[str, Any]:
        """What summary.json says of the columns: what was left out and what to look at."""
        return {
            "kinds": {c.name: c.kind for c in self.columns},
            "left_out": self.left_out,
            "empty_label_rows": len(self.empty_label_lines),
            "duplicate_rows": dict(self.duplicate_rows),
            "possible_leaks": [dataclasses.asdict(leak) for leak in self.possible_leaks],
        }

    def warnings(self) -> list[str]:
        """Sentences for what the user should look at before trusting a score (book 5.2.3)."""
        sentences = [
            f"column {leak.column!r} alone predicts the label ({leak.measure} {leak.value:.3f}):"
            " a possible target leak; leave it out if it is not known at prediction time"
            for leak in self.possible_leaks
        ]
        copies = self.duplicate_rows.get("test", 0)
        if copies:
            sentences.append(
                f"{copies} test rows are exact copies of train rows: the test score is optimistic"
            )
        return sentences

    def lines(self) -> list[str]:
        """A short readable table for the terminal."""
        counts = " / ".join(f"{n} {split}" for split, n in self.split_counts.items())
        lines = [f"columns of {self.path}: {self.rows_read} rows; {counts} ({self.split})"]
        if self.empty_label_lines:
            lines.append(
                f"  {len(self.empty_label_lines)} rows with an empty label {self.label!r} left out"
            )
        width = max(len("column"), *(len(c.name) for c in self.columns))
        lines.append(f"  {'column':<{width}}  {'kind':<11}  missing  distinct  transform")
        for c in self.columns:
            what = c.left_out_reason or c.transform
            lines.append(
                f"  {c.name:<{width}}  {c.kind:<11}  {c.missing_share:>6.1%}  {c.distinct:>8}  "
                f"{what}"
            )
        for split, n in self.duplicate_rows.items():
            if n:
                lines.append(f"  {n} {split} rows repeat a train row exactly")
        for leak in self.possible_leaks:
            lines.append(
                f"  possible target leak: {leak.column!r} alone predicts the label "
                f"({leak.measure} {leak.value}); check it is known at prediction time"
            )
        return lines
