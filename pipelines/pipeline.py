"""The one pipeline factory: the book's universal workflow as a TFX pipeline, for any task spec."""

import re
from collections.abc import Sequence

from tfx.components.evaluator.component import Evaluator
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.schema_gen.component import SchemaGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.trainer.component import Trainer
from tfx.components.transform.component import Transform
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import trainer_pb2, transform_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from components import sources
from components.baseline import Baseline
from components.blessing import BlessingGate
from components.data_gate import DataGate
from components.drift_reference_gen import DriftReferenceGen
from components.evaluation import BLESSING_MARGIN, REGRESSION_TOLERANCE, eval_config
from components.example_gen import DatasetExampleGen
from components.exporting.exporter import ExportSettings, InferenceExporter
from components.preprocessing import transform_config
from components.pusher import AtomicPusher
from components.reporting.component import ModelReportGen
from components.schema_curation import CurateSchema
from components.simple_models import SimpleModels
from components.trainer import TrainerConfig
from pipelines.settings import ReportOptions, TrainingOptions
from pipelines.tasks import TaskSpec
from pipelines.trainer_pools import TrainerLaunch

TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
TEST_SPLIT = "test"
VALIDATED_SPLITS = (EVAL_SPLIT, TEST_SPLIT)


def trainer_config(task: TaskSpec, options: TrainingOptions) -> dict:
    """The Trainer's custom_config (`components.trainer.TrainerConfig`)."""
    return TrainerConfig(
        task=task.contract(),
        protocol=task.protocol,
        hidden_units=task.training.hidden_units,
        optimizer=task.training.optimizer,
        batch_size=task.training.batch_size,
        max_epochs=options.max_epochs or task.training.max_epochs,
        seed=options.seed,
        kfold_repeats=options.kfold_repeats,
        # `--epochs N` is "at most N epochs"; the task's own budget grows while validation
        # improves (book 6.2.4).
        grow_budget=not options.max_epochs,
        tpu=options.tpu,
        mixed_precision=options.mixed_precision,
        tune_trials=options.tune_trials,
        prune_sparsity=options.prune_sparsity,
        threshold_rule=options.threshold_rule,
    ).to_custom_config()


