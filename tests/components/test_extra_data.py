"""Labelled feedback appended to train (components/extra_data.py)."""

import numpy as np
import pytest
import tensorflow as tf

from components.errors import BadDataError
from components.extra_data import append_to_train, fingerprint


def feature(values):
    if values and isinstance(values[0], bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    if values and isinstance(values[0], float):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def write_examples(path, rows, gzip=True):
    options = tf.io.TFRecordOptions(compression_type="GZIP" if gzip else "")
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for row in rows:
            features = {name: feature(values) for name, values in row.items()}
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()
            )
    return str(path)


def csv_splits():
    """Columns as the CSV loader gives them: an int, a string and a float column, a label."""
    train = {"rooms": [3, None], "color": ["red", "blue"], "area": [80.5, 60.0], "label": [0, 1]}
    other = {"rooms": [2], "color": ["red"], "area": [70.0], "label": [1]}
    return {"train": train, "eval": dict(other), "test": dict(other)}


def logged(rooms, label=None, **extra):
    """A feedback example as the server logs it (numbers as floats), with a label or not."""
    row = {
        "rooms": [rooms],
        "color": [b"green"],
        "area": [99.5],
        "prediction_scores": [0.7],
        "model_version": [4],
        "logged_at_ms": [1_700_000_000_000],
        **extra,
    }
    return {**row, **({"label": [label]} if label is not None else {})}


def test_labelled_examples_join_train_only_in_the_columns_types(tmp_path):
    write_examples(tmp_path / "a.tfrecord.gz", [logged(4.0, 1), logged(5.0, 0)])
    (tmp_path / "sub").mkdir()
    write_examples(tmp_path / "sub" / "b.tfrecord", [logged(6.0, 1)], gzip=False)
    splits = append_to_train(csv_splits(), str(tmp_path), "label")
    train = splits["train"]
    assert train["rooms"] == [3, None, 4, 5, 6] and all(
        isinstance(v, int) for v in train["rooms"] if v is not None
    )
    assert train["color"][2:] == ["green"] * 3 and train["label"] == [0, 1, 1, 0, 1]
    assert set(train) == {"rooms", "color", "area", "label"}  # prediction_*, ... dropped
    assert splits["eval"] == csv_splits()["eval"] and splits["test"] == csv_splits()["test"]


def test_a_feature_left_out_is_a_missing_value(tmp_path):
    row = logged(4.0, 1)
    del row["area"]
    write_examples(tmp_path / "a.tfrecord.gz", [row])
    assert append_to_train(csv_splits(), str(tmp_path), "label")["train"]["area"][-1] is None


def test_unlabelled_feedback_names_the_file_and_the_count(tmp_path):
    path = write_examples(tmp_path / "f.tfrecord.gz", [logged(4.0, 1), logged(4.0), logged(2.0)])
    with pytest.raises(BadDataError, match=f"{path}: 2 of 3 examples have no label 'label'"):
        append_to_train(csv_splits(), str(tmp_path), "label")


def test_a_label_outside_the_classes_is_refused(tmp_path):
    write_examples(tmp_path / "f.tfrecord.gz", [logged(4.0, 7)])
    with pytest.raises(BadDataError, match="label 7 is not a class index"):
        append_to_train(csv_splits(), str(tmp_path), "label")


def test_a_fraction_in_an_integer_column_is_refused(tmp_path):
    write_examples(tmp_path / "f.tfrecord.gz", [logged(2.5, 1)])
    with pytest.raises(BadDataError, match="'rooms' holds integers"):
        append_to_train(csv_splits(), str(tmp_path), "label")


def test_images_keep_their_length_and_dtype(tmp_path):
    splits = {
        split: {"image": np.zeros((2, 4), np.uint8), "label": np.array([0, 1], np.uint8)}
        for split in ("train", "eval", "test")
    }
    write_examples(tmp_path / "f.tfrecord.gz", [{"image": [0, 255, 3, 0], "label": [1]}])
    train = append_to_train(splits, str(tmp_path), "label")["train"]
    assert len(train["image"]) == 3 and train["image"][-1].tolist() == [0, 255, 3, 0]
    write_examples(tmp_path / "g.tfrecord.gz", [{"image": [1, 2], "label": [1]}])
    with pytest.raises(BadDataError, match="'image' has 2 values, the training data 4"):
        append_to_train(splits, str(tmp_path), "label")


