"""Labelled feedback joins the train split (`dlwp run --extra-data DIR`, book 6.3.4).

`dlwp serve --feedback-rate R` logs production examples as tf.Examples (serving/feedback.py); a
person adds the label; the next run reads every `*.tfrecord.gz` and `*.tfrecord` file under DIR
and appends its examples to train. Never to eval or test: those stay the same data run after
run, so that the metric and the check against the last blessed model compare like with like.

Each example must have the label; the features of the task are kept (converted to the type the
training data has: a logged float becomes an int in an integer column) and everything else the
server added (`prediction_*`, `model_version`, `logged_at_ms`) is dropped. A feature the example
lacks is a missing value, as an empty CSV cell is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from components.columns import Columns
from components.errors import BadDataError

FILE_SUFFIXES = (".tfrecord.gz", ".tfrecord")


def find_files(folder: str) -> list[str]:
    """The TFRecord files under `folder` (in subfolders too), sorted.

    Raises:
        BadDataError: `folder` is not a folder.
    """
    import tensorflow as tf

    if not tf.io.gfile.isdir(folder):
        raise BadDataError(
            f"--extra-data {folder} is not a folder; give the folder of labelled feedback "
            "(e.g. <home>/feedback/<model>)"
        )
    return sorted(
        os.path.join(parent, name)
        for parent, _, names in tf.io.gfile.walk(folder)
        for name in names
        if name.endswith(FILE_SUFFIXES)
    )


def fingerprint(folder: str) -> str:
    """Names, sizes and modification times of the files under `folder`: changes with them."""
    import tensorflow as tf

    parts = []
    for path in find_files(folder):
        stat = tf.io.gfile.stat(path)
        parts.append(f"{path}:{stat.length}:{stat.mtime_nsec}")
    return f"extra {folder}:" + "|".join(parts)


def _read_examples(path: str) -> list:
    import tensorflow as tf

    compression = "GZIP" if path.endswith(".gz") else ""
    try:
        return [
            tf.train.Example.FromString(record)
            for record in tf.data.TFRecordDataset(path, compression).as_numpy_iterator()
        ]
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        raise BadDataError(
            f"extra data {path} is not a {'gzipped ' if compression else ''}TFRecord file of "
            f"tf.Examples: {error.message}"
        ) from None


def _values(feature) -> list:
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def _first_value(column: Sequence[Any]) -> Any:
    return next((value for value in column if value is not None), None)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _converter(name: str, column: Sequence[Any]):
    """A function from a tf.Example feature's values to a value of `column`'s kind."""
    like = _first_value(column)
    fixed_length = column.shape[1] if isinstance(column, np.ndarray) and column.ndim == 2 else None

    def convert(values: list, where: str) -> Any:
        if isinstance(like, np.ndarray | list):  # an image's pixels, a review's word indices
            array = np.asarray(values)
            if len(array) and array.dtype.kind != "i":
                raise BadDataError(f"{where}: feature {name!r} must be a list of integers")
            if fixed_length is not None and len(array) != fixed_length:
                raise BadDataError(
                    f"{where}: feature {name!r} has {len(array)} values, the training data "
                    f"{fixed_length}"
                )
            return array.astype(np.asarray(like).dtype)
        if not values:
            return None
        if len(values) != 1:
            raise BadDataError(f"{where}: feature {name!r} has {len(values)} values, not one")
        (value,) = values
        if isinstance(like, str):
            if not isinstance(value, bytes):
                raise BadDataError(f"{where}: feature {name!r} must be a string (bytes_list)")
            return value.decode("utf-8")
        if isinstance(value, bytes):
            raise BadDataError(f"{where}: feature {name!r} must be a number, not a string")
        if _is_int(like):
            if not float(value).is_integer():
                raise BadDataError(
                    f"{where}: feature {name!r} holds integers in the training data, not {value}"
                )
            return int(value)
        return float(value)

    return convert


def read_extra_columns(
    folder: str, train: Columns, label: str, classes: set[int] | None = None
) -> Columns:
    """The examples of the files under `folder` as columns of train's names and kinds.

    Args:
        folder: the folder of labelled feedback.
        train: the train split's columns (names and the kind of each).
        label: the label feature; every example must have it.
        classes: the class indices of a classification label, to check labels against.

    Raises:
        BadDataError: a file is unreadable, has examples without the label, or a value does not
            fit its column; the message names the file.
    """
    converters = {name: _converter(name, column) for name, column in train.items()}
    extra: dict[str, list] = {name: [] for name in train}
    for path in find_files(folder):
        examples = _read_examples(path)
        unlabelled = sum(
            1
            for e in examples
            if label not in e.features.feature or not _values(e.features.feature[label])
        )
        if unlabelled:
            raise BadDataError(
                f"extra data {path}: {unlabelled} of {len(examples)} examples have no label "
                f"{label!r}; label them (add the feature {label!r}, see docs/monitoring.md, "
                "Feedback) or move the file out of the folder"
            )
        for index, example in enumerate(examples):
            where = f"extra data {path}, example {index + 1}"
            features = example.features.feature
            for name, convert in converters.items():
                values = _values(features[name]) if name in features else []
                extra[name].append(convert(values, where))
            if classes is not None and extra[label][-1] not in classes:
                raise BadDataError(
                    f"{where}: label {extra[label][-1]!r} is not a class index of the task "
                    f"({min(classes)}..{max(classes)})"
                )
    return extra


def append_to_train(splits: Mapping[str, Columns], folder: str, label: str) -> dict[str, Columns]:
    """`splits` with the labelled examples under `folder` appended to train (module docstring).

    Raises:
        BadDataError: as `read_extra_columns`.
    """
    train = splits["train"]
    labels = [value for columns in splits.values() for value in columns[label]]
    classes = {int(v) for v in labels} if _is_int(_first_value(labels)) else None
    extra = read_extra_columns(folder, train, label, classes)
    if not extra[label]:
        return dict(splits)
    joined = {name: [*train[name], *extra[name]] for name in train}
    return {**splits, "train": joined}
