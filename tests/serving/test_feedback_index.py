"""The feedback index (serving/feedback_index.py, contract/feedback_index.py): every logged
example found by its request id, labels joined to it in any process's file, hardest first."""

import os
import sqlite3

import numpy as np
import pytest
import tensorflow as tf

from serving.feedback import FeedbackLogger
from serving.feedback_index import FeedbackIndex, FeedbackIndexError, Label, model_folders


class _Trace:  # serving/request_ids.py's Trace: what the observer reads of it
    def __init__(self, request_id: str, arm: str = ""):
        self.request_id, self.arm = request_id, arm


def observe_binary(logger, request_id, scores, version=1, arm="", model="spam"):
    scores = np.asarray(scores, np.float32)
    inputs = {"rooms": np.arange(len(scores), dtype=np.float32) + 100 * version}
    outputs = {"scores": scores, "class_ids": (scores > 0.5).astype(np.int64)}
    logger.observe(model, version, "serving_default", inputs, outputs, _Trace(request_id, arm))


def rooms(index, logged):
    example = tf.train.Example.FromString(index.read_example(logged))
    return example.features.feature["rooms"].float_list.value[0]


def test_late_labels_join_examples_whose_file_has_rotated(tmp_path):
    logger = FeedbackLogger(str(tmp_path), 1.0, rotate_examples=2)
    observe_binary(logger, "r1", [0.9, 0.2, 0.6, 0.55, 0.1])
    logger.close()
    folder = str(tmp_path / "spam")
    assert len([f for f in os.listdir(folder) if f.endswith(".tfrecord.gz")]) == 3

    index = FeedbackIndex(folder)
    assert index.add_labels([Label("r1", 4, 1.0, 1_000, "api")]) == [None]
    assert index.add_labels([Label("r1", 2, 0.0, 2_000, "page")]) == [None]
    (first, second) = index.labelled()
    assert [(row.index, label.value) for row, label in (first, second)] == [(2, 0.0), (4, 1.0)]
    assert [rooms(index, row) for row, _ in (first, second)] == [102.0, 104.0]
    assert second[0].file != first[0].file and second[0].ordinal == 0  # the third file's first
    assert [row.index for row, _ in index.labelled(since_ms=1_500)] == [2]


def test_both_processes_index_files_are_searched_and_the_latest_label_wins(tmp_path):
    # Two servers sharing the folder: each writes its own index file.
    first = FeedbackLogger(str(tmp_path), 1.0)
    observe_binary(first, "a", [0.9, 0.3], version=1, arm="v1")
    first.close()
    second = FeedbackLogger(str(tmp_path), 1.0)
    observe_binary(second, "b", [0.7], version=2, arm="v2")
    second.close()
    folder = str(tmp_path / "spam")
    assert len([f for f in os.listdir(folder) if f.endswith(".sqlite")]) == 2

    one, two = FeedbackIndex(folder, start_us=1), FeedbackIndex(folder, start_us=2)
    assert [row.index for row in one.find("a")] == [0, 1] and len(two.find("b")) == 1
    assert [rooms(one, row) for row in one.find("a", 1) + two.find("b")] == [101.0, 200.0]
    assert one.find("nobody") == [] and one.find("a", 5) == []
    assert one.add_labels([Label("b", 0, 1.0, 10, "api")]) == [None]
    previous = two.add_labels([Label("b", 0, 0.0, 20, "page"), Label("a", 0, 1.0, 20, "api")])
    assert previous == [Label("b", 0, 1.0, 10, "api"), None]
    reader = FeedbackIndex(folder, writable=False)
    labels = {row.request_id: label.value for row, label in reader.labelled()}
    assert labels == {"a": 1.0, "b": 0.0}  # relabelled in the other file: the later one
    assert reader.counts() == {(1, "v1"): (2, 1), (2, "v2"): (1, 1)}
    assert model_folders(str(tmp_path)) == {"spam": folder}
    with pytest.raises(FeedbackIndexError, match="read-only"):
        reader.add_labels([Label("a", 1, 0.0, 30, "api")])


def test_unlabelled_examples_come_hardest_first(tmp_path):
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 1, 40)
    logger = FeedbackLogger(str(tmp_path), 1.0)
    observe_binary(logger, "r", scores)
    logger.close()
    index = FeedbackIndex(str(tmp_path / "spam"))
    hardest = np.argsort(np.abs(scores.astype(np.float32) - 0.5))  # recounted with numpy
    index.add_labels([Label("r", int(hardest[0]), 1.0, 1, "api")])
    queue = index.unlabelled(limit=5)
    assert [row.index for row in queue] == hardest[1:6].tolist()
    assert len(index.unlabelled(limit=100)) == 39


def test_labels_are_all_or_nothing(tmp_path):
    logger = FeedbackLogger(str(tmp_path), 1.0)
    observe_binary(logger, "r", [0.9, 0.1])
    logger.close()
    index = FeedbackIndex(str(tmp_path / "spam"))
    with pytest.raises((TypeError, ValueError)):
        index.add_labels([Label("r", 0, 1.0, 1, "api"), Label("r", 1, None, 1, "api")])
    assert index.labelled() == []
    with pytest.raises(sqlite3.IntegrityError):
        index.add_labels([Label("r", 0, 1.0, 1, "api"), Label("r", 1, 0.0, 1, None)])
    assert index.labelled() == []


def test_an_object_storage_folder_has_no_index(tmp_path):
    with pytest.raises(FeedbackIndexError, match="gs://bucket/feedback/spam is a URL"):
        FeedbackIndex("gs://bucket/feedback/spam")
    with pytest.raises(FeedbackIndexError, match="local or mounted folder"):
        model_folders("gs://bucket/feedback")
