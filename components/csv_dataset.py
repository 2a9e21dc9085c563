"""A user's tabular CSV as split columns (book ch. 6 starts from a problem, not from keras).

- The first row names the columns. A name becomes a feature name that TensorFlow accepts as a
  SavedModel input (`feature_name`: `mean radius` → `mean_radius`); the label may be given by
  either. Each other column becomes one feature, unless it cannot
  help (`components.csv_columns`: empty, constant, ID-like, a row counter): then it is left out
  of the features and of the written examples, with its reason in the column report.
- A column whose non-empty cells all parse as numbers is numeric (int when they are all
  integers, else float); a column of dates is a date column (kept as the text); any other
  column is a string (categorical) column.
- An empty cell, or one of pandas' missing-value markers (`NA`, `NaN`, `NULL`, `#N/A`, ...), is
  a missing value: the feature is left out of that row's tf.Example, so statistics count it as
  missing and Transform can fill it (with the train mean, ch. 6).
- A row whose label is missing is left out of every split and counted (`CsvTable`).
- The label: class indices 0..K-1 for classification (classes sorted; `label_classes`),
  floats for regression.
- A column named `split` with values train / eval / test chooses each row's split; without it,
  rows are shuffled with a fixed seed and split 60 / 20 / 20, stratified by class for
  classification so that every class of five rows or more lands in every split (book 5.2.2).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from collections import Counter
from collections.abc import Mapping

import numpy as np

from components import csv_columns
from components.columns import Columns
from components.errors import BadDataError
from contract.features import FeatureKind, ProblemType

SPLIT_COLUMN = "split"
SPLIT_SEED = 42
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
PROBLEM_TYPES = tuple(p.value for p in ProblemType)
SPLITS = ("train", "eval", "test")
# pandas.read_csv's default missing-value markers (its `na_values` documentation): what a
# table exported by pandas, R or a spreadsheet writes for a missing cell.
MISSING_MARKERS = frozenset(
    ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND")
    + ("1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null")
)
# What TensorFlow accepts as an op, and so a signature input, name (its `_VALID_OP_NAME_REGEX`,
# without the `>` and `/` of scopes).
_INVALID_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]")
# A class smaller than this is pooled with the other small ones for the stratified split: the
# 60 / 20 / 20 split needs five rows to give every split one.
MIN_STRATUM_ROWS = 5


def _parse_number(cell: str) -> int | float | None:
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _typed_column(cells: list[str]) -> list:
    values = [None if c in MISSING_MARKERS else c for c in cells]
    present = [c for c in values if c is not None]
    numbers = [_parse_number(c) for c in present]
    if present and all(n is not None for n in numbers):
        as_float = not all(isinstance(n, int) for n in numbers)
        return [None if c is None else (float(c) if as_float else int(c)) for c in values]
    return values


def feature_name(column: str) -> str:
    """The feature name of a CSV column: every character TensorFlow refuses in an input name
    becomes `_`, and a name that does not start with a letter, digit or `.` gets an `f`."""
    name = _INVALID_NAME_CHARACTERS.sub("_", column.strip())
    return name if re.match(r"[A-Za-z0-9.]", name) else f"f{name}"


def _feature_names(path: str, header: list[str]) -> list[str]:
    names = [feature_name(column) for column in header]
    columns_of: dict[str, list[str]] = {}
    for column, name in zip(header, names, strict=True):
        columns_of.setdefault(name, []).append(column)
    clashes = [" and ".join(map(repr, same)) for same in columns_of.values() if len(same) > 1]
    if clashes:
        raise BadDataError(
            f"CSV file {path}: columns {'; '.join(clashes)} become the same feature name "
            "(TensorFlow takes letters, digits, _ . - in an input name); rename one of them"
        )
    return names


def _read_rows(path: str) -> tuple[list[str], list[list[str]], list[int]]:
    import tensorflow as tf  # Here, not at import: `dlwp datasets` needs no TensorFlow.

    if not tf.io.gfile.exists(path):
        raise BadDataError(f"CSV file {path} does not exist")
    with tf.io.gfile.GFile(path, "r") as f:
        text = f.read()
    reader = csv.reader(text.lstrip("\ufeff").splitlines())
    header = next(reader, None)
    if not header:
        raise BadDataError(f"CSV file {path} is empty: the first line must name the columns")
    header = [name.strip() for name in header]
    if "" in header:
        raise BadDataError(f"CSV file {path}: column {header.index('') + 1} has no name")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise BadDataError(f"CSV file {path}: duplicate column names {duplicates}")
    rows, lines = [], []
    for line_number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise BadDataError(
                f"CSV file {path}, line {line_number}: {len(row)} fields, the header has "
                f"{len(header)}"
            )
        rows.append([cell.strip() for cell in row])
        lines.append(line_number)
    if not rows:
        raise BadDataError(f"CSV file {path} has a header but no rows")
    return _feature_names(path, header), rows, lines


def _check_label(path: str, label: str, values: list, problem_type: str) -> None:
    if all(v is None for v in values):
        raise BadDataError(
            f"CSV file {path}: label column {label!r} is empty on every row; fill it in, or "
            "name the column to predict with --label"
        )
    values = [v for v in values if v is not None]
    classes = sorted(set(values), key=str)
    if problem_type == "regression" and any(isinstance(v, str) for v in values):
        raise BadDataError(f"CSV file {path}: a regression label must be numeric; {label!r} is not")
    if problem_type == "binary" and len(classes) != 2:
        raise BadDataError(
            f"CSV file {path}: a binary label has 2 classes; {label!r} has {len(classes)}"
        )
    if problem_type == "multiclass" and len(classes) < 2:
        raise BadDataError(f"CSV file {path}: label {label!r} has fewer than 2 classes")


def label_classes(values: list) -> list:
    """The classes of a classification label, in the order of their indices (sorted)."""
    return sorted(set(values), key=lambda v: (isinstance(v, str), v))


def encode_label(values: list, problem_type: str) -> list:
    """Classification labels become class indices (0..K-1, see `label_classes`); regression
    targets become floats. The model and the baseline read one label type per problem type."""
    if problem_type == "regression":
        return [float(v) for v in values]
    index = {value: i for i, value in enumerate(label_classes(values))}
    return [index[v] for v in values]


def _strata(labels: list[int]) -> np.ndarray | None:
    """Each row's stratum for a stratified split: its class, small classes pooled (the pool
    joins the largest class when it is small too); None when there is nothing to stratify."""
    counts = Counter(labels)
    small = {c for c, n in counts.items() if n < MIN_STRATUM_ROWS}
    largest = counts.most_common(1)[0][0]
    pooled = -1 if sum(counts[c] for c in small) >= MIN_STRATUM_ROWS else largest
    strata = np.array([pooled if c in small else c for c in labels])
    return strata if len(set(strata.tolist())) > 1 else None


def _shuffled_splits(path: str, labels: list, problem_type: str, seed: int) -> tuple[dict, str]:
    from sklearn.model_selection import train_test_split

    if len(labels) < len(SPLITS):
        raise BadDataError(
            f"CSV file {path}: {len(labels)} labelled rows cannot fill the train, eval and "
            "test splits"
        )
    strata = None if problem_type == "regression" else _strata(labels)
    rows = np.arange(len(labels))
    _, eval_share, test_share = SPLIT_FRACTIONS
    rest, test = train_test_split(rows, test_size=test_share, random_state=seed, stratify=strata)
    train, eval_rows = train_test_split(
        rest,
        test_size=eval_share / (1 - test_share),
        random_state=seed,
        stratify=None if strata is None else strata[rest],
    )
    how = f"{'stratified ' if strata is not None else ''}shuffle, seed {seed}"
    return {"train": train, "eval": eval_rows, "test": test}, how


def _column_splits(path: str, header: list[str], rows: list[list[str]]) -> tuple[dict, str]:
    column = header.index(SPLIT_COLUMN)
    splits = np.array([row[column] for row in rows])
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise BadDataError(
            f"CSV file {path}: column {SPLIT_COLUMN!r} has values {unknown}; "
            f"use {', '.join(SPLITS)}"
        )
    return {split: np.nonzero(splits == split)[0] for split in SPLITS}, "split column"


@dataclasses.dataclass(frozen=True)
class CsvTable:
    """A CSV read, understood and split.

    Attributes:
        path: the file.
        label: the label column.
        problem_type: binary, multiclass or regression.
        header: the file's column names.
        columns: every column but `split`, typed, over all rows read (the label as read).
        kinds: the kind of each feature column (`csv_columns.column_kind`).
        left_out: {column: reason} for the feature columns that cannot help.
        classes: the label's classes in index order (classification), else None.
        splits: train / eval / test columns of the kept features and the encoded label.
        rows_read: data rows in the file.
        empty_label_lines: file lines whose label is empty (left out of every split).
        split: how the rows were split (see `csv_columns.ColumnReport`).
    """

    path: str
    label: str
    problem_type: ProblemType
    header: tuple[str, ...]
    columns: Mapping[str, list]
    kinds: Mapping[str, FeatureKind]
    left_out: Mapping[str, str]
    classes: tuple | None
    splits: Mapping[str, Columns]
    rows_read: int
    empty_label_lines: tuple[int, ...]
    split: str

    @property
    def features(self) -> dict[str, FeatureKind]:
        """{name: kind} of the kept features, in file order."""
        return {name: kind for name, kind in self.kinds.items() if name not in self.left_out}

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """The classes as text, in index order (`str` of a numeric class), else None."""
        return None if self.classes is None else tuple(str(c) for c in self.classes)

    def report(self) -> csv_columns.ColumnReport:
        """The column report (`csv_columns.ColumnReport`): per column, then over the rows."""
        summaries = []
        for name in self.header:
            if name == SPLIT_COLUMN:
                summaries.append(
                    csv_columns.ColumnSummary(
                        name, csv_columns.SPLIT_KIND, 0.0, len(SPLITS), "chooses each row's split"
                    )
                )
            elif name == self.label:
                summaries.append(
                    csv_columns.summarize_column(
                        name, self.columns[name], csv_columns.LABEL_KIND, self._label_transform()
                    )
                )
            else:
                kind = self.kinds[name]
                summaries.append(
                    csv_columns.summarize_column(
                        name,
                        self.columns[name],
                        kind.value,
                        csv_columns.TRANSFORMS[kind],
                        self.left_out.get(name),
                    )
                )
        return csv_columns.ColumnReport(
            path=self.path,
            label=self.label,
            rows_read=self.rows_read,
            empty_label_lines=self.empty_label_lines,
            split=self.split,
            split_counts={split: len(self.splits[split][self.label]) for split in SPLITS},
            class_names=self.class_names,
            columns=tuple(summaries),
            duplicate_rows=csv_columns.duplicate_rows(self.splits),
            possible_leaks=csv_columns.possible_leaks(
                self.splits, self.label, self.problem_type, self.features
            ),
        )

    def _label_transform(self) -> str:
        if self.classes is None:
            return "the target, as a float"
        return f"class index 0..{len(self.classes) - 1} in the order of class_names"


def load_csv_table(path: str, label: str, problem_type: str, seed: int = SPLIT_SEED) -> CsvTable:
    """Reads, understands and splits a CSV (see the module docstring).

    Raises:
        BadDataError: the label column is missing, empty everywhere or unusable for
            `problem_type`, a split is empty, no feature is left, or the file is malformed.
    """
    if problem_type not in PROBLEM_TYPES:
        raise BadDataError(f"task {problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}")
    header, rows, lines = _read_rows(path)
    label = feature_name(label)
    if label not in header:
        raise BadDataError(
            f"CSV file {path} has no label column {label!r}; its columns are {', '.join(header)}"
        )
    if label == SPLIT_COLUMN:
        raise BadDataError(f"column {SPLIT_COLUMN!r} chooses the split; it cannot be the label")
    # Types, kinds and left-out columns are decided on the file as read (the column report
    # describes it); the rows with an empty label are left out after.
    columns = {
        name: _typed_column([row[i] for row in rows])
        for i, name in enumerate(header)
        if name != SPLIT_COLUMN
    }
    _check_label(path, label, columns[label], problem_type)
    kinds = {
        name: csv_columns.column_kind(values) for name, values in columns.items() if name != label
    }
    left_out = {
        name: reason
        for name, kind in kinds.items()
        if (reason := csv_columns.left_out_reason(columns[name], kind)) is not None
    }
    if len(left_out) == len(kinds):
        reasons = "; ".join(f"{name}: {reason}" for name, reason in left_out.items())
        raise BadDataError(
            f"CSV file {path}: no column can be a feature ({reasons or 'only the label'}); "
            "add columns that describe each example"
        )
    labelled = [i for i, value in enumerate(columns[label]) if value is not None]
    empty_label_lines = tuple(lines[i] for i, v in enumerate(columns[label]) if v is None)
    rows = [rows[i] for i in labelled]
    kept = {
        name: [values[i] for i in labelled]
        for name, values in columns.items()
        if name not in left_out
    }
    classes = None if problem_type == "regression" else tuple(label_classes(kept[label]))
    encoded = encode_label(kept[label], problem_type)
    if SPLIT_COLUMN in header:
        indices, how = _column_splits(path, header, rows)
    else:
        indices, how = _shuffled_splits(path, encoded, problem_type, seed)
    kept[label] = encoded
    splits = {}
    for split in SPLITS:
        order = np.sort(indices[split])  # file order within a split
        if len(order) == 0:
            raise BadDataError(
                f"CSV file {path}: split {split!r} has no rows ({len(rows)} labelled rows)"
            )
        splits[split] = {name: [values[i] for i in order] for name, values in kept.items()}
    return CsvTable(
        path=path,
        label=label,
        problem_type=ProblemType(problem_type),
        header=tuple(header),
        columns=columns,
        kinds=kinds,
        left_out=left_out,
        classes=classes,
        splits=splits,
        rows_read=len(lines),
        empty_label_lines=empty_label_lines,
        split=how,
    )


def load_csv_splits(
    path: str, label: str, problem_type: str, seed: int = SPLIT_SEED
) -> Mapping[str, Columns]:
    """Reads a CSV and splits it into train / eval / test columns of the kept features and the
    label (see the module docstring and `load_csv_table`).

    Raises:
        BadDataError: as `load_csv_table`.
    """
    return load_csv_table(path, label, problem_type, seed).splits


def csv_model_name(path: str) -> str:
    """The model name of a CSV task: the file's stem."""
    return os.path.splitext(os.path.basename(path))[0]