def create_pipeline(
    task: TaskSpec,
    pipeline_root: str,
    data_dir: str,
    serving_dir: str,
    exports_dir: str,
    reports_dir: str,
    metadata_connection_config=None,
    max_examples: int = 0,
    training: TrainingOptions = TrainingOptions(),
    beam_pipeline_args: Sequence[str] = (),
    enable_cache: bool = True,
    extra_data_dir: str = "",
    schema_file: str = "",
    report: ReportOptions = ReportOptions(),
    trainer_launch: TrainerLaunch | None = None,
) -> Pipeline:
    """Builds the pipeline of `task`.

    Args:
        task: what differs between datasets.
        pipeline_root: where TFX writes artifacts (`gs://` on a cluster).
        data_dir: the folder of keras's dataset files.
        serving_dir: where blessed models are pushed as numbered versions.
        exports_dir: where each pushed version's TFLite and TF.js files are published.
        reports_dir: where each pushed version's report goes (`<reports_dir>/<version>/`).
        metadata_connection_config: ML Metadata connection; None lets the runner choose
            (Kubeflow brings its own).
        max_examples: when positive, at most this many examples per split.
        training: epochs, accelerator and seed.
        beam_pipeline_args: Beam options of the Beam-based components (runner, workers).
        enable_cache: reuse the outputs of components whose inputs did not change.
        extra_data_dir: a folder of labelled feedback (tf.Examples) appended to train only.
        schema_file: a curated schema (`schema.pbtxt`, text format) to use instead of the one
            SchemaGen infers from train.
        report: what the report is told of the model's use (cases a day).
        trainer_launch: the Trainer's workers on a cluster (`pipelines.trainer_pools`); None:
            it trains in its own process.
    """
    # What the steps need of the task, in the one form they all take (contract/task.py).
    task_json = task.contract().to_json()

    # Collect (6.1.2): the dataset as tf.Examples, split into train / eval / test; labelled
    # production data (6.3.4, maintain the model), when given, joins train.
    example_gen = DatasetExampleGen(
        source=sources.to_json(task.source),
        data_dir=data_dir,
        input_fingerprint=sources.input_fingerprint(task.source, data_dir, extra_data_dir),
        max_examples=max_examples,
        extra_data_dir=extra_data_dir,
    ).with_id("ExampleGen")

    # Understand the data (6.1.3): feature statistics per split.
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])

    # The schema is learnt from train only, so that eval and test are checked against it; or
    # it is the user's curated copy (TFX's ImportSchemaGen), when the inferred one is too strict.
    schema_gen: SchemaGen | ImportSchemaGen
    if schema_file:
        schema_gen = ImportSchemaGen(schema_file=schema_file)
    else:
        schema_gen = SchemaGen(
            statistics=statistics_gen.outputs["statistics"],
            infer_feature_shape=True,
            exclude_splits=list(VALIDATED_SPLITS),
        )

    # Add what the task spec knows to the schema: its declared ranges (pixels, word indices,
    # labels); numeric columns are never bools, dates have no value list, cells may be missing.
    curate_schema = CurateSchema(schema=schema_gen.outputs["schema"], task=task_json)
    schema = curate_schema.outputs["curated_schema"]

    # Validate eval and test against the train schema (missing features, types, domains).
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema,
        exclude_splits=[TRAIN_SPLIT],
    )

    # Stop here on what would break the model or the contract (ExampleValidator alone blocks
    # nothing); what was only inferred from train is a warning, with its count.
    data_gate = DataGate(
        anomalies=example_validator.outputs["anomalies"],
        statistics=statistics_gen.outputs["statistics"],
        schema=schema,
        task=task_json,
    )

    # Prepare the data (6.2.1) with statistics of train only; the graph is applied on the fly
    # by the Trainer and inside the SavedModel (no materialized copy of multi-hot vectors).
    # StatisticsGen and DataGate already looked at the raw data, and nothing reads Transform's
    # own statistics or its analyzer cache: without them an image or word task, which has no
    # analyzer, is transformed in place without a Beam pipeline.
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema,
        preprocessing_fn="components.preprocessing.preprocessing_fn",
        custom_config=transform_config(task.contract()),
        materialize=False,
        splits_config=transform_pb2.SplitsConfig(analyze=[TRAIN_SPLIT]),
        disable_statistics=True,
        disable_analyzer_cache=True,
    )
    transform.add_upstream_node(data_gate)

    # Regularize and tune (6.2.5), when asked: a search over units, dropout, L2, learning rate.
    tuner = None
    if training.tune_trials:
        from tfx.components.tuner.component import Tuner  # only a tuned run loads KerasTuner

        tuner = Tuner(
            tuner_fn="components.tuning.tuner_fn",
            examples=example_gen.outputs["examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema,
            train_args=trainer_pb2.TrainArgs(splits=[TRAIN_SPLIT]),
            eval_args=trainer_pb2.EvalArgs(splits=[EVAL_SPLIT]),
            custom_config=trainer_config(task, training),
        )

    # Choose a protocol (6.2.2), scale up until it overfits (6.2.4): the book's model, hold-out
    # or K-fold, early stopping on the validation loss, curves kept for the report.
    # On N workers, TFX's Trainer executor runs on each of them (pipelines/trainer_pools.py).
    launch = (
        {"custom_executor_spec": executor_spec.ExecutorClassSpec(trainer_launch.executor_class)}
        if trainer_launch
        else {}
    )
    trainer = Trainer(
        run_fn="components.trainer.run_fn",
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        train_args=trainer_pb2.TrainArgs(splits=[TRAIN_SPLIT]),
        eval_args=trainer_pb2.EvalArgs(splits=[EVAL_SPLIT]),
        custom_config={
            **trainer_config(task, training),
            **(trainer_launch.custom_config if trainer_launch else {}),
        },
        **launch,
    )

    # Beat a baseline (6.2.3): the common-sense baseline, from train, scored on test.
    baseline = Baseline(
        examples=example_gen.outputs["examples"],
        label=task.label,
        problem_type=task.problem_type,
        metric=task.metric,
    )

    # Beat simple models too (6.2.3): on a table, a linear model and gradient-boosted trees fit
    # on train + eval and scored on test, so the summary says when the deep model loses.
    simple_models = SimpleModels(examples=example_gen.outputs["examples"], task=task_json)

    # The last model this pipeline blessed, to check the new one does not regress.
    last_blessed_model = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model, producer_component_id="Trainer"),
        model_blessing=Channel(
            type=standard_artifacts.ModelBlessing, producer_component_id="BlessingGate"
        ),
    ).with_id("LastBlessedModel")

    # Measure success (6.1.4) on the test split with TFMA, overall and per class.
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=last_blessed_model.outputs["model"],
        eval_config=eval_config(task.metric, task.label, task.problem_type),
        example_splits=[TEST_SPLIT],
    )

    # Bless only a model that beats the baseline and does not regress; a verdict always exists.
    blessing_gate = BlessingGate(
        model=trainer.outputs["model"],
        evaluation=evaluator.outputs["evaluation"],
        baseline=baseline.outputs["baseline"],
        data_gate=data_gate.outputs["result"],
        metric=task.metric,
        margin=BLESSING_MARGIN[task.metric],
        tolerance=REGRESSION_TOLERANCE[task.metric],
    )

    # Monitor (6.3.3): what production traffic will be compared with, from the train split
    # and the model's held-out predictions.
    drift_reference = DriftReferenceGen(
        examples=example_gen.outputs["examples"],
        schema=schema,
        model_run=trainer.outputs["model_run"],
        task=task_json,
    ).with_id("DriftReferenceGen")

    # Ship (6.3.2): publish the blessed SavedModel as the next TF Serving version, atomically,
    # with its monitoring reference.
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=blessing_gate.outputs["blessing"],
        model_run=trainer.outputs["model_run"],
        statistics=statistics_gen.outputs["statistics"],
        schema=schema,
        drift_reference=drift_reference.outputs["drift_reference"],
        serving_dir=serving_dir,
        task=task_json,
    ).with_id("Pusher")

    # Ship to devices and browsers (6.3.2): TFLite and TF.js, published only within tolerance.
    exporter = InferenceExporter(
        model=trainer.outputs["model"],
        pushed_model=pusher.outputs["pushed_model"],
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        exports_dir=exports_dir,
        model_name=task.name,
        task=task_json,
        settings=ExportSettings().to_json(),
    ).with_id("Exporter")

    # Explain your work and set expectations (6.3.1): a page per pushed version for the people
    # who will use the model, with its error rates in counts a day and its failure modes.
    model_report = ModelReportGen(
        examples=example_gen.outputs["examples"],
        model_run=trainer.outputs["model_run"],
        pushed_model=pusher.outputs["pushed_model"],
        evaluation=evaluator.outputs["evaluation"],
        baseline=baseline.outputs["baseline"],
        simple_models=simple_models.outputs["simple_models"],
        data_gate=data_gate.outputs["result"],
        statistics=statistics_gen.outputs["statistics"],
        exports=exporter.outputs["exports"],
        reports_dir=reports_dir,
        model_name=task.name,
        task=task_json,
        data_dir=data_dir,
        cases_per_day=report.cases_per_day,
    ).with_id("ModelReportGen")

    return Pipeline(
        pipeline_name="dlwp-" + re.sub(r"[^A-Za-z0-9-]", "-", task.name),
        pipeline_root=pipeline_root,
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            curate_schema,
            example_validator,
            data_gate,
            transform,
            *([tuner] if tuner else []),
            trainer,
            baseline,
            simple_models,
            last_blessed_model,
            evaluator,
            blessing_gate,
            drift_reference,
            pusher,
            exporter,
            model_report,
        ],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )
