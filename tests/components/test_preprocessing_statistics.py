"""preprocessing_fn's stacked statistics against numpy: numeric and date columns are z-scored
with one mean and one variance over all of them, and each column still gets exactly its own
train mean and standard deviation; the number of analyzers does not grow with the columns."""

import datetime

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform import analyzer_nodes
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components.date_features import DATE_WIDTH
from components.preprocessing import preprocessing_fn, transform_config, vocabulary_name
from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract

NAN = float("nan")
FEATURES = (
    Feature("area", FeatureKind.NUMERIC),  # float, with a missing cell
    Feature("rooms", FeatureKind.NUMERIC),  # int64, with a missing cell
    Feature("floors", FeatureKind.NUMERIC),  # the same value in every train row: std 0
    Feature("tax", FeatureKind.NUMERIC),  # a fixed-length column, never missing
    Feature("built", FeatureKind.DATE),
    Feature("color", FeatureKind.CATEGORICAL),
    Feature("empty", FeatureKind.NUMERIC),  # missing in every train row, present in a new one
)
CONFIG = transform_config(TaskContract(FEATURES, "label", ProblemType.REGRESSION, "mae"))
SPEC = {
    "area": tf.io.VarLenFeature(tf.float32),
    "rooms": tf.io.VarLenFeature(tf.int64),
    "floors": tf.io.VarLenFeature(tf.float32),
    "tax": tf.io.FixedLenFeature([1], tf.float32),
    "built": tf.io.VarLenFeature(tf.string),
    "color": tf.io.VarLenFeature(tf.string),
    "empty": tf.io.VarLenFeature(tf.float32),
    "label": tf.io.FixedLenFeature([], tf.float32),
}
# One row per tuple: area, rooms, floors, tax, built, color; None is a missing cell.
TRAIN_ROWS = [
    (50.0, 1, 2.0, 310.0, "2001-05-03", "red"),
    (80.0, 3, 2.0, 295.5, "1999-12-31", "blue"),
    (None, 2, 2.0, 402.0, "", "red"),
    (120.0, None, None, 188.0, "soon", None),
    (65.5, 5, 2.0, 250.0, "2010-02-28 08:30", "green"),
    (90.0, 4, 2.0, 333.0, "1987-07-14", "red"),
]
NEW_ROWS = [(200.0, None, 3.0, 100.0, "2020-01-01", "purple")]


def _example(row, label=0.0, empty=()):
    area, rooms, floors, tax, built, color = row
    return {
        "area": [] if area is None else [area],
        "rooms": [] if rooms is None else [rooms],
        "floors": [] if floors is None else [floors],
        "tax": [tax],
        "built": [] if built is None else [built],
        "color": [] if color is None else [color],
        "empty": list(empty),
        "label": label,
    }


def _column(rows, index):
    return np.array([NAN if row[index] is None else row[index] for row in rows], np.float64)


def _expected_z(index, rows):
    """numpy's z-score of a column with the train rows' mean and (population) std; missing
    cells 0, a column without spread 0."""
    train = _column(TRAIN_ROWS, index)
    mean, std = np.nanmean(train), np.nanstd(train)
    values = _column(rows, index)
    z = np.zeros_like(values) if std == 0 else (values - mean) / std
    return np.where(np.isnan(values), 0.0, z)


def _year(text):
    try:
        return datetime.date.fromisoformat(text[:10]).year
    except ValueError:
        return None


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    output_dir = str(tmp_path_factory.mktemp("transform_output"))
    train_examples = [_example(row, label=float(i)) for i, row in enumerate(TRAIN_ROWS)]
    new_examples = [_example(row, empty=[7.0]) for row in NEW_ROWS]
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        transform_fn = (train_examples, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, CONFIG)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
        train, _ = ((train_examples, metadata), transform_fn) | tft_beam.TransformDataset()
        new, _ = ((new_examples, metadata), transform_fn) | tft_beam.TransformDataset()
    return train, new, tft.TFTransformOutput(output_dir)


