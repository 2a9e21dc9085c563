"""DataGate: stops the workflow only on data that would break the model or the contract, and
lists everything else it found as warnings.

TFX's ExampleValidator only records anomalies of eval and test against the train schema;
nothing downstream reads them. The gate sorts each one (`is_blocking`):

- it blocks what the model or the contract cannot take: a missing or unknown feature, a type
  that cannot be converted, a shape the model's parser refuses, a broken schema, any anomaly
  on the label, a value outside a range the task spec declares (pixels, word indices, class
  indices), and any kind it does not know;
- it warns about what was inferred from a sample, train (book 6.1.3): values outside an
  inferred domain, categories train never showed, fewer values present than in train, a
  distribution that moved.

Blocking anomalies raise `DataAnomaliesError` (exit 1), naming split, feature and kind, and the
remedy: curate the schema and pass it with `dlwp run --schema FILE`. Warnings go to the gate's
`data_gate.json`, with the number of examples concerned where the split's statistics say it.
"""

import json
import os
from typing import Any

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, artifact_utils, standard_artifacts

from components.errors import DataAnomaliesError
from components.schema_curation import declared_int_domains, read_schema
from contract.schema_domains import domain_of
from contract.task import TaskContract
from contract.version_assets import SCHEMA_FILE

ANOMALIES_FILE = "SchemaDiff.pb"
STATISTICS_FILE = "FeatureStats.pb"
GATE_FILE = "data_gate.json"

# What the model's parser, the Transform graph or the serving signatures cannot take.
BLOCKING_KINDS = frozenset(
    {
        # A feature the model needs is missing, or one it does not know is there.
        "SCHEMA_MISSING_COLUMN",
        "FEATURE_TYPE_NOT_PRESENT",
        "SCHEMA_NEW_COLUMN",
        # A type that cannot be converted to the one the model was built for.
        "BOOL_TYPE_BYTES_NOT_INT",
        "BOOL_TYPE_BYTES_NOT_STRING",
        "BOOL_TYPE_FLOAT_NOT_INT",
        "BOOL_TYPE_FLOAT_NOT_STRING",
        "BOOL_TYPE_INT_NOT_STRING",
        "BOOL_TYPE_STRING_NOT_INT",
        "ENUM_TYPE_BYTES_NOT_STRING",
        "ENUM_TYPE_FLOAT_NOT_STRING",
        "ENUM_TYPE_INT_NOT_STRING",
        "FLOAT_TYPE_NOT_FLOAT",
        "FLOAT_TYPE_STRING_NOT_FLOAT",
        "FLOAT_TYPE_NON_STRING",
        "FLOAT_TYPE_UNKNOWN_TYPE_NUMBER",
        "INT_TYPE_INT_EXPECTED",
        "INT_TYPE_NOT_INT_STRING",
        "INT_TYPE_NOT_STRING",
        "INT_TYPE_STRING_EXPECTED",
        "INT_TYPE_UNKNOWN_TYPE_NUMBER",
        "STRING_TYPE_NOW_FLOAT",
        "STRING_TYPE_NOW_INT",
        "UNEXPECTED_DATA_TYPE",
        # A shape the parser refuses: fixed-length features, one value per column.
        "FEATURE_TYPE_HIGH_NUMBER_VALUES",
        "FEATURE_TYPE_LOW_NUMBER_VALUES",
        "FEATURE_TYPE_NO_VALUES",
        "FEATURE_TYPE_UNEXPECTED_REPEATED",
        "INVALID_FEATURE_SHAPE",
        "VALUE_NESTEDNESS_MISMATCH",
        "EMBEDDING_SHAPE_INVALID",
        # A split with no examples: nothing to validate or evaluate on.
        "NO_DATA_IN_SPAN",
        # The schema itself is broken (a curated one, --schema FILE).
        "BOOL_TYPE_INVALID_CONFIG",
        "DOMAIN_INVALID_FOR_TYPE",
        "FEATURE_MISSING_NAME",
        "FEATURE_MISSING_TYPE",
        "INVALID_SCHEMA_SPECIFICATION",
        "INVALID_DOMAIN_SPECIFICATION",
        # Structured features the workflow does not build, and checks it cannot judge.
        "SPARSE_FEATURE_MISSING_VALUE",
        "SPARSE_FEATURE_MISSING_INDEX",
        "SPARSE_FEATURE_LENGTH_MISMATCH",
        "SPARSE_FEATURE_NAME_COLLISION",
        "WEIGHTED_FEATURE_NAME_COLLISION",
        "WEIGHTED_FEATURE_MISSING_VALUE",
        "WEIGHTED_FEATURE_MISSING_WEIGHT",
        "WEIGHTED_FEATURE_LENGTH_MISMATCH",
        "DERIVED_FEATURE_BAD_LIFECYCLE",
        "DERIVED_FEATURE_INVALID_SOURCE",
        "STATS_NOT_AVAILABLE",
        "CUSTOM_VALIDATION",
        "MULTIPLE_REASONS",
        "UNKNOWN_TYPE",
    }
)

# A value outside a domain: inferred from train, so a warning, unless the task spec declares
# the domain (then it is the contract, and it blocks).
DOMAIN_KINDS = frozenset(
    {
        "BOOL_TYPE_BIG_INT",
        "BOOL_TYPE_SMALL_INT",
        "BOOL_TYPE_UNEXPECTED_STRING",
        "BOOL_TYPE_UNEXPECTED_FLOAT",
        "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
        "FLOAT_TYPE_BIG_FLOAT",
        "FLOAT_TYPE_SMALL_FLOAT",
        "FLOAT_TYPE_HAS_NAN",
        "FLOAT_TYPE_HAS_INF",
        "INT_TYPE_BIG_INT",
        "INT_TYPE_SMALL_INT",
    }
)

# What a sample says and the model takes all the same: warnings.
WARNING_KINDS = DOMAIN_KINDS | frozenset(
    {
        # Bytes that are not UTF-8 are still a category to the vocabulary (index or OOV).
        "ENUM_TYPE_INVALID_UTF8",
        # Fewer values present than in train: a missing value is filled (docs/architecture.md).
        "FEATURE_TYPE_LOW_FRACTION_PRESENT",
        "FEATURE_TYPE_LOW_NUMBER_PRESENT",
        # Counts of distinct values, sizes and distributions: the sample moved.
        "FEATURE_TYPE_HIGH_UNIQUE",
        "FEATURE_TYPE_LOW_UNIQUE",
        "FEATURE_TYPE_NO_UNIQUE",
        "SCHEMA_TRAINING_SERVING_SKEW",
        "COMPARATOR_CONTROL_DATA_MISSING",
        "COMPARATOR_TREATMENT_DATA_MISSING",
        "COMPARATOR_L_INFTY_HIGH",
        "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
        "COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH",
        "COMPARATOR_LOW_NUM_EXAMPLES",
        "COMPARATOR_HIGH_NUM_EXAMPLES",
        "DATASET_LOW_NUM_EXAMPLES",
        "DATASET_HIGH_NUM_EXAMPLES",
        "SEMANTIC_DOMAIN_UPDATE",
        # Constraints of image and text domains, which the workflow's kinds do not set.
        "LOW_SUPPORTED_IMAGE_FRACTION",
        "MAX_IMAGE_BYTE_SIZE_EXCEEDED",
        "SEQUENCE_VALUE_TOO_FEW_OCCURRENCES",
        "SEQUENCE_VALUE_TOO_MANY_OCCURRENCES",
        "SEQUENCE_VALUE_TOO_SMALL_FRACTION",
        "SEQUENCE_VALUE_TOO_LARGE_FRACTION",
        "FEATURE_COVERAGE_TOO_LOW",
        "FEATURE_COVERAGE_TOO_SHORT_AVG_TOKEN_LENGTH",
        "NLP_WRONG_LOCATION",
    }
)

_MISSING_KINDS = {
    "FEATURE_TYPE_LOW_FRACTION_PRESENT",
    "FEATURE_TYPE_LOW_NUMBER_PRESENT",
    "FEATURE_TYPE_NOT_PRESENT",
}


class DataGateResult(artifact.Artifact):
    """The gate's verdict (`data_gate.json`): the splits it checked and the warnings; a run
    that reaches it with a blocking anomaly stops there."""

    TYPE_NAME = "dlwp.DataGateResult"


def is_blocking(anomaly: dict[str, Any], task: TaskContract) -> bool:
    """Whether an anomaly (a `read_anomalies` dict) stops the run; see the module docstring."""
    kind, feature = anomaly["kind"], anomaly["feature"]
    if feature == task.label:
        return True
    if kind in DOMAIN_KINDS:
        return feature in declared_int_domains(task)
    return kind not in WARNING_KINDS


