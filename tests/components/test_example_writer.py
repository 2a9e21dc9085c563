"""Split columns become gzipped tf.Examples in TFX's layout; a missing value is no feature."""

import os

import numpy as np
import tensorflow as tf

from components.example_writer import FILE_NAME, write_splits


def read_examples(path):
    dataset = tf.data.TFRecordDataset(path, compression_type="GZIP")
    return [tf.train.Example.FromString(record.numpy()) for record in dataset]


def test_values_keep_their_types_and_missing_values_are_left_out(tmp_path):
    columns = {
        "image": np.arange(2 * 784).reshape(2, 784) % 256,
        "words": [np.array([1, 14, 22]), np.array([1, 5])],
        "color": ["red", None],
        "price": [1.5, 2.0],
    }
    counts = write_splits({"train": columns}, str(tmp_path))
    examples = read_examples(os.path.join(tmp_path, "Split-train", FILE_NAME))
    assert counts == {"train": 2}
    first, second = (e.features.feature for e in examples)
    assert list(first["image"].int64_list.value) == [i % 256 for i in range(784)]
    assert list(second["words"].int64_list.value) == [1, 5]
    assert first["color"].bytes_list.value == [b"red"]
    assert "color" not in second
    assert second["price"].float_list.value == [2.0]


def test_numeric_array_splits_keep_every_value_and_type(tmp_path):
    # Only numeric arrays: the book's datasets' shape (the Arrow encoder's path).
    columns = {
        "image": (np.arange(3 * 784).reshape(3, 784) % 256).astype(np.uint8),
        "words": [np.array([1, 14, 22]), np.array([], dtype=np.int64), np.array([7])],
        "label": np.array([4, 0, 9], dtype=np.uint8),
        "target": np.array([0.5, -1.25, 3.0], dtype=np.float64),
    }
    counts = write_splits({"test": columns}, str(tmp_path))
    examples = read_examples(os.path.join(tmp_path, "Split-test", FILE_NAME))
    assert counts == {"test": 3}
    rows = [e.features.feature for e in examples]
    assert list(rows[2]["image"].int64_list.value) == [(2 * 784 + i) % 256 for i in range(784)]
    assert [list(r["words"].int64_list.value) for r in rows] == [[1, 14, 22], [], [7]]
    assert [list(r["label"].int64_list.value) for r in rows] == [[4], [0], [9]]
    assert [list(r["target"].float_list.value) for r in rows] == [[0.5], [-1.25], [3.0]]
