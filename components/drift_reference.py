"""The drift reference's producer: the monitored series of a sample of the train split and the
model's predictions on held-out examples (contract/drift_reference.py is the format;
components/drift_reference_gen.py the TFX component that runs this in the pipeline).

    reference = reference_from_inputs(inputs, task, schema, held_out_scores)

Tests and benchmarks build their references through `reference_from_inputs` too, so a reference
always means what the pipeline's means.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2

from contract.drift_reference import DriftReference, FeatureReference
from contract.drift_series import feature_series
from contract.features import ProblemType
from contract.schema_domains import domain_of
from contract.signatures import DECISION_THRESHOLD, classes_from_scores
from contract.task import TaskContract

REFERENCE_EXAMPLES = 5_000


def _jsonable(values: np.ndarray) -> list:
    if values.dtype == object:
        return [str(v) for v in values]
    return [float(v) for v in values if not np.isnan(v)]


def prediction_series(
    problem_type: str, outputs: np.ndarray, threshold: float = DECISION_THRESHOLD
) -> np.ndarray:
    """The prediction series of a model's raw outputs: class ids (a binary model's at its
    launch threshold, as the served `class_ids`), or regression values."""
    if ProblemType(problem_type) is ProblemType.REGRESSION:
        return np.asarray(outputs, np.float64).reshape(-1)
    return classes_from_scores(problem_type, outputs, threshold)


def reference_from_inputs(
    inputs: Mapping[str, np.ndarray],
    task: TaskContract,
    schema: schema_pb2.Schema,
    held_out_outputs: np.ndarray,
    threshold: float = DECISION_THRESHOLD,
) -> DriftReference:
    """The reference of a model trained on examples like `inputs` (`serving_default`'s raw
    inputs, one array per feature, as `split_inputs.raw_inputs` gives them).

    Args:
        inputs: a sample of the train split's raw features.
        task: the task's features and problem type.
        schema: the curated schema (feature domains).
        held_out_outputs: the model's outputs (scores, or regression values) on held-out
            examples.
        threshold: a binary model's launch threshold (docs/reports.md).
    """
    features = {}
    for feature in task.features:
        series = feature_series(feature.kind, inputs[feature.name], domain_of(schema, feature.name))
        features[feature.name] = FeatureReference(
            kind=feature.kind,
            series={summary: _jsonable(values) for summary, values in series.items()},
        )
    return DriftReference(
        problem_type=task.problem_type,
        train_examples=len(next(iter(inputs.values()))) if inputs else 0,
        features=features,
        predictions=prediction_series(task.problem_type, held_out_outputs, threshold).tolist(),
    )


def build_reference(
    examples_uri: str,
    schema: schema_pb2.Schema,
    held_out_outputs: np.ndarray,
    task: TaskContract,
    max_examples: int = REFERENCE_EXAMPLES,
    threshold: float = DECISION_THRESHOLD,
) -> DriftReference:
    """The reference of a model trained on the train split of `examples_uri` (ExampleGen's
    output), on its first `max_examples` examples; `threshold` is a binary model's launch
    threshold."""
    from tensorflow_transform.tf_metadata import schema_utils

    from components.exporting.split_inputs import raw_inputs, read_split

    spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    train = read_split(examples_uri, "train", max_examples)
    inputs = raw_inputs(train, spec, [(f.name, f.kind) for f in task.features])
    return reference_from_inputs(inputs, task, schema, held_out_outputs, threshold)