def test_fingerprint_changes_with_new_feedback_and_refuses_a_missing_folder(tmp_path):
    write_examples(tmp_path / "a.tfrecord.gz", [logged(4.0, 1)])
    (tmp_path / "b.tfrecord.gz.partial").write_bytes(b"being written")
    before = fingerprint(str(tmp_path))
    assert "partial" not in before
    write_examples(tmp_path / "b.tfrecord.gz", [logged(4.0, 1)])
    assert fingerprint(str(tmp_path)) != before
    with pytest.raises(BadDataError, match="is not a folder"):
        fingerprint(str(tmp_path / "nowhere"))


class _Trace:  # serving/request_ids.py's Trace: what the feedback log reads of it
    def __init__(self, request_id):
        self.request_id, self.arm = request_id, ""


def serve_feedback(folder, request_id, rooms, outputs):
    """What `dlwp serve --feedback-rate 1` logs of one :predict request of the houses model."""
    from serving.feedback import FeedbackLogger

    n = len(rooms)
    inputs = {
        "rooms": np.asarray(rooms, np.float32),
        "color": np.array([b"green"] * n, object),
        "area": np.full(n, 99.5, np.float32),
    }
    logger = FeedbackLogger(str(folder), 1.0)
    logger.observe("houses", 4, "serving_default", inputs, outputs, _Trace(request_id))
    logger.close()
    return str(folder / "houses")


def label(folder, request_id, index, value, at_ms=1_000):
    from serving.feedback_index import FeedbackIndex, Label

    index_ = FeedbackIndex(folder)
    index_.add_labels([Label(request_id, index, value, at_ms, "api")])
    index_.close()


def binary_outputs(n):
    scores = np.linspace(0.1, 0.9, n).astype(np.float32)
    return {"scores": scores, "class_ids": (scores > 0.5).astype(np.int64)}


def test_labelled_rows_of_a_feedback_folder_join_train_the_rest_is_skipped(tmp_path):
    folder = serve_feedback(tmp_path / "feedback", "r1", [4.0, 5.0, 6.0], binary_outputs(3))
    label(folder, "r1", 2, 1.0)
    label(folder, "r1", 0, 1.0, at_ms=1_000)
    label(folder, "r1", 0, 0.0, at_ms=2_000)  # relabelled: the latest counts
    write_examples(tmp_path / "feedback" / "houses" / "by-hand.tfrecord.gz", [logged(7.0, 1)])
    train = append_to_train(csv_splits(), folder, "label")["train"]
    # Row 1 has no label: skipped, no error; the hand-labelled file is read as before.
    assert train["rooms"][2:] == [4, 6, 7] and train["label"][2:] == [0, 1, 1]
    assert all(isinstance(v, int) for v in train["label"])  # class ids as int64
    assert set(train) == {"rooms", "color", "area", "label"}  # request_id, margin... dropped


def test_a_regression_label_from_the_index_is_a_float(tmp_path):
    outputs = {"predictions": np.array([80.0, 95.0], np.float32)}
    folder = serve_feedback(tmp_path / "feedback", "r", [4.0, 5.0], outputs)
    label(folder, "r", 1, 101.25)
    splits = {
        s: {**columns, "label": [1.5] * len(columns["label"])}
        for s, columns in csv_splits().items()
    }
    train = append_to_train(splits, folder, "label")["train"]
    assert train["rooms"][-1] == 5 and train["label"][-1] == 101.25


def test_a_feedback_folder_without_labels_is_refused_naming_the_remedy(tmp_path):
    folder = serve_feedback(tmp_path / "feedback", "r", [4.0, 5.0], binary_outputs(2))
    with pytest.raises(BadDataError, match=r"none of the 2 logged examples is labelled.*:feedback"):
        append_to_train(csv_splits(), folder, "label")


def test_the_fingerprint_follows_labels_not_new_logs(tmp_path):
    from components.extra_data import labelled_since

    folder = serve_feedback(tmp_path / "feedback", "a", [4.0, 5.0], binary_outputs(2))
    label(folder, "a", 0, 1.0, at_ms=1_000)
    before = fingerprint(folder)
    serve_feedback(tmp_path / "feedback", "b", [6.0], binary_outputs(1))  # another server
    assert fingerprint(folder) == before
    label(folder, "b", 0, 0.0, at_ms=3_000)
    assert fingerprint(folder) != before
    assert labelled_since(folder) == 2 and labelled_since(folder, 1_000) == 1
    assert labelled_since(folder, 3_000) == 0
