"""preprocessing_fn under tf.Transform: train statistics, missing values, buckets, multi-hot."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components.preprocessing import NUM_WORDS, preprocessing_fn, transform_config
from contract.features import Feature
from contract.task import TaskContract

FEATURES = (
    Feature("image", "image"),
    Feature("words", "sequence"),
    Feature("rooms", "numeric"),
    Feature("color", "categorical"),
)
CONFIG = transform_config(TaskContract(FEATURES, "label", "binary", "auc", num_classes=2))
SPEC = {
    "image": tf.io.FixedLenFeature([784], tf.int64),
    "words": tf.io.VarLenFeature(tf.int64),
    "rooms": tf.io.VarLenFeature(tf.float32),
    "color": tf.io.VarLenFeature(tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
}
TRAIN = [
    {"image": [255] * 784, "words": [1, 14, 14], "rooms": [1.0], "color": ["red"], "label": 1},
    {
        "image": [0] * 784,
        "words": [1, 9_999, 10_500],
        "rooms": [3.0],
        "color": ["blue"],
        "label": 0,
    },
    {"image": [51] * 784, "words": [0, 2], "rooms": [], "color": [], "label": 1},
    {"image": [0] * 784, "words": [1], "rooms": [5.0], "color": ["red"], "label": 0},
]
NEW = [{"image": [0] * 784, "words": [3], "rooms": [], "color": ["green"], "label": 0}]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        transform_fn = (TRAIN, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, CONFIG)
        )
        train, _ = ((TRAIN, metadata), transform_fn) | tft_beam.TransformDataset()
        new, _ = ((NEW, metadata), transform_fn) | tft_beam.TransformDataset()
    return train, new


def test_pixels_are_scaled_to_unit_range(transformed):
    train, _ = transformed
    assert np.allclose(train[0]["image"], 1.0)
    assert np.allclose(train[2]["image"], 0.2)


def test_words_become_multi_hot_over_the_vocabulary(transformed):
    train, new = transformed
    assert len(train[0]["words"]) == NUM_WORDS
    assert np.flatnonzero(train[0]["words"]).tolist() == [1, 14]  # repeats count once
    assert np.flatnonzero(train[1]["words"]).tolist() == [1, 9_999]  # 10,500 is past the vocabulary
    assert np.flatnonzero(train[2]["words"]).tolist() == [2]  # 0 is padding
    assert np.flatnonzero(new[0]["words"]).tolist() == [3]


def test_numeric_is_z_scored_and_missing_becomes_the_train_mean(transformed):
    train, new = transformed
    std = np.std([1.0, 3.0, 5.0])  # train values only; the missing one does not count
    assert train[0]["rooms"] == pytest.approx((1.0 - 3.0) / std, rel=1e-5)
    assert train[2]["rooms"] == pytest.approx(0.0)
    assert new[0]["rooms"] == pytest.approx(0.0)


def test_categories_have_a_missing_bucket_and_an_oov_bucket(transformed):
    train, new = transformed
    indices = [row["color"] for row in train]
    assert indices[2] == 0  # missing
    assert indices[0] == indices[3] != indices[1]
    assert set(indices) == {0, 1, 2}  # two train values, shifted past "missing"
    assert new[0]["color"] == 3  # never seen in train: the out-of-vocabulary bucket


def test_label_passes_through(transformed):
    train, _ = transformed
    assert [row["label"] for row in train] == [1, 0, 1, 0]