def read_anomalies(anomalies_uri: str, split_names: list[str]) -> list[dict[str, str]]:
    """The anomalies ExampleValidator wrote, one dict per (split, feature, anomaly kind).

    Returns:
        Dicts with keys split, feature, kind (TFDV's anomaly type) and description; a
        dataset-level anomaly has feature "" (empty).
    """
    found = []
    for split in split_names:
        path = os.path.join(anomalies_uri, f"Split-{split}", ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        infos = sorted(anomalies.anomaly_info.items())
        if anomalies.HasField("dataset_anomaly_info"):
            infos.append(("", anomalies.dataset_anomaly_info))
        for feature, info in infos:
            for reason in info.reason or [None]:
                found.append(
                    {
                        "split": split,
                        "feature": feature,
                        "kind": anomalies_pb2.AnomalyInfo.Type.Name(reason.type)
                        if reason
                        else "UNKNOWN_TYPE",
                        "description": (reason.description if reason else "") or info.description,
                    }
                )
    return found


def read_split_statistics(
    statistics_uri: str, split: str
) -> statistics_pb2.DatasetFeatureStatistics | None:
    """The statistics StatisticsGen wrote for one split, or None when there are none."""
    path = os.path.join(statistics_uri, f"Split-{split}", STATISTICS_FILE)
    if not tf.io.gfile.exists(path):
        return None
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
    return stats.datasets[0] if stats.datasets else None


def _feature_name(feature: statistics_pb2.FeatureNameStatistics) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


def _common_stats(feature: statistics_pb2.FeatureNameStatistics) -> Any:
    which = feature.WhichOneof("stats")
    if which == "num_stats":
        return feature.num_stats.common_stats
    if which == "string_stats":
        return feature.string_stats.common_stats
    if which == "bytes_stats":
        return feature.bytes_stats.common_stats
    return None


def _value_counts(feature: statistics_pb2.FeatureNameStatistics) -> dict[str, float]:
    """Examples per string value: the rank histogram (up to 1,000 values), else top values."""
    strings = feature.string_stats
    if strings.rank_histogram.buckets:
        return {b.label: b.sample_count for b in strings.rank_histogram.buckets}
    return {v.value: v.frequency for v in strings.top_values}


def count_examples(
    anomaly: dict[str, Any],
    statistics: statistics_pb2.DatasetFeatureStatistics | None,
    schema: schema_pb2.Schema,
) -> int | None:
    """The number of examples an anomaly concerns, read from its split's statistics; None
    where the statistics cannot say (a value out of a numeric range, a dataset anomaly)."""
    if statistics is None or not anomaly["feature"]:
        return None
    kind = anomaly["kind"]
    features = {_feature_name(f): f for f in statistics.features}
    feature = features.get(anomaly["feature"])
    if feature is None:
        return int(statistics.num_examples) if kind == "SCHEMA_MISSING_COLUMN" else None
    common = _common_stats(feature)
    if kind in _MISSING_KINDS or kind == "SCHEMA_MISSING_COLUMN":
        return int(common.num_missing) if common is not None else None
    if kind == "SCHEMA_NEW_COLUMN":
        return int(common.num_non_missing) if common is not None else None
    if kind == "ENUM_TYPE_UNEXPECTED_STRING_VALUES":
        domain = domain_of(schema, anomaly["feature"])
        if domain is None or domain.values is None:
            return None
        allowed = set(domain.values)
        return int(sum(n for value, n in _value_counts(feature).items() if value not in allowed))
    return None


def check(
    anomalies_uri: str,
    split_names: list[str],
    statistics_uri: str | None,
    schema: schema_pb2.Schema,
    task: TaskContract,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The blocking anomalies and the warnings of the validated splits.

    Returns:
        (blocking, warnings): dicts with keys split, feature, kind, description and count (the
        examples concerned, or None; see `count_examples`).
    """
    statistics = {
        split: read_split_statistics(statistics_uri, split) if statistics_uri else None
        for split in split_names
    }
    blocking: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    for anomaly in read_anomalies(anomalies_uri, split_names):
        counted = {
            **anomaly,
            "count": count_examples(anomaly, statistics[anomaly["split"]], schema),
        }
        (blocking if is_blocking(anomaly, task) else warnings).append(counted)
    return blocking, warnings


def describe(anomalies: list[dict[str, Any]]) -> str:
    """One line per anomaly: `split 'eval', feature 'x': KIND (description)`."""
    return "; ".join(
        f"split {a['split']!r}, feature {a['feature']!r}: {a['kind']} ({a['description']})"
        for a in anomalies
    )


def warning_lines(warnings: list[dict[str, Any]]) -> list[str]:
    """One terminal line per warning: split, feature, examples concerned, kind."""
    lines = []
    for w in warnings:
        count = "" if w["count"] is None else f" in {w['count']} example{'s' * (w['count'] != 1)}"
        feature = f"feature {w['feature']!r}" if w["feature"] else "the dataset"
        lines.append(f"data warning: split {w['split']!r}, {feature}: {w['kind']}{count}")
    return lines


def blocking_message(blocking: list[dict[str, Any]], schema_path: str) -> str:
    """The gate's error: what blocks, and how to curate the schema when it is too strict."""
    count = len(blocking)
    return (
        f"data validation failed: {count} blocking anomal{'y' if count == 1 else 'ies'} "
        f"against the train schema: {describe(blocking)}. If the inferred schema is too "
        f"strict, curate it: the schema inferred from train is at {schema_path}; pass your "
        "edited copy with --schema FILE"
    )


@component
def DataGate(  # noqa: N802 - TFX names components like classes
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    result: OutputArtifact[DataGateResult],
    task: Parameter[str],
) -> None:
    """Raises DataAnomaliesError on a blocking anomaly; else writes the warnings."""
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    blocking, warnings = check(
        anomalies.uri, splits, statistics.uri, read_schema(schema.uri), TaskContract.from_json(task)
    )
    if blocking:
        raise DataAnomaliesError(blocking_message(blocking, os.path.join(schema.uri, SCHEMA_FILE)))
    tf.io.gfile.makedirs(result.uri)
    with tf.io.gfile.GFile(os.path.join(result.uri, GATE_FILE), "w") as f:
        json.dump({"passed": True, "splits": splits, "warnings": warnings}, f)
