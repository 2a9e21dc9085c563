"""The drift monitor's reference for a pushed version (`assets.extra/drift_reference.json`):
the monitored series of a sample of the train split, the eval set's predictions and the
feature domains of the schema. `serving/drift_reference.py` defines the series; both sides use
it, so a series means the same thing in training and in production."""

import json

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import schema_utils

from components.exporting.split_inputs import raw_inputs, read_split
from serving.drift_reference import feature_series, predictions_from_scores

REFERENCE_EXAMPLES = 5_000


def feature_domains(schema: schema_pb2.Schema) -> dict[str, dict]:
    """{feature: {"min", "max"} or {"values"}} for the features whose schema has a domain."""
    string_domains = {d.name: list(d.value) for d in schema.string_domain}
    domains = {}
    for feature in schema.feature:
        if feature.HasField("int_domain"):
            domain = feature.int_domain
            domains[feature.name] = {
                **({"min": domain.min} if domain.HasField("min") else {}),
                **({"max": domain.max} if domain.HasField("max") else {}),
            }
        elif feature.HasField("float_domain"):
            domain = feature.float_domain
            domains[feature.name] = {
                **({"min": domain.min} if domain.HasField("min") else {}),
                **({"max": domain.max} if domain.HasField("max") else {}),
            }
        elif feature.HasField("string_domain"):
            domains[feature.name] = {"values": list(feature.string_domain.value)}
        elif feature.domain in string_domains:
            domains[feature.name] = {"values": string_domains[feature.domain]}
    return {name: domain for name, domain in domains.items() if domain}


def _jsonable(values: np.ndarray) -> list:
    if values.dtype == object:
        return [str(v) for v in values]
    return [float(v) for v in values if not np.isnan(v)]


def build_reference(
    examples_uri: str,
    schema: schema_pb2.Schema,
    eval_predictions: list,
    features: list[tuple[str, str]],
    problem_type: str,
    max_examples: int = REFERENCE_EXAMPLES,
) -> dict:
    """The reference of a model trained on `examples_uri`'s train split."""
    spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    train = read_split(examples_uri, "train", max_examples)
    inputs = raw_inputs(train, spec, features)
    domains = feature_domains(schema)
    return {
        "problem_type": problem_type,
        "train_examples": len(train),
        "features": {
            name: {
                "kind": kind,
                "domain": domains.get(name),
                "series": {
                    summary: _jsonable(values)
                    for summary, values in feature_series(
                        kind, inputs[name], domains.get(name)
                    ).items()
                },
            }
            for name, kind in features
        },
        "predictions": predictions_from_scores(problem_type, eval_predictions).tolist(),
    }


def write_reference(reference: dict, path: str) -> None:
    """Writes the reference JSON (through tf.io.gfile: `gs://` works)."""
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(reference, f)
