"""CurateSchema: turns the schema SchemaGen inferred from train (or the user's curated one,
`dlwp run --schema FILE`) into the schema eval, test and the model are held to.

SchemaGen infers from a sample; the task spec knows more (book 6.1.3, understand your data):

- the ranges it declares (pixels 0-255, word indices below 10,000, class indices below the
  number of classes) are set as integer domains, so that ExampleValidator reports a value
  outside them;
- a numeric column is never a bool: SchemaGen types an int column that holds only 0 and 1 in
  train as BOOL, and a 2 in test would then refuse the run; the bool domain is dropped;
- a date column has no list of allowed values: dates are open-ended;
- a table column may be missing in any example (a missing cell, a request without it):
  SchemaGen gives a column present in every train row a fixed shape, which makes a missing
  value a parse error, so the column keeps "one value at most" instead.

The label keeps its shape: every example has one (docs/architecture.md, the contract).
"""

import hashlib
import os
from collections.abc import Mapping, Sequence

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from contract import schema_domains
from contract.features import FeatureKind
from contract.task import TaskContract
from contract.version_assets import SCHEMA_FILE


def read_schema(uri: str) -> schema_pb2.Schema:
    """Reads `<uri>/schema.pbtxt` (a Schema artifact's file)."""
    return schema_domains.read_schema(os.path.join(uri, SCHEMA_FILE))


def content_addressed_copy(schema_file: str, folder: str) -> str:
    """Copies a curated schema to `<folder>/<sha256 of its text>/schema.pbtxt`, its path.

    ImportSchemaGen's cache key is the file's path, not its content: the copy's path changes
    with the content, so that an edited schema is read again.
    """
    with tf.io.gfile.GFile(schema_file, "rb") as f:
        content = f.read()
    target = os.path.join(folder, hashlib.sha256(content).hexdigest(), SCHEMA_FILE)
    if not tf.io.gfile.exists(target):
        tf.io.gfile.makedirs(os.path.dirname(target))
        with tf.io.gfile.GFile(target, "wb") as f:
            f.write(content)
    return target


def declared_int_domains(task: TaskContract) -> dict[str, tuple[int, int]]:
    """The integer ranges the task spec declares: of features, and of the class index of a
    classification label. They are the contract, not inferred from a sample."""
    domains = {f.name: f.int_range for f in task.features if f.int_range is not None}
    if task.num_classes:
        domains[task.label] = (0, task.num_classes - 1)
    return domains


def add_int_domains(schema: schema_pb2.Schema, int_domains: Mapping[str, Sequence[int]]) -> None:
    """Sets `[min, max]` integer domains on the named features, in place.

    Raises:
        ValueError: a named feature is not in the schema or is not an integer feature.
    """
    features = {feature.name: feature for feature in schema.feature}
    for name, (low, high) in sorted(int_domains.items()):
        if name not in features:
            raise ValueError(f"feature {name!r} is not in the schema (it has {sorted(features)})")
        if features[name].type != schema_pb2.INT:
            raise ValueError(f"feature {name!r} is not an integer feature; cannot set a range")
        features[name].int_domain.min = low
        features[name].int_domain.max = high


def _is_one_value_column(feature: schema_pb2.Feature) -> bool:
    """True when SchemaGen gave the feature one fixed value per example (shape [1])."""
    return [dim.size for dim in feature.shape.dim] == [1]


def _drop_string_domain(schema: schema_pb2.Schema, feature: schema_pb2.Feature) -> None:
    """Clears a feature's string domain, and the schema's named domain if no other uses it."""
    if feature.WhichOneof("domain_info") == "domain":
        name = feature.domain
        feature.ClearField("domain")
        if not any(f.domain == name for f in schema.feature):
            kept = [d for d in schema.string_domain if d.name != name]
            del schema.string_domain[:]
            schema.string_domain.extend(kept)
    elif feature.WhichOneof("domain_info") == "string_domain":
        feature.ClearField("string_domain")


def curate(schema: schema_pb2.Schema, task: TaskContract) -> schema_pb2.Schema:
    """The schema of `task`'s data: a copy of `schema` changed as the module docstring says.

    Raises:
        ValueError: a declared range names a feature the schema lacks or that is not an int.
    """
    curated = schema_pb2.Schema()
    curated.CopyFrom(schema)
    kinds = task.kinds
    for feature in curated.feature:
        if feature.type in (schema_pb2.INT, schema_pb2.FLOAT) and feature.HasField("bool_domain"):
            feature.ClearField("bool_domain")
        if kinds.get(feature.name) is FeatureKind.DATE:
            _drop_string_domain(curated, feature)
        if feature.name != task.label and _is_one_value_column(feature):
            feature.ClearField("shape")
            feature.value_count.min = 1
            feature.value_count.max = 1
    add_int_domains(curated, declared_int_domains(task))
    return curated


@component
def CurateSchema(  # noqa: N802 - TFX names components like classes
    schema: InputArtifact[standard_artifacts.Schema],
    curated_schema: OutputArtifact[standard_artifacts.Schema],
    task: Parameter[str],
) -> None:
    """Writes `curate(schema, task)`; `task` is the task contract's JSON (contract/task.py)."""
    curated = curate(read_schema(schema.uri), TaskContract.from_json(task))
    tf.io.gfile.makedirs(curated_schema.uri)
    with tf.io.gfile.GFile(os.path.join(curated_schema.uri, SCHEMA_FILE), "w") as f:
        f.write(text_format.MessageToString(curated))
