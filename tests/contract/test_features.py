"""Feature kinds and problem types: known values parse, unknown ones fail naming themselves."""

import json

import pytest

from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract


def test_an_unknown_feature_kind_is_named_with_the_choices():
    with pytest.raises(ValueError) as error:
        FeatureKind("pixels")
    assert "'pixels'" in str(error.value)
    assert "image, sequence, numeric, categorical" in str(error.value)


def test_an_unknown_problem_type_is_named():
    with pytest.raises(ValueError, match="unknown problem type 'ranking'"):
        ProblemType("ranking")


def test_kinds_are_their_strings_in_json_and_comparisons():
    assert FeatureKind("numeric") is FeatureKind.NUMERIC
    assert FeatureKind.NUMERIC == "numeric"
    assert json.dumps({"kind": FeatureKind.IMAGE}) == '{"kind": "image"}'
    assert f"{ProblemType.BINARY}" == "binary"


def test_a_feature_with_an_unknown_kind_cannot_be_built():
    with pytest.raises(ValueError, match="'vector'"):
        Feature("x", "vector")


def test_the_task_contract_round_trips_through_json():
    task = TaskContract(
        features=(Feature("image", "image", (0, 255)), Feature("color", "categorical")),
        label="label",
        problem_type="multiclass",
        metric="accuracy",
        num_classes=10,
        class_names=tuple("abcdefghij"),
    )
    again = TaskContract.from_json(task.to_json())
    assert again == task
    assert again.kinds == {"image": FeatureKind.IMAGE, "color": FeatureKind.CATEGORICAL}
    assert again.features[0].int_range == (0, 255)


def test_a_task_contract_with_an_unknown_field_is_refused():
    with pytest.raises(ValueError, match="not a task contract"):
        TaskContract.from_json(
            '{"features": [], "label": "y", "problem_type": "binary", "metric": "auc", "colour": 1}'
        )
