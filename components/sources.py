"""Where a task's examples come from, and how they are split into train / eval / test.

A source is a small frozen dataclass that travels to the ExampleGen as JSON (TFX execution
properties are strings and numbers). `load_splits` turns it into split columns.

- `KerasSource`: one of the book's datasets. Test is the dataset's own test set; eval is a
  deterministic hold-out from the training set (the book's listings), never also in train. A
  K-fold task's Trainer folds train + eval together, so every training row is used once.
- `CsvSource`: a user's CSV; see `components.csv_dataset`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from components import csv_dataset, extra_data
from components.columns import Columns
from components.keras_datasets import (
    KERAS_DATASETS,
    find_files,
    load_keras_dataset,
)
from contract.features import WORDS

SPLITS = ("train", "eval", "test")
LABEL = "label"
IMAGE = "image"
# Boston Housing's 13 columns, in keras's order (the StatLib names, lower-cased).
BOSTON_COLUMNS = (
    "crim",
    "zn",
    "indus",
    "chas",
    "nox",
    "rm",
    "age",
    "dis",
    "rad",
    "tax",
    "ptratio",
    "b",
    "lstat",
)


@dataclasses.dataclass(frozen=True)
class KerasSource:
    """A `keras.datasets` dataset with the book's hold-out.

    Attributes:
        dataset: key of `KERAS_DATASETS`.
        layout: "image" (one int feature of 784 pixels), "sequence" (one int64 list of word
            indices) or "tabular" (one float feature per column of `columns`).
        eval_size: examples of the training set held out for eval.
        eval_from: "first" or "last" examples of the training set.
        columns: feature names of a tabular dataset.
        label: the label feature's name.
    """

    dataset: str
    layout: str
    eval_size: int
    eval_from: str = "last"
    columns: tuple[str, ...] = ()
    label: str = LABEL
    kind: str = "keras"


@dataclasses.dataclass(frozen=True)
class CsvSource:
    """A tabular CSV; `label` is the target column, `problem_type` the task of book table 6.1."""

    path: str
    label: str
    problem_type: str
    seed: int = csv_dataset.SPLIT_SEED
    kind: str = "csv"


Source = KerasSource | CsvSource


def to_json(source: Source) -> str:
    """Serializes a source for an execution property."""
    return json.dumps(dataclasses.asdict(source), sort_keys=True)


def from_json(text: str) -> Source:
    """Parses what `to_json` wrote."""
    fields = json.loads(text)
    if fields["kind"] == "keras":
        fields["columns"] = tuple(fields["columns"])
        return KerasSource(**fields)
    return CsvSource(**fields)


def _features(source: KerasSource, x: Any) -> dict[str, Any]:
    if source.layout == "image":
        return {IMAGE: np.asarray(x).reshape(len(x), -1)}
    if source.layout == "sequence":
        return {WORDS: [np.asarray(words, dtype=np.int64) for words in x]}
    x = np.asarray(x, dtype=np.float32)
    return {name: x[:, i] for i, name in enumerate(source.columns)}


def _keras_splits(source: KerasSource, data_dir: str) -> dict[str, Columns]:
    (x_train, y_train), (x_test, y_test) = load_keras_dataset(
        KERAS_DATASETS[source.dataset], data_dir
    )
    n = len(x_train)
    if not 0 < source.eval_size < n:
        raise ValueError(
            f"eval_size {source.eval_size} must be between 0 and {n} for {source.dataset}"
        )
    held_out = (
        slice(n - source.eval_size, n) if source.eval_from == "last" else slice(0, source.eval_size)
    )
    kept = (
        slice(0, n - source.eval_size) if source.eval_from == "last" else slice(source.eval_size, n)
    )
    train = {**_features(source, x_train), source.label: np.asarray(y_train)}
    test = {**_features(source, x_test), source.label: np.asarray(y_test)}
    return {
        "train": {name: values[kept] for name, values in train.items()},
        "eval": {name: values[held_out] for name, values in train.items()},
        "test": test,
    }


def input_fingerprint(source: Source, data_dir: str, extra_data_dir: str = "") -> str:
    """Names, sizes and modification times of the files a source reads: changes when data does.

    A missing file (keras downloads it when online) is fingerprinted as missing. The files of
    `extra_data_dir` (`components.extra_data`) count too, so that new feedback is read.
    """
    import tensorflow as tf  # Here, not at import: `dlwp datasets` needs no TensorFlow.

    if isinstance(source, CsvSource):
        found = {source.path: source.path if tf.io.gfile.exists(source.path) else None}
    else:
        found = find_files(KERAS_DATASETS[source.dataset], data_dir)
    parts = []
    for name, path in found.items():
        if path is None:
            parts.append(f"{name}:missing")
        else:
            stat = tf.io.gfile.stat(path)
            parts.append(f"{path}:{stat.length}:{stat.mtime_nsec}")
    if extra_data_dir:
        parts.append(extra_data.fingerprint(extra_data_dir))
    return "|".join(parts)


def _take(columns: Columns, max_examples: int) -> Columns:
    return {name: values[:max_examples] for name, values in columns.items()}


def load_splits(
    source: Source, data_dir: str, max_examples: int = 0, extra_data_dir: str = ""
) -> Mapping[str, Columns]:
    """Loads a source and splits it into train / eval / test columns.

    Args:
        source: what to load.
        data_dir: the folder of keras's dataset files (ignored for CSV).
        max_examples: when positive, keep at most this many examples per split (for quick runs).
        extra_data_dir: when given, its labelled examples are appended to train, all of them
            (after `max_examples`); see `components.extra_data`.
    """
    splits: Mapping[str, Columns]
    if isinstance(source, KerasSource):
        splits = _keras_splits(source, data_dir)
    else:
        splits = csv_dataset.load_csv_splits(
            source.path, source.label, source.problem_type, source.seed
        )
    if max_examples > 0:
        splits = {name: _take(columns, max_examples) for name, columns in splits.items()}
    if extra_data_dir:
        splits = extra_data.append_to_train(splits, extra_data_dir, source.label)
    return splits
