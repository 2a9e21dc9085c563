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

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.date_features import date_encoding, parse_dates
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


def _as_float(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor | tf.SparseTensor:
    if isinstance(x, tf.SparseTensor):
        return tf.SparseTensor(x.indices, tf.cast(x.values, tf.float32), x.dense_shape)
    return tf.cast(x, tf.float32)


def multi_hot(words: tf.SparseTensor, depth: int = NUM_WORDS) -> tf.Tensor:
    """A [batch, depth] float tensor with 1.0 at each word index of each example."""
    words = tf.sparse.retain(words, (words.values > 0) & (words.values < depth))
    words = tf.SparseTensor(words.indices, words.values, tf.stack([words.dense_shape[0], depth]))
    return tf.cast(tf.sparse.to_indicator(words, depth), tf.float32)


def z_score(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """(x - train mean) / train std; a missing value becomes the train mean (0 after scaling)."""
    x = _as_float(x)
    mean = tft.mean(x)
    std = tf.sqrt(tft.var(x))
    return tf.math.divide_no_nan(_fill_missing(x, mean) - mean, std)


def category_index(x: tf.Tensor | tf.SparseTensor, feature: str) -> tf.Tensor:
    """0 for missing, 1..V for the train vocabulary, V + 1 for values never seen in train."""
    index = tft.compute_and_apply_vocabulary(
        x, num_oov_buckets=1, vocab_filename=vocabulary_name(feature)
    )
    return _fill_missing(index, tf.constant(-1, tf.int64)) + 1


def _finite_or_zero(x: tf.Tensor) -> tf.Tensor:
    return tf.where(tf.math.is_finite(x), x, tf.zeros_like(x))


def date_features(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """[batch, 7]: the year z-scored over the train split's valid dates, then sin/cos of
    month, day of year and weekday; zeros where the date is missing or unparsable."""
    parts = parse_dates(_fill_missing(x, ""))
    year = tf.cast(parts.year, tf.float32)
    present = tf.where(parts.valid)
    valid_years = tf.SparseTensor(
        tf.concat([present, tf.zeros_like(present)], axis=1),
        tf.gather_nd(year, present),
        tf.stack([tf.shape(year, out_type=tf.int64)[0], 1]),
    )
    # A split without one valid date has no mean; its dates then keep year 0.
    mean = _finite_or_zero(tft.mean(valid_years))
    std = _finite_or_zero(tf.sqrt(tft.var(valid_years)))
    scaled = tf.where(parts.valid, tf.math.divide_no_nan(year - mean, std), tf.zeros_like(year))
    return date_encoding(parts, scaled)


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """Maps raw features to model inputs; analyzers (mean, var, vocabulary) see train only."""
    task = TaskContract.from_json(custom_config["task"])  # an unknown kind raises here
    outputs = {}
    for feature in task.features:
        name, x = feature.name, inputs[feature.name]
        if feature.kind is FeatureKind.IMAGE:
            outputs[name] = tf.cast(x, tf.float32) / 255.0
        elif feature.kind is FeatureKind.SEQUENCE:
            outputs[name] = multi_hot(x)
        elif feature.kind is FeatureKind.NUMERIC:
            outputs[name] = z_score(x)
        elif feature.kind is FeatureKind.DATE:
            outputs[name] = date_features(x)
        else:
            outputs[name] = category_index(x, name)
    label = task.label
    outputs[label] = _fill_missing(inputs[label], tf.zeros([], inputs[label].dtype))
    return outputs
