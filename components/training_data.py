"""The Trainer's examples (book 6.2.1, prepared by the Transform graph): in memory when they fit
a memory budget, as a plain Keras script holds them, else streamed from the TFRecords. (Call
`components.autograph_rules.leave_libraries_unconverted` first: tracing the Transform layer
into a tf.data map otherwise costs seconds.)

In memory, Keras's array adapter shuffles the rows each epoch and gathers each batch, as the
book's scripts do; the Transform graph runs once, not once per batch per epoch. Streamed (IMDB's
multi-hot vectors are 25,000 x 10,000 floats, 1 GB), the parsed raw examples are cached, and the
Transform graph runs per batch.

    pool = in_memory_pool(fn_args, tft_output, "label")  # None when over the budget
    if pool is not None:
        model.fit(*pool.train, validation_data=pool.eval, batch_size=128)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tfx_bsl.public import tfxio

PARSE_BATCH = 1024
SHUFFLE_BUFFER = 60_000
# The most bytes of transformed examples the Trainer holds in memory: Fashion-MNIST's 60,000
# images (188 MB) and Reuters' multi-hot vectors (359 MB) fit; IMDB's (1 GB) stream. Keras
# copies the arrays of a fit into tensors, so a fit holds about twice this.
MEMORY_BUDGET_BYTES = 512 * 2**20

Features = dict[str, np.ndarray]


def transformed_dataset(
    fn_args: Any, files: Sequence[str], tft_output: Any, config: Any, batch_size: int, shuffle: bool
) -> tf.data.Dataset:
    """Raw examples, transformed by the Transform graph, as (features, label) batches.

    Parsed raw examples are cached in memory after the first epoch (parsing is the cost; the
    Transform graph is cheap) and reshuffled every epoch.
    """
    options = tfxio.TensorFlowDatasetOptions(batch_size=PARSE_BATCH, shuffle=False, num_epochs=1)
    raw = fn_args.data_accessor.tf_dataset_factory(files, options, tft_output.raw_metadata.schema)
    raw = raw.unbatch().cache()
    if shuffle:
        raw = raw.shuffle(SHUFFLE_BUFFER, seed=config.seed, reshuffle_each_iteration=True)
    transform = tft_output.transform_features_layer()

    def features_and_label(features):
        transformed = transform(features)
        return transformed, transformed.pop(config.task.label)

    return (
        raw.batch(batch_size)
        .map(features_and_label, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def example_bytes(tft_output: Any) -> int | None:
    """The bytes of one transformed example (features and label), or None when a transformed
    feature has no fixed shape."""
    total = 0
    for spec in tft_output.transformed_feature_spec().values():
        if not isinstance(spec, tf.io.FixedLenFeature):
            return None
        total += int(np.prod(spec.shape, dtype=np.int64)) * spec.dtype.size
    return total


def count_examples(files: Sequence[str], limit: int | None = None) -> int:
    """The serialized examples in the TFRecord files (gzipped when named `*.gz`, as ExampleGen
    writes them), counting no further than `limit` when given."""
    paths = sorted(path for pattern in files for path in tf.io.gfile.glob(pattern))
    count = 0
    for path in paths:
        records = tf.data.TFRecordDataset(path, "GZIP" if path.endswith(".gz") else "")
        if limit is not None:
            records = records.take(limit - count + 1)
        count += int(records.batch(4096).reduce(np.int64(0), lambda n, b: n + tf.size(b, tf.int64)))
        if limit is not None and count > limit:
            break
    return count


def _fill(fn_args: Any, files: Sequence[str], tft_output: Any, arrays: Features, start: int):
    options = tfxio.TensorFlowDatasetOptions(batch_size=PARSE_BATCH, shuffle=False, num_epochs=1)
    raw = fn_args.data_accessor.tf_dataset_factory(files, options, tft_output.raw_metadata.schema)
    transform = tft_output.transform_features_layer()
    batches = raw.map(lambda features: transform(features), num_parallel_calls=tf.data.AUTOTUNE)
    batches = batches.prefetch(tf.data.AUTOTUNE)
    row = start
    for batch in batches.as_numpy_iterator():
        rows = len(next(iter(batch.values())))
        for name, values in batch.items():
            arrays[name][row : row + rows] = values
        row += rows
    return row


def _check_filled(rows: int, expected: int) -> None:
    if rows != expected:  # the files changed between the count and the read
        raise RuntimeError(f"read {rows} examples where {expected} were counted")


def _empty_arrays(tft_output: Any, rows: int) -> Features:
    return {
        name: np.empty((rows, *spec.shape), spec.dtype.as_numpy_dtype)
        for name, spec in tft_output.transformed_feature_spec().items()
    }


def transformed_arrays(
    fn_args: Any, files: Sequence[str], tft_output: Any, label: str
) -> tuple[Features, np.ndarray]:
    """The examples of `files`, transformed, as (features, label) arrays in file order.

    Raises:
        ValueError: a transformed feature has no fixed shape.
    """
    if example_bytes(tft_output) is None:
        raise ValueError("transformed features of varying shape cannot be held as arrays")
    rows = count_examples(files)
    features = _empty_arrays(tft_output, rows)
    _check_filled(_fill(fn_args, files, tft_output, features, 0), rows)
    return features, features.pop(label)


@dataclasses.dataclass(frozen=True)
class Pool:
    """Every non-test example (train, then eval) in memory, transformed.

    Attributes:
        features, labels: the arrays, train rows first.
        train_rows: how many of them are train.
    """

    features: Features
    labels: np.ndarray
    train_rows: int

    @property
    def size_bytes(self) -> int:
        """The bytes of the arrays."""
        return self.labels.nbytes + sum(values.nbytes for values in self.features.values())

    def _rows(self, rows: slice) -> tuple[Features, np.ndarray]:
        # Slices are views: train and eval share the pool's memory.
        return {name: values[rows] for name, values in self.features.items()}, self.labels[rows]

    @property
    def train(self) -> tuple[Features, np.ndarray]:
        """The train rows, as (features, labels)."""
        return self._rows(slice(0, self.train_rows))

    @property
    def eval(self) -> tuple[Features, np.ndarray]:
        """The eval rows, as (features, labels)."""
        return self._rows(slice(self.train_rows, None))

    @property
    def all(self) -> tuple[Features, np.ndarray]:
        """Every row, as (features, labels)."""
        return self.features, self.labels


def in_memory_pool(
    fn_args: Any, tft_output: Any, label: str, budget_bytes: int = MEMORY_BUDGET_BYTES
) -> Pool | None:
    """The train and eval examples as one `Pool`, or None when they would take more than
    `budget_bytes` (or a transformed feature has no fixed shape)."""
    row_bytes = example_bytes(tft_output)
    if row_bytes is None:
        return None
    limit = budget_bytes // max(row_bytes, 1)
    train_rows = count_examples(fn_args.train_files, limit)
    eval_rows = count_examples(fn_args.eval_files, max(limit - train_rows, 0))
    if train_rows + eval_rows > limit:
        return None
    features = _empty_arrays(tft_output, train_rows + eval_rows)
    end = _fill(fn_args, fn_args.train_files, tft_output, features, 0)
    _check_filled(_fill(fn_args, fn_args.eval_files, tft_output, features, end), end + eval_rows)
    labels = features.pop(label)
    return Pool(features, labels, train_rows)
