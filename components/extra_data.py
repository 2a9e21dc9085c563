"""Labelled feedback joins the train split (`dlwp run --extra-data DIR`, book 6.3.4).

`dlwp serve --feedback-rate R` logs production examples as tf.Examples and indexes them
(serving/feedback.py, contract/feedback_index.py); people label them (`POST :feedback`, the
labelling page); the next run reads DIR and appends the labelled examples to train. Never to
eval or test: those stay the same data run after run, so that the metric and the check against
the last blessed model compare like with like.

A folder holding index files (`index-*.sqlite`, e.g. `<home>/feedback/<model>`) is read through
its index: each labelled example, with its latest label as the label feature (an integer for a
class, a float for regression), and the server's log files there (`feedback-*.tfrecord.gz`) are
not read otherwise, so their unlabelled examples are no error. Every other `*.tfrecord.gz` and
`*.tfrecord` file under DIR is read whole, and each of its examples must have the label.

The features of the task are kept (converted to the type the training data has: a logged float
becomes an int in an integer column) and everything else the server added (`prediction_*`,
`model_version`, `logged_at_ms`, `request_id`, ...) is dropped. A feature the example lacks is a
missing value, as an empty CSV cell is.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from components.columns import Columns
from components.errors import BadDataError
from contract.features import ProblemType
from contract.feedback_index import (
    INDEX_PREFIX,
    INDEX_SUFFIX,
    FeedbackIndexError,
    IndexReader,
    is_server_log,
)

FILE_SUFFIXES = (".tfrecord.gz", ".tfrecord")


def _check_folder(folder: str) -> None:
    import tensorflow as tf

    if not tf.io.gfile.isdir(folder):
        raise BadDataError(
            f"--extra-data {folder} is not a folder; give the folder of labelled feedback "
            "(e.g. <home>/feedback/<model>)"
        )


def _walk(folder: str) -> list[tuple[str, list[str]]]:
    """(folder, file names) of `folder` and its subfolders, sorted."""
    import tensorflow as tf

    _check_folder(folder)
    return sorted((parent, sorted(names)) for parent, _, names in tf.io.gfile.walk(folder))


def _indexed(parent: str, names: Sequence[str]) -> bool:
    """Whether a folder holds a feedback index (local folders only: SQLite needs one)."""
    return "://" not in parent and any(
        name.startswith(INDEX_PREFIX) and name.endswith(INDEX_SUFFIX) for name in names
    )


def indexed_folders(folder: str) -> list[str]:
    """The folders under `folder` (itself included) that hold a feedback index, sorted.

    Raises:
        BadDataError: `folder` is not a folder.
    """
    return [parent for parent, names in _walk(folder) if _indexed(parent, names)]


def find_files(folder: str) -> list[str]:
    """The TFRecord files under `folder` (in subfolders too) read whole, sorted: all but the
    server's log files in a folder with an index (those are read through the index).

    Raises:
        BadDataError: `folder` is not a folder.
    """
    return sorted(
        os.path.join(parent, name)
        for parent, names in _walk(folder)
        for name in names
        if name.endswith(FILE_SUFFIXES) and not (_indexed(parent, names) and is_server_log(name))
    )


def _reader(folder: str) -> IndexReader:
    try:
        return IndexReader(folder)
    except FeedbackIndexError as error:
        raise BadDataError(f"--extra-data {folder}: {error}") from None


def labelled_since(folder: str, since_ms: int | None = None) -> int:
    """How many logged examples under `folder` have a latest label newer than `since_ms`
    (all labelled ones when None), over every feedback index there (`dlwp retrain` asks).

    Raises:
        BadDataError: `folder` is not a folder.
    """
    total = 0
    for parent in indexed_folders(folder):
        reader = _reader(parent)
        try:
            total += sum(
                1
                for label in reader.latest_labels().values()
                if since_ms is None or label.labelled_at_ms > since_ms
            )
        finally:
            reader.close()
    return total


def fingerprint(folder: str) -> str:
    """Names, sizes and modification times of the files read whole under `folder`, and the
    labels of each feedback index there: changes with them (not with new unlabelled logs)."""
    import tensorflow as tf

    parts = []
    for path in find_files(folder):
        stat = tf.io.gfile.stat(path)
        parts.append(f"{path}:{stat.length}:{stat.mtime_nsec}")
    for parent in indexed_folders(folder):
        reader = _reader(parent)
        try:
            labels = sorted(
                (label.request_id, label.index, label.value, label.labelled_at_ms)
                for label in reader.latest_labels().values()
            )
        finally:
            reader.close()
        digest = hashlib.sha256(repr(labels).encode()).hexdigest()[:16]
        parts.append(f"{parent}:{len(labels)} labels:{digest}")
    return f"extra {folder}:" + "|".join(parts)


def _labelled_feedback(folder: str, label: str) -> list[tuple[str, Any]]:
    """(where, tf.Example) of each labelled example of a folder's feedback index, the Example
    with its label feature.

    Raises:
        BadDataError: the index has no labelled example, or a record is missing.
    """
    import tensorflow as tf

    reader = _reader(folder)
    try:
        pairs = reader.labelled()
        if not pairs:
            raise BadDataError(
                f"extra data {folder}: none of the {sum(n for n, _ in reader.counts().values())}"
                f" logged examples is labelled; label some (POST /v1/models/<model>:feedback or"
                " the labelling page /label/<model>/, docs/monitoring.md, Feedback) or leave"
                " out --extra-data"
            )
        try:
            records = reader.read_examples([logged for logged, _ in pairs])
        except FeedbackIndexError as error:
            raise BadDataError(f"extra data {folder}: {error}") from None
    finally:
        reader.close()
    examples = []
    for (logged, given), record in zip(pairs, records, strict=True):
        example = tf.train.Example.FromString(record)
        feature = example.features.feature[label]
        feature.Clear()
        if logged.problem_type != ProblemType.REGRESSION.value and float(given.value).is_integer():
            feature.int64_list.value.append(int(given.value))
        else:
            feature.float_list.value.append(float(given.value))
        where = f"extra data {folder}, request {logged.request_id} example {logged.index}"
        examples.append((where, example))
    return examples


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
    examples = [
        pair for parent in indexed_folders(folder) for pair in _labelled_feedback(parent, label)
    ]
    for path in find_files(folder):
        read = _read_examples(path)
        unlabelled = sum(
            1
            for e in read
            if label not in e.features.feature or not _values(e.features.feature[label])
        )
        if unlabelled:
            raise BadDataError(
                f"extra data {path}: {unlabelled} of {len(read)} examples have no label "
                f"{label!r}; label them (add the feature {label!r}, see docs/monitoring.md, "
                "Feedback) or move the file out of the folder"
            )
        examples += [(f"extra data {path}, example {i + 1}", e) for i, e in enumerate(read)]
    for where, example in examples:
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
