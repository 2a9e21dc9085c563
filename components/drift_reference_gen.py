"""DriftReferenceGen: the drift monitor's reference of a trained model, as its own artifact.

It reads a sample of the train split (ExampleGen), the curated schema and the model's
held-out predictions (the Trainer's model run), and writes `drift_reference.json`
(contract/drift_reference.py) with `components/drift_reference.py`. The Pusher only publishes
it, beside the model, as TFX's own Pusher only copies and records.
"""

import json
import os

import numpy as np
import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts

from components.drift_reference import REFERENCE_EXAMPLES, build_reference
from components.launch_threshold import THRESHOLD_FILE
from components.schema_curation import read_schema
from contract.drift_reference import write_reference
from contract.signatures import DECISION_THRESHOLD
from contract.task import TaskContract
from contract.version_assets import EVAL_PREDICTIONS_FILE, REFERENCE_FILE
from contract.versions import read_json


class DriftReferenceArtifact(artifact.Artifact):
    """`drift_reference.json` of one trained model (contract/drift_reference.py)."""

    TYPE_NAME = "dlwp.DriftReference"


def reference_path(drift_reference_uri: str) -> str:
    """The reference file inside a DriftReferenceArtifact."""
    return os.path.join(drift_reference_uri, REFERENCE_FILE)


@component
def DriftReferenceGen(  # noqa: N802 - TFX names components like classes
    examples: InputArtifact[standard_artifacts.Examples],
    schema: InputArtifact[standard_artifacts.Schema],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    drift_reference: OutputArtifact[DriftReferenceArtifact],
    task: Parameter[str],
    max_examples: Parameter[int] = REFERENCE_EXAMPLES,
) -> None:
    """Writes the reference of the model whose run is `model_run`."""
    with tf.io.gfile.GFile(os.path.join(model_run.uri, EVAL_PREDICTIONS_FILE)) as f:
        held_out_outputs = np.asarray(json.load(f), np.float64)
    # The served class ids of a binary model are at its launch threshold (docs/reports.md).
    chosen = read_json(model_run.uri, THRESHOLD_FILE) or {}
    threshold = float(chosen.get("live", DECISION_THRESHOLD))
    reference = build_reference(
        examples.uri,
        read_schema(schema.uri),
        held_out_outputs,
        TaskContract.from_json(task),
        max_examples,
        threshold,
    )
    write_reference(reference, reference_path(drift_reference.uri))
    drift_reference.set_int_custom_property("train_examples", reference.train_examples)
