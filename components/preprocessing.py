"""The Transform step's `preprocessing_fn` (book 6.2.1 "prepare the data"), statistics from train.

- image: cast and scale pixels to [0, 1] (book ch. 2).
- sequence: multi-hot over the 10,000 most frequent words (book's `vectorize_sequences`);
  index 0 (keras's padding) and indices past the vocabulary set nothing.
- numeric: z-score with the train mean and standard deviation (listing 4.24); a missing value
  becomes the train mean, i.e. 0 after scaling (ch. 6 "handling missing values").
- categorical: index in the train vocabulary, shifted by one: 0 is "missing", the last index
  is out-of-vocabulary; the model one-hot encodes it with `categorical_depth`.
- date: float [batch, 7] (components/date_features.py): the year z-scored with the train mean
  and standard deviation, then sin and cos of month, day of year and weekday (book 5.4.2, the
  clock-angle example); a missing or unparsable date has year 0 (the train mean) and 0 for
  every sin and cos.
- label: passed through (the ExampleGen writes class indices or regression targets).

The task reaches this function through Transform's `custom_config` (see `transform_config`).
"""

import math
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.date_features import DateParts, date_encoding, parse_dates
from contract.features import FeatureKind
from contract.task import TaskContract

NUM_WORDS = 10_000
MISSING_INDEX = 0


def vocabulary_name(feature: str) -> str:
    """The Transform vocabulary file of a categorical feature."""
    return f"{feature}_vocabulary"


def transform_config(task: TaskContract) -> dict[str, Any]:
    """Transform's `custom_config`: the task contract (the same JSON every component gets)."""
    return {"task": task.to_json()}


def _fill_missing(x: tf.Tensor | tf.SparseTensor, default: Any) -> tf.Tensor:
    """A [batch] dense tensor from a one-value feature, `default` where the value is missing."""
    if isinstance(x, tf.SparseTensor):
        batch = x.dense_shape[0]
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, tf.stack([batch, 1])), default_value=default
        )
    return tf.reshape(x, [-1])


def multi_hot(words: tf.SparseTensor, depth: int = NUM_WORDS) -> tf.Tensor:
    """A [batch, depth] float tensor with 1.0 at each word index of each example."""
    words = tf.sparse.retain(words, (words.values > 0) & (words.values < depth))
    words = tf.SparseTensor(words.indices, words.values, tf.stack([words.dense_shape[0], depth]))
    return tf.cast(tf.sparse.to_indicator(words, depth), tf.float32)


def _column_blocks(columns: list[tf.Tensor | tf.SparseTensor]) -> list[tf.Tensor]:
    """Each one-value feature as a [batch, 1] float32 tensor, NaN where a value is missing.

    Each sparse feature is densified against one shared [batch, 1] shape, a single op per
    column (TFT traces preprocessing_fn several times per run, so every op per column counts),
    and every op is a TFLite builtin, so an export keeps the Transform graph (docs/exports.md).
    """
    missing = tf.constant(math.nan, tf.float32)
    shape = None
    blocks = []
    for column in columns:
        if isinstance(column, tf.SparseTensor):
            if shape is None:
                shape = tf.stack([column.dense_shape[0], 1])  # all features share the batch
            column = tf.SparseTensor(column.indices, tf.cast(column.values, tf.float32), shape)
            blocks.append(tf.sparse.to_dense(column, missing))
        else:
            blocks.append(tf.reshape(tf.cast(column, tf.float32), [-1, 1]))
    return blocks


def z_scores(blocks: list[tf.Tensor]) -> list[tf.Tensor]:
    """Z-scores each [batch, 1] float32 column with the train mean and standard deviation of its
    present values, as a [batch] tensor; NaN marks a missing value, which becomes the train mean
    (0 after scaling). A standard deviation of 0 scales to 0, and so does a column without a
    single present value in train.

    One mean and one variance analyzer over the stacked columns, never one per column: each
    analyzer adds its own stages to the Transform step's Beam pipeline, a fixed cost of seconds
    whatever the number of rows. TFT's mean and variance skip NaN, as they skip a missing value.
    Only the analyzers see the stack: each output is computed from its own column, so the
    serving graph keeps one tensor per feature, and a full-integer TFLite export quantizes each
    column with its own scale (one scale over columns of different ranges loses the small ones).
    """
    stacked = tf.concat(blocks, axis=1)
    mean = _finite_or_zero(tft.mean(stacked, reduce_instance_dims=False))
    std = _finite_or_zero(tf.sqrt(tft.var(stacked, reduce_instance_dims=False)))
    scaled = []
    for i, block in enumerate(blocks):
        column = tf.reshape(block, [-1])
        filled = tf.where(tf.math.is_nan(column), mean[i], column)
        scaled.append(tf.math.divide_no_nan(filled - mean[i], std[i]))
    return scaled


def category_index(x: tf.Tensor | tf.SparseTensor, feature: str) -> tf.Tensor:
    """0 for missing, 1..V for the train vocabulary, V + 1 for values never seen in train."""
    index = tft.compute_and_apply_vocabulary(
        x, num_oov_buckets=1, vocab_filename=vocabulary_name(feature)
    )
    return _fill_missing(index, tf.constant(-1, tf.int64)) + 1


def _finite_or_zero(x: tf.Tensor) -> tf.Tensor:
    return tf.where(tf.math.is_finite(x), x, tf.zeros_like(x))


def _year_or_nan(parts: DateParts) -> tf.Tensor:
    """The year of each parsed date as float32, NaN where the date is missing or unparsable."""
    year = tf.cast(parts.year, tf.float32)
    return tf.where(parts.valid, year, tf.constant(math.nan, tf.float32))


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """Maps raw features to model inputs; analyzers (mean, var, vocabulary) see train only.

    Numeric columns and the years of date columns are z-scored together (`z_scores`), so the
    step's cost does not grow with the number of columns; each output keeps its feature's name.
    """
    task = TaskContract.from_json(custom_config["task"])  # an unknown kind raises here
    outputs = {}
    scaled_names: list[str] = []  # numeric features and date features (their years)
    scaled_columns: list[tf.Tensor | tf.SparseTensor] = []
    dates: dict[str, DateParts] = {}
    for feature in task.features:
        name, x = feature.name, inputs[feature.name]
        if feature.kind is FeatureKind.IMAGE:
            outputs[name] = tf.cast(x, tf.float32) / 255.0
        elif feature.kind is FeatureKind.SEQUENCE:
            outputs[name] = multi_hot(x)
        elif feature.kind is FeatureKind.NUMERIC:
            scaled_names.append(name)
            scaled_columns.append(x)
        elif feature.kind is FeatureKind.DATE:
            dates[name] = parse_dates(_fill_missing(x, ""))
            scaled_names.append(name)
            scaled_columns.append(_year_or_nan(dates[name]))
        else:
            outputs[name] = category_index(x, name)
    if scaled_columns:
        scaled = z_scores(_column_blocks(scaled_columns))
        for name, column in zip(scaled_names, scaled, strict=True):
            outputs[name] = date_encoding(dates[name], column) if name in dates else column
    label = task.label
    outputs[label] = _fill_missing(inputs[label], tf.zeros([], inputs[label].dtype))
    return outputs
