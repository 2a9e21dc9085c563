"""The one pipeline factory: the book's universal workflow as a TFX pipeline, for any task spec."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from tfx import v1 as tfx

from components import sources
from components.data_gate import DataGate
from components.example_gen import DatasetExampleGen
from components.schema_curation import CurateSchema
from pipelines.tasks import TaskSpec

TRAIN_SPLIT = "train"
VALIDATED_SPLITS = ("eval", "test")


def create_pipeline(
    task: TaskSpec,
    pipeline_root: str,
    data_dir: str,
    metadata_connection_config=None,
    max_examples: int = 0,
    beam_pipeline_args: Sequence[str] = (),
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
    """Builds the pipeline of `task`.

    Args:
        task: what differs between datasets.
        pipeline_root: where TFX writes artifacts (`gs://` on a cluster).
        data_dir: the folder of keras's dataset files.
        metadata_connection_config: ML Metadata connection; None lets the runner choose
            (Kubeflow brings its own).
        max_examples: when positive, at most this many examples per split.
        beam_pipeline_args: Beam options of the Beam-based components (runner, workers).
        enable_cache: reuse the outputs of components whose inputs did not change.
    """
    # Collect (6.1.2): the dataset as tf.Examples, split into train / eval / test.
    example_gen = DatasetExampleGen(
        source=sources.to_json(task.source),
        data_dir=data_dir,
        input_fingerprint=sources.input_fingerprint(task.source, data_dir),
        max_examples=max_examples,
    ).with_id("ExampleGen")

    # Understand the data (6.1.3): feature statistics per split.
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])

    # The schema is learnt from train only, so that eval and test are checked against it.
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"],
        infer_feature_shape=True,
        exclude_splits=list(VALIDATED_SPLITS),
    )

    # Add the ranges the task spec knows (pixels, word indices, labels) to the inferred schema.
    curate_schema = CurateSchema(
        schema=schema_gen.outputs["schema"],
        int_domains=json.dumps(task.int_domains(), sort_keys=True),
    )

    # Validate eval and test against the train schema (missing features, types, domains).
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=curate_schema.outputs["curated_schema"],
        exclude_splits=[TRAIN_SPLIT],
    )

    # Stop here when the data does not match: ExampleValidator alone blocks nothing.
    data_gate = DataGate(anomalies=example_validator.outputs["anomalies"])

    return tfx.dsl.Pipeline(
        pipeline_name="dlwp-" + re.sub(r"[^A-Za-z0-9-]", "-", task.name),
        pipeline_root=pipeline_root,
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            curate_schema,
            example_validator,
            data_gate,
        ],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )
