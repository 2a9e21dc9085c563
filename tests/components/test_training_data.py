"""The Trainer's examples: in memory as the transformed stream gives them, train rows first,
within a memory budget; streamed beyond it."""

import numpy as np
import pytest
import tensorflow_transform as tft
from trainer_inputs import split_columns, trainer_fn_args, trainer_settings, write_trainer_inputs

from components.autograph_rules import leave_libraries_unconverted
from components.trainer import TrainerConfig
from components.training_data import (
    count_examples,
    example_bytes,
    in_memory_pool,
    transformed_arrays,
    transformed_dataset,
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    leave_libraries_unconverted()
    folder = tmp_path_factory.mktemp("trainer-inputs")
    inputs = write_trainer_inputs(str(folder), train_rows=96, eval_rows=32)
    fn_args = trainer_fn_args(inputs, trainer_settings(), execution=1)
    return fn_args, tft.TFTransformOutput(inputs.transform_dir)


def test_an_example_is_two_floats_and_an_int64_label(inputs):
    _, tft_output = inputs
    assert example_bytes(tft_output) == 4 + 4 + 8


def test_counting_stops_past_the_limit(inputs):
    fn_args, _ = inputs
    assert count_examples(fn_args.train_files) == 96
    assert count_examples(fn_args.train_files, limit=10) == 11  # over the limit: stop
    assert count_examples(fn_args.train_files + fn_args.eval_files) == 128


def test_the_pool_holds_train_then_eval_z_scored_with_train_statistics(inputs):
    fn_args, tft_output = inputs
    pool = in_memory_pool(fn_args, tft_output, "label")
    assert pool is not None and pool.train_rows == 96
    train, held = split_columns(96, 0), split_columns(32, 1)
    mean, std = train["a"].mean(), train["a"].std()
    features, labels = pool.train
    np.testing.assert_allclose(features["a"], (train["a"] - mean) / std, atol=1e-5)
    np.testing.assert_array_equal(labels, train["label"])
    features, labels = pool.eval
    np.testing.assert_allclose(features["a"], (held["a"] - mean) / std, atol=1e-5)
    np.testing.assert_array_equal(labels, held["label"])
    assert len(pool.all[1]) == 128 and pool.size_bytes == 128 * 16


def test_the_pool_matches_the_stream_of_the_same_files(inputs):
    fn_args, tft_output = inputs
    config = TrainerConfig.from_custom_config(fn_args.custom_config)
    batches = list(
        transformed_dataset(
            fn_args, fn_args.eval_files, tft_output, config, 8, False
        ).as_numpy_iterator()
    )
    features, labels = in_memory_pool(fn_args, tft_output, "label").eval
    np.testing.assert_allclose(np.concatenate([x["b"] for x, _ in batches]), features["b"])
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)


def test_a_pool_over_the_budget_is_not_held(inputs):
    fn_args, tft_output = inputs
    assert in_memory_pool(fn_args, tft_output, "label", budget_bytes=128 * 16) is not None
    assert in_memory_pool(fn_args, tft_output, "label", budget_bytes=128 * 16 - 1) is None
    assert in_memory_pool(fn_args, tft_output, "label", budget_bytes=90 * 16) is None


def test_arrays_of_given_files_keep_their_order(inputs):
    fn_args, tft_output = inputs
    features, labels = transformed_arrays(fn_args, fn_args.eval_files, tft_output, "label")
    np.testing.assert_array_equal(labels, split_columns(32, 1)["label"])
    assert set(features) == {"a", "b"} and features["a"].dtype == np.float32