@pytest.mark.parametrize("index, name", [(0, "area"), (1, "rooms"), (2, "floors"), (3, "tax")])
def test_each_numeric_column_gets_its_own_train_statistics(transformed, index, name):
    train, new, _ = transformed
    assert np.allclose([row[name] for row in train], _expected_z(index, TRAIN_ROWS), atol=1e-5)
    assert np.allclose([row[name] for row in new], _expected_z(index, NEW_ROWS), atol=1e-5)


def test_a_column_without_spread_scales_to_zero_even_for_a_new_value(transformed):
    train, new, _ = transformed
    assert [row["floors"] for row in train] == [0.0] * len(TRAIN_ROWS)
    assert new[0]["floors"] == 0.0  # 3.0 was never seen in train, whose std is 0


def test_a_column_never_present_in_train_scales_to_zero(transformed):
    train, new, _ = transformed
    assert [row["empty"] for row in train] + [new[0]["empty"]] == [0.0] * (len(TRAIN_ROWS) + 1)


def test_date_year_is_scaled_with_the_valid_train_years_only(transformed):
    train, new, _ = transformed
    years = [_year(row[4]) for row in TRAIN_ROWS]
    valid = np.array([y for y in years if y is not None], np.float64)
    mean, std = valid.mean(), valid.std()
    for row, year in zip(train, years, strict=True):
        assert len(row["built"]) == DATE_WIDTH
        if year is None:  # "" and "soon": no year, no angle
            assert np.array_equal(row["built"], np.zeros(DATE_WIDTH))
        else:
            assert row["built"][0] == pytest.approx((year - mean) / std, abs=1e-5)
    assert new[0]["built"][0] == pytest.approx((2020 - mean) / std, abs=1e-5)


def test_categories_keep_their_own_vocabulary_file(transformed):
    train, new, output = transformed
    vocabulary = [v.decode() for v in output.vocabulary_by_name(vocabulary_name("color"))]
    assert sorted(vocabulary) == ["blue", "green", "red"]
    assert vocabulary[0] == "red"  # the most frequent first
    index = {value: i + 1 for i, value in enumerate(vocabulary)}
    expected = [0 if row[5] is None else index[row[5]] for row in TRAIN_ROWS]
    assert [row["color"] for row in train] == expected
    assert new[0]["color"] == len(vocabulary) + 1  # out of vocabulary


def test_outputs_keep_one_name_per_feature(transformed):
    train, _, _ = transformed
    assert sorted(train[0]) == sorted([f.name for f in FEATURES] + ["label"])
    assert [row["label"] for row in train] == [float(i) for i in range(len(TRAIN_ROWS))]


def _analyzer_count(features):
    """The analyzers preprocessing_fn adds to a graph of `features` (TFT's replacement tensors,
    one per analyzer output)."""
    config = transform_config(TaskContract(features, "label", ProblemType.REGRESSION, "mae"))
    with tf.compat.v1.Graph().as_default() as graph:
        inputs = {
            f.name: tf.compat.v1.sparse_placeholder(
                tf.string if f.kind is FeatureKind.DATE else tf.float32, [None, None]
            )
            for f in features
        }
        inputs["label"] = tf.compat.v1.placeholder(tf.float32, [None])
        preprocessing_fn(inputs, config)
        return len(graph.get_collection(analyzer_nodes.TENSOR_REPLACEMENTS))


def test_the_number_of_analyzers_does_not_grow_with_the_numeric_and_date_columns():
    def numeric(n):
        return tuple(Feature(f"x{i}", FeatureKind.NUMERIC) for i in range(n))

    dates = (Feature("built", FeatureKind.DATE), Feature("sold", FeatureKind.DATE))
    one_column = _analyzer_count(numeric(1))
    assert _analyzer_count(numeric(30)) == one_column
    assert _analyzer_count(numeric(30) + dates) == one_column
