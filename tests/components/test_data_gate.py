"""The data gate blocks what breaks the model or the contract and warns about what was only
inferred from train, with the number of examples concerned."""

import os

import pytest
import tensorflow_data_validation as tfdv
from table_statistics import table_statistics
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.data_gate import (
    BLOCKING_KINDS,
    WARNING_KINDS,
    blocking_message,
    check,
    is_blocking,
    warning_lines,
)
from components.schema_curation import curate
from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract

DIGITS = TaskContract(
    features=(Feature("image", FeatureKind.IMAGE, int_range=(0, 255)),),
    label="label",
    problem_type=ProblemType.MULTICLASS,
    metric="accuracy",
    num_classes=10,
)
HOUSES = TaskContract(
    features=(
        Feature("rooms", FeatureKind.NUMERIC),
        Feature("color", FeatureKind.CATEGORICAL),
        Feature("area", FeatureKind.NUMERIC),
    ),
    label="price",
    problem_type=ProblemType.REGRESSION,
    metric="mae",
)


def anomaly(feature, kind):
    return {"split": "test", "feature": feature, "kind": kind, "description": ""}


def test_every_anomaly_type_tfdv_knows_is_sorted_once():
    kinds = set(anomalies_pb2.AnomalyInfo.Type.keys())
    assert kinds <= BLOCKING_KINDS | WARNING_KINDS
    assert not BLOCKING_KINDS & WARNING_KINDS


@pytest.mark.parametrize(
    "feature, kind",
    [
        ("rooms", "SCHEMA_MISSING_COLUMN"),  # a missing feature
        ("rooms", "FEATURE_TYPE_NOT_PRESENT"),
        ("garage", "SCHEMA_NEW_COLUMN"),  # an unknown one
        ("rooms", "UNEXPECTED_DATA_TYPE"),  # a type that cannot be converted
        ("rooms", "INT_TYPE_NOT_INT_STRING"),
        ("rooms", "INVALID_FEATURE_SHAPE"),  # the parser's fixed shape
        ("price", "FEATURE_TYPE_LOW_FRACTION_PRESENT"),  # anything on the label
        ("price", "FLOAT_TYPE_BIG_FLOAT"),
        ("rooms", "A_KIND_OF_A_LATER_TFDV"),  # unknown: the safe side
    ],
)
def test_what_breaks_the_model_or_the_contract_blocks(feature, kind):
    assert is_blocking(anomaly(feature, kind), HOUSES)


@pytest.mark.parametrize(
    "feature, kind",
    [
        ("color", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"),  # a category train never showed
        ("rooms", "INT_TYPE_BIG_INT"),  # outside the range seen in train
        ("rooms", "BOOL_TYPE_BIG_INT"),
        ("area", "FEATURE_TYPE_LOW_FRACTION_PRESENT"),  # more missing cells than in train
        ("", "DATASET_LOW_NUM_EXAMPLES"),
    ],
)
def test_what_was_inferred_from_train_warns(feature, kind):
    assert not is_blocking(anomaly(feature, kind), HOUSES)


@pytest.mark.parametrize(
    "feature, kind, blocks",
    [
        ("image", "INT_TYPE_BIG_INT", True),  # pixels 0-255: declared by the task spec
        ("label", "INT_TYPE_BIG_INT", True),  # a class index past the number of classes
        ("image", "FEATURE_TYPE_LOW_FRACTION_PRESENT", False),
    ],
)
def test_a_value_outside_a_declared_range_blocks(feature, kind, blocks):
    assert is_blocking(anomaly(feature, kind), DIGITS) is blocks


def house(i, **changes):
    return {"rooms": 1 + i % 5, "color": ["red", "blue"][i % 2], "area": 50.5 + i, **changes}


def write(proto, folder, split, name):
    os.makedirs(os.path.join(folder, f"Split-{split}"), exist_ok=True)
    with open(os.path.join(folder, f"Split-{split}", name), "wb") as f:
        f.write(proto.SerializeToString())


@pytest.fixture(scope="module")
def validated_test_split(tmp_path_factory):
    """ExampleValidator's and StatisticsGen's files for a test split with 3 unseen colors,
    4 missing areas and a column train never had (in 1 example)."""
    folder = tmp_path_factory.mktemp("validated")
    train = [house(i, price=100.0 + i) for i in range(40)]
    test = [house(i, price=1.0) for i in range(10)]
    for i in range(3):
        test[i]["color"] = "purple"
    for i in range(4):
        test[9 - i]["area"] = None
    test[5]["garage"] = 1
    schema = curate(tfdv.infer_schema(table_statistics(train), True), HOUSES)
    statistics = table_statistics(test)
    write(statistics, str(folder / "statistics"), "test", "FeatureStats.pb")
    write(
        tfdv.validate_statistics(statistics, schema),
        str(folder / "anomalies"),
        "test",
        "SchemaDiff.pb",
    )
    return str(folder / "anomalies"), str(folder / "statistics"), schema


def test_warnings_and_blocking_anomalies_say_how_many_examples(validated_test_split):
    anomalies, statistics, schema = validated_test_split
    blocking, warnings = check(anomalies, ["test"], statistics, schema, HOUSES)
    assert {(w["feature"], w["kind"], w["count"]) for w in warnings} == {
        ("color", "ENUM_TYPE_UNEXPECTED_STRING_VALUES", 3),
        ("area", "FEATURE_TYPE_LOW_FRACTION_PRESENT", 4),
    }
    assert [(b["split"], b["feature"], b["kind"], b["count"]) for b in blocking] == [
        ("test", "garage", "SCHEMA_NEW_COLUMN", 1)
    ]
    assert "purple" in next(w for w in warnings if w["feature"] == "color")["description"]


def test_without_statistics_the_count_is_unknown(validated_test_split):
    anomalies, _, schema = validated_test_split
    _, warnings = check(anomalies, ["test"], None, schema, HOUSES)
    assert {w["count"] for w in warnings} == {None}


def test_the_error_names_split_feature_kind_and_the_curated_schema_remedy():
    message = blocking_message(
        [{**anomaly("garage", "SCHEMA_NEW_COLUMN"), "count": 1}],
        "/runs/CurateSchema/7/schema.pbtxt",
    )
    assert "1 blocking anomaly" in message
    assert "split 'test', feature 'garage': SCHEMA_NEW_COLUMN" in message
    assert "the schema inferred from train is at /runs/CurateSchema/7/schema.pbtxt" in message
    assert message.endswith("pass your edited copy with --schema FILE")


def test_one_terminal_line_per_warning():
    lines = warning_lines(
        [
            {**anomaly("color", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"), "count": 3},
            {**anomaly("", "DATASET_LOW_NUM_EXAMPLES"), "count": None},
        ]
    )
    assert lines == [
        "data warning: split 'test', feature 'color': ENUM_TYPE_UNEXPECTED_STRING_VALUES in 3 "
        "examples",
        "data warning: split 'test', the dataset: DATASET_LOW_NUM_EXAMPLES",
    ]
