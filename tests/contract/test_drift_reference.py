"""The drift reference format: round trip, and clear errors for files it cannot read."""

import os

import numpy as np
import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from components.drift_reference import reference_from_inputs
from contract.drift_reference import (
    FORMAT_VERSION,
    DriftReference,
    DriftReferenceError,
    read_reference,
    write_reference,
)
from contract.features import Feature
from contract.schema_domains import Domain, domain_of
from contract.task import TaskContract
from contract.version_assets import ASSETS_EXTRA, REFERENCE_FILE

TASK = TaskContract(
    (Feature("rooms", "numeric"), Feature("color", "categorical"), Feature("words", "sequence")),
    label="label",
    problem_type="binary",
    metric="auc",
    num_classes=2,
)


def schema():
    schema = schema_pb2.Schema()
    schema.feature.add(name="rooms", type=schema_pb2.FLOAT)
    color = schema.feature.add(name="color", type=schema_pb2.BYTES, domain="color")
    del color  # a named domain at the schema's top level, as SchemaGen writes it
    schema.string_domain.add(name="color", value=["red", "blue"])
    words = schema.feature.add(name="words", type=schema_pb2.INT)
    words.int_domain.min, words.int_domain.max = 0, 9
    return schema


def reference():
    inputs = {
        "rooms": np.array([1.0, np.nan, 3.0], np.float32),
        "color": np.array([b"red", b"", b"blue"], object),
        "words": np.array([[1, 4, 0], [2, 12, 5], [0, 0, 0]]),
    }
    return reference_from_inputs(inputs, TASK, schema(), np.array([[0.2], [0.7], [0.9]]))


def test_the_producer_computes_the_contract_series():
    made = reference()
    assert made.format_version == FORMAT_VERSION
    assert made.train_examples == 3
    assert made.features["rooms"].series == {"value": [1.0, 3.0]}  # missing is not a value
    assert made.features["color"].series == {"value": ["red", "", "blue"]}
    assert made.features["words"].series["length"] == [2.0, 3.0, 0.0]
    # index 2 is keras's out-of-vocabulary word and 12 is past the schema's domain (max 9)
    assert made.features["words"].series["oov_rate"] == pytest.approx([0.0, 2 / 3, 0.0])
    assert made.predictions == [0, 1, 1]


def test_a_binary_models_reference_predictions_are_at_its_launch_threshold():
    """The served class ids use the launch threshold, so the reference's do too: else a
    threshold of 0.8 would read as prediction drift (docs/reports.md)."""
    inputs = {
        "rooms": np.array([1.0, 2.0, 3.0], np.float32),
        "color": np.array([b"red", b"red", b"blue"], object),
        "words": np.array([[1, 4, 0], [2, 3, 5], [1, 1, 1]]),
    }
    scores = np.array([[0.2], [0.7], [0.9]])
    made = reference_from_inputs(inputs, TASK, schema(), scores, threshold=0.8)
    assert made.predictions == [0, 0, 1]


def test_a_reference_round_trips_through_its_file(tmp_path):
    os.makedirs(tmp_path / ASSETS_EXTRA)
    write_reference(reference(), str(tmp_path / ASSETS_EXTRA / REFERENCE_FILE))
    assert read_reference(str(tmp_path)) == reference()


def test_a_version_without_a_reference_has_none(tmp_path):
    assert read_reference(str(tmp_path)) is None


@pytest.mark.parametrize(
    "text, problem",
    [
        ("{not json", "is not JSON"),
        ('{"problem_type": "binary"}', "format_version None"),
        ('{"format_version": 99}', "format_version 99"),
        ('{"format_version": 1, "problem_type": "binary"}', "is broken"),
        ("[1, 2]", "not a drift reference"),
    ],
)
def test_an_unreadable_reference_names_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / ASSETS_EXTRA / REFERENCE_FILE
    os.makedirs(path.parent)
    path.write_text(text)
    with pytest.raises(DriftReferenceError) as error:
        read_reference(str(tmp_path))
    assert str(path) in str(error.value)
    assert problem in str(error.value)


def test_an_unknown_kind_in_a_reference_is_an_error():
    text = reference().to_json().replace('"kind": "numeric"', '"kind": "vector"')
    with pytest.raises(DriftReferenceError, match="'vector'"):
        DriftReference.from_json(text)


def test_domains_come_from_the_schema_proto():
    assert domain_of(schema(), "color") == Domain(values=("red", "blue"))
    assert domain_of(schema(), "words") == Domain(0, 9)
    assert domain_of(schema(), "rooms") is None
    assert domain_of(schema(), "absent") is None
