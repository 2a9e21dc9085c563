"""Writes split columns as gzipped TFRecords of tf.Example, in TFX's `Split-<name>/` layout.

A missing value (None) leaves the feature out of that row's tf.Example: how TFX represents
missing values.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from components.columns import Columns, num_rows

FILE_NAME = "data_tfrecord-00000-of-00001.gz"


def _feature(value: Any) -> tf.train.Feature:
    if isinstance(value, (str, bytes)):
        data = value.encode("utf-8") if isinstance(value, str) else value
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
    array = np.asarray(value)
    if array.dtype.kind in "iub":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=array.reshape(-1).tolist()))
    if array.dtype.kind == "f":
        return tf.train.Feature(float_list=tf.train.FloatList(value=array.reshape(-1).tolist()))
    raise TypeError(f"cannot store a value of type {array.dtype} in a tf.Example: {value!r}")


def to_examples(columns: Columns) -> Iterable[tf.train.Example]:
    """One tf.Example per row; a None value leaves its feature out."""
    names = list(columns)
    for row in range(num_rows(columns)):
        features = {
            name: _feature(columns[name][row]) for name in names if columns[name][row] is not None
        }
        yield tf.train.Example(features=tf.train.Features(feature=features))


def write_splits(splits: Mapping[str, Columns], uri: str) -> dict[str, int]:
    """Writes each split under `<uri>/Split-<name>/`; returns the number of examples per split."""
    counts = {}
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    for split, columns in splits.items():
        split_dir = os.path.join(uri, f"Split-{split}")
        tf.io.gfile.makedirs(split_dir)
        count = 0
        with tf.io.TFRecordWriter(os.path.join(split_dir, FILE_NAME), options) as writer:
            for example in to_examples(columns):
                writer.write(example.SerializeToString())
                count += 1
        counts[split] = count
    return counts
