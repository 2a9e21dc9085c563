"""The book's datasets through keras's real loaders, on generated files in keras's formats."""

import keras_files
import numpy as np
import pytest

from components import sources
from components.errors import DataMissingError
from components.keras_datasets import KERAS_DATASETS, NUM_WORDS, load_keras_dataset
from pipelines.tasks import BOOK_TASKS

pytestmark = pytest.mark.usefixtures("keras_checksums_accepted", "offline")


def test_image_datasets_are_one_784_pixel_feature_with_the_last_10000_held_out(keras_data_dir):
    for name in ("mnist", "fashion_mnist"):
        splits = sources.load_splits(BOOK_TASKS[name].source, keras_data_dir)
        assert len(splits["train"]["label"]) == keras_files.IMAGE_TRAIN - 10_000
        assert len(splits["eval"]["label"]) == 10_000
        assert len(splits["test"]["label"]) == keras_files.IMAGE_TEST
        assert splits["train"]["image"].shape[1] == 784
        assert set(splits) == {"train", "eval", "test"}


def test_eval_is_the_end_of_keras_training_set(keras_data_dir):
    (x_train, y_train), _ = load_keras_dataset(KERAS_DATASETS["mnist"], keras_data_dir)
    splits = sources.load_splits(BOOK_TASKS["mnist"].source, keras_data_dir)
    np.testing.assert_array_equal(splits["eval"]["image"], x_train[-10_000:].reshape(-1, 784))
    np.testing.assert_array_equal(splits["train"]["label"], y_train[:-10_000])


def test_fashion_idx_files_in_the_data_dir_come_before_the_system_copy(keras_data_dir):
    from_fixture = sources.load_splits(BOOK_TASKS["fashion_mnist"].source, keras_data_dir)
    # The Debian copy has 60,000 training images; the fixture has IMAGE_TRAIN.
    assert len(from_fixture["train"]["label"]) + 10_000 == keras_files.IMAGE_TRAIN


@pytest.mark.parametrize("name", ["imdb", "reuters"])
def test_word_index_datasets_keep_the_10000_most_frequent_words(keras_data_dir, name):
    splits = sources.load_splits(BOOK_TASKS[name].source, keras_data_dir)
    words = [w for split in splits.values() for review in split["words"] for w in review]
    assert max(words) < NUM_WORDS  # The fixture's indices reach 12,000.
    # keras's start_char (1) opens every sequence.
    assert all(review[0] == 1 for review in splits["test"]["words"])
    assert all(isinstance(review, np.ndarray) for review in splits["train"]["words"][:5])


def test_imdb_holds_out_the_first_10000_reviews(keras_data_dir):
    splits = sources.load_splits(BOOK_TASKS["imdb"].source, keras_data_dir)
    assert len(splits["eval"]["label"]) == 10_000
    assert len(splits["train"]["label"]) == keras_files.REVIEW_TRAIN - 10_000


def test_reuters_holds_out_1000_of_keras_training_split(keras_data_dir):
    splits = sources.load_splits(BOOK_TASKS["reuters"].source, keras_data_dir)
    train_size = int(keras_files.NEWSWIRES * 0.8)  # keras's test_split=0.2
    assert len(splits["eval"]["label"]) == 1_000
    assert len(splits["train"]["label"]) == train_size - 1_000
    assert len(splits["test"]["label"]) == keras_files.NEWSWIRES - train_size


def _house_rows(split) -> set[tuple[float, ...]]:
    return set(zip(*(split[c] for c in sources.BOSTON_COLUMNS), strict=True))


def test_boston_eval_is_held_out_of_train_and_both_are_every_training_row(keras_data_dir):
    splits = sources.load_splits(BOOK_TASKS["boston_housing"].source, keras_data_dir)
    train_size = int(keras_files.HOUSES * 0.8)  # keras's test_split=0.2
    train, held_out = splits["train"], splits["eval"]
    assert len(train["price"]) + len(held_out["price"]) == train_size  # the K-fold pool
    assert 0 < len(held_out["price"]) < train_size
    assert not _house_rows(train) & _house_rows(held_out)
    assert set(train) == set(sources.BOSTON_COLUMNS) | {"price"}


def test_max_examples_caps_every_split(keras_data_dir):
    splits = sources.load_splits(BOOK_TASKS["imdb"].source, keras_data_dir, max_examples=7)
    assert {name: len(split["label"]) for name, split in splits.items()} == {
        "train": 7,
        "eval": 7,
        "test": 7,
    }


def test_missing_file_names_file_place_and_origin(tmp_path):
    with pytest.raises(DataMissingError) as error:
        load_keras_dataset(KERAS_DATASETS["reuters"], str(tmp_path))
    message = str(error.value)
    assert str(tmp_path / "reuters.npz") in message
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters.npz" in message


def test_missing_fashion_file_suggests_the_debian_package(tmp_path):
    with pytest.raises(DataMissingError, match="dataset-fashion-mnist"):
        load_keras_dataset(KERAS_DATASETS["fashion_mnist"], str(tmp_path), system_dirs=())
