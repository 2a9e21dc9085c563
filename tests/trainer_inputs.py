"""What TFX hands the Trainer's `run_fn`, built for a tiny task: gzipped TFRecords in
ExampleGen's layout, a Transform graph made by the real `preprocessing_fn`, and the `fn_args`.

The task is binary over two numeric columns, `a` and `b`, labelled `a + b > 0`.

    inputs = write_trainer_inputs(folder, train_rows=96, eval_rows=32)
    run_fn(trainer_fn_args(inputs, trainer_settings(max_epochs=3), execution=1))
"""

from __future__ import annotations

import dataclasses
import os
import types
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx_bsl.public import tfxio

from components.example_writer import write_splits
from components.preprocessing import preprocessing_fn, transform_config
from components.trainer import TrainerConfig
from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract

TASK = TaskContract(
    (Feature("a", FeatureKind.NUMERIC), Feature("b", FeatureKind.NUMERIC)),
    "label",
    ProblemType.BINARY,
    "auc",
    num_classes=2,
)
RAW_SPEC = {
    "a": tf.io.VarLenFeature(tf.float32),
    "b": tf.io.VarLenFeature(tf.float32),
    "label": tf.io.FixedLenFeature([], tf.int64),
}


@dataclasses.dataclass(frozen=True)
class TrainerInputs:
    """Where the examples and the Transform graph are, and the pipeline root beside them."""

    pipeline_root: str
    train_files: list[str]
    eval_files: list[str]
    transform_dir: str


def split_columns(rows: int, seed: int) -> dict[str, np.ndarray]:
    """`rows` rows of the task, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, rows)).astype(np.float32)
    return {"a": a, "b": b, "label": (a + b > 0).astype(np.int64)}


def trainer_inputs_in(folder: str) -> TrainerInputs:
    """Where `write_trainer_inputs(folder)` writes."""
    examples = os.path.join(folder, "ExampleGen", "examples", "1")
    return TrainerInputs(
        pipeline_root=folder,
        train_files=[os.path.join(examples, "Split-train", "*")],
        eval_files=[os.path.join(examples, "Split-eval", "*")],
        transform_dir=os.path.join(folder, "Transform", "transform_graph", "2"),
    )


def write_trainer_inputs(folder: str, train_rows: int = 96, eval_rows: int = 32) -> TrainerInputs:
    """The examples under `<folder>/ExampleGen/examples/1`, the graph under `.../Transform`."""
    inputs = trainer_inputs_in(folder)
    examples = os.path.dirname(os.path.dirname(inputs.train_files[0]))
    splits = {"train": split_columns(train_rows, 0), "eval": split_columns(eval_rows, 1)}
    write_splits(splits, examples)
    transform_dir = inputs.transform_dir
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    train = [
        {"a": [float(a)], "b": [float(b)], "label": int(label)}
        for a, b, label in zip(*splits["train"].values(), strict=True)
    ]
    config = transform_config(TASK)
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=os.path.join(folder, "tmp")):
        transform_fn = (pipeline | beam.Create(train), metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, config)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
    metadata_io.write_metadata(
        metadata, os.path.join(transform_dir, tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    return inputs


def trainer_settings(**knobs: Any) -> dict[str, Any]:
    """The Trainer's custom_config for the task: hold-out, a Dense(8) model, batch 16, a
    budget of `max_epochs` (default 3) that does not grow; `knobs` override."""
    fields = {
        "protocol": "holdout",
        "hidden_units": (8,),
        "optimizer": "rmsprop",
        "batch_size": 16,
        "max_epochs": 3,
        "grow_budget": False,
        **knobs,
    }
    return TrainerConfig(task=TASK, **fields).to_custom_config()


def _dataset_factory(files, options, schema):
    return tfxio.TFExampleRecord(file_pattern=files, schema=schema).TensorFlowDataset(options)


def trainer_fn_args(inputs: TrainerInputs, custom_config: dict, execution: int) -> Any:
    """TFX's `fn_args` for one Trainer execution (its outputs under `<root>/Trainer/*/<n>`)."""
    trainer = os.path.join(inputs.pipeline_root, "Trainer")
    return types.SimpleNamespace(
        data_accessor=types.SimpleNamespace(tf_dataset_factory=_dataset_factory),
        train_files=inputs.train_files,
        eval_files=inputs.eval_files,
        transform_output=inputs.transform_dir,
        transform_graph_path=inputs.transform_dir,
        custom_config=custom_config,
        hyperparameters=None,
        model_run_dir=os.path.join(trainer, "model_run", str(execution)),
        serving_model_dir=os.path.join(trainer, "model", str(execution), "Format-Serving"),
    )
