"""DataGate: stops the workflow when eval or test data has anomalies against the train schema.

TFX's ExampleValidator only records anomalies; nothing downstream reads them. The gate reads
them and raises `DataAnomaliesError` (exit code 1) naming split, feature and anomaly, so that
no model is trained on data that does not match what the schema learned from train.
"""

import json
import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact, artifact_utils, standard_artifacts

from components.errors import DataAnomaliesError

ANOMALIES_FILE = "SchemaDiff.pb"


class DataGateResult(artifact.Artifact):
    """The gate's verdict: the splits it checked (a run that reaches it with anomalies stops)."""

    TYPE_NAME = "dlwp.DataGateResult"


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


def describe(anomalies: list[dict[str, str]]) -> str:
    """One line per anomaly: `split 'eval', feature 'x': KIND (description)`."""
    return "; ".join(
        f"split {a['split']!r}, feature {a['feature']!r}: {a['kind']} ({a['description']})"
        for a in anomalies
    )


@tfx.dsl.components.component
def DataGate(  # noqa: N802 - TFX names components like classes
    anomalies: tfx.dsl.components.InputArtifact[standard_artifacts.ExampleAnomalies],
    result: tfx.dsl.components.OutputArtifact[DataGateResult],
) -> None:
    """Raises DataAnomaliesError when any validated split has anomalies."""
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    found = read_anomalies(anomalies.uri, splits)
    if found:
        raise DataAnomaliesError(
            f"data validation failed: {len(found)} anomal{'y' if len(found) == 1 else 'ies'} "
            f"against the train schema: {describe(found)}"
        )
    tf.io.gfile.makedirs(result.uri)
    with tf.io.gfile.GFile(os.path.join(result.uri, "data_gate.json"), "w") as f:
        json.dump({"passed": True, "splits": splits}, f)
