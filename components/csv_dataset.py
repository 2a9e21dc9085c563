"""A user's tabular CSV as split columns (book ch. 6 starts from a problem, not from keras).

- The first row names the columns; each other column becomes one feature.
- A column whose non-empty cells all parse as numbers is numeric (int when they are all
  integers, else float); any other column is a string (categorical) column.
- An empty cell is a missing value: the feature is left out of that row's tf.Example, so
  statistics count it as missing and Transform can fill it (with the train mean, ch. 6).
- The label: class indices 0..K-1 for classification (classes sorted; `label_classes`),
  floats for regression.
- A column named `split` with values train / eval / test chooses each row's split; without it,
  rows are shuffled with a fixed seed and split 60 / 20 / 20.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping

import numpy as np

from components.columns import Columns
from components.errors import BadDataError
from contract.features import ProblemType

SPLIT_COLUMN = "split"
SPLIT_SEED = 42
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
PROBLEM_TYPES = tuple(p.value for p in ProblemType)
SPLITS = ("train", "eval", "test")


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
    present = [c for c in cells if c != ""]
    numbers = [_parse_number(c) for c in present]
    if present and all(n is not None for n in numbers):
        as_float = not all(isinstance(n, int) for n in numbers)
        return [None if c == "" else (float(c) if as_float else int(c)) for c in cells]
    return [None if c == "" else c for c in cells]


def read_csv(path: str) -> tuple[list[str], list[list[str]]]:
    """Reads header and rows, checking that the header names are unique and rows are complete.

    Raises:
        BadDataError: the file is missing, empty, or malformed; the message names the line.
    """
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
    rows = []
    for line_number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise BadDataError(
                f"CSV file {path}, line {line_number}: {len(row)} fields, the header has "
                f"{len(header)}"
            )
        rows.append([cell.strip() for cell in row])
    if not rows:
        raise BadDataError(f"CSV file {path} has a header but no rows")
    return header, rows


def _check_label(path: str, label: str, values: list, problem_type: str) -> None:
    if problem_type not in PROBLEM_TYPES:
        raise BadDataError(f"task {problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}")
    empty = [i + 2 for i, v in enumerate(values) if v is None]
    if empty:
        raise BadDataError(
            f"CSV file {path}: label column {label!r} is empty on line(s) "
            f"{', '.join(map(str, empty[:10]))}{' ...' if len(empty) > 10 else ''}; "
            "every example needs a label"
        )
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


def _split_of_rows(path: str, header: list[str], rows: list[list[str]], seed: int) -> np.ndarray:
    if SPLIT_COLUMN in header:
        column = header.index(SPLIT_COLUMN)
        splits = np.array([row[column] for row in rows])
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise BadDataError(
                f"CSV file {path}: column {SPLIT_COLUMN!r} has values {unknown}; "
                f"use {', '.join(SPLITS)}"
            )
        return splits
    order = np.random.default_rng(seed).permutation(len(rows))
    n_train = int(round(SPLIT_FRACTIONS[0] * len(rows)))
    n_eval = int(round(SPLIT_FRACTIONS[1] * len(rows)))
    splits = np.empty(len(rows), dtype=object)
    splits[order[:n_train]] = "train"
    splits[order[n_train : n_train + n_eval]] = "eval"
    splits[order[n_train + n_eval :]] = "test"
    return splits


def load_csv_splits(
    path: str, label: str, problem_type: str, seed: int = SPLIT_SEED
) -> Mapping[str, Columns]:
    """Reads a CSV and splits it into train / eval / test columns (see the module docstring).

    Raises:
        BadDataError: the label column is missing or unusable for `problem_type`, a split is
            empty, or the file is malformed.
    """
    header, rows = read_csv(path)
    if label not in header:
        raise BadDataError(
            f"CSV file {path} has no label column {label!r}; its columns are {', '.join(header)}"
        )
    if label == SPLIT_COLUMN:
        raise BadDataError(f"column {SPLIT_COLUMN!r} chooses the split; it cannot be the label")
    columns = {
        name: _typed_column([row[i] for row in rows])
        for i, name in enumerate(header)
        if name != SPLIT_COLUMN
    }
    _check_label(path, label, columns[label], problem_type)
    columns[label] = encode_label(columns[label], problem_type)
    split_of_row = _split_of_rows(path, header, rows, seed)
    splits = {}
    for split in SPLITS:
        (indices,) = np.nonzero(split_of_row == split)
        if len(indices) == 0:
            raise BadDataError(
                f"CSV file {path}: split {split!r} has no rows ({len(rows)} rows in all)"
            )
        splits[split] = {name: [values[i] for i in indices] for name, values in columns.items()}
    return splits


def csv_model_name(path: str) -> str:
    """The model name of a CSV task: the file's stem."""
    return os.path.splitext(os.path.basename(path))[0]
