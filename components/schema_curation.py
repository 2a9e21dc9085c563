"""CurateSchema: adds what the task spec knows to the schema SchemaGen inferred from train.

SchemaGen infers types, shapes and presence, and string domains, but no ranges for integers.
The task spec knows them (pixels 0-255, word indices below 10,000, labels below the number of
classes); with them ExampleValidator reports an out-of-range value in eval or test.
"""

import json
import os

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from contract import schema_domains
from contract.version_assets import SCHEMA_FILE


def read_schema(uri: str) -> schema_pb2.Schema:
    """Reads `<uri>/schema.pbtxt` (a Schema artifact's file)."""
    return schema_domains.read_schema(os.path.join(uri, SCHEMA_FILE))


def add_int_domains(schema: schema_pb2.Schema, int_domains: dict[str, list[int]]) -> None:
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


@tfx.dsl.components.component
def CurateSchema(  # noqa: N802 - TFX names components like classes
    schema: tfx.dsl.components.InputArtifact[standard_artifacts.Schema],
    curated_schema: tfx.dsl.components.OutputArtifact[standard_artifacts.Schema],
    int_domains: tfx.dsl.components.Parameter[str],
) -> None:
    """Writes the inferred schema plus the ranges of `int_domains` (JSON name: [min, max])."""
    curated = read_schema(schema.uri)
    add_int_domains(curated, json.loads(int_domains))
    tf.io.gfile.makedirs(curated_schema.uri)
    with tf.io.gfile.GFile(os.path.join(curated_schema.uri, SCHEMA_FILE), "w") as f:
        f.write(text_format.MessageToString(curated))
