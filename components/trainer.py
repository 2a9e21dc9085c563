"""The Trainer's `run_fn`: the book's models, its evaluation protocols, its training curves.

The protocols are `components.protocols` (hold-out, or iterated K-fold for small data), over
every non-test row: train + eval. Training runs until validation stops improving
(`components.convergence`), and a model that cannot overfit is scaled once
(`components.capacity`, book 6.2.4). The final model is fit from scratch on train + eval.

The Keras metric of success is named as in `components.models.metric_for` (accuracy, auc, mae).

The examples are held in memory when they fit `components.training_data`'s budget, else
streamed. Each fit reports a line per epoch, writes TensorBoard's events and is backed up
(`components.training_phases`): a rerun after a kill resumes it.

Writes, in the model run: `history.json`, `loss.png` and `<metric>.png` (figures 4.4/4.5),
`training.json` (protocol, epochs, eval score and fold scores, convergence, capacity, strategy
and devices, the seconds of each epoch by fit, the fits resumed, how the examples were held),
`eval_predictions.json` (held-out outputs, never of rows the model that made them was fit on:
the monitoring reference), `threshold.json` (binary tasks: the launch threshold, chosen on those
held-out outputs by `components.launch_threshold`, never on test, and baked into the
SavedModel's `class_ids`) and `tensorboard/<fit>/` (TensorBoard's `train/`, `validation/`).
"""

import dataclasses
import os
import time
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.keras_lib import tf_keras as keras

from components import history as training_history
from components import protocols
from components.autograph_rules import leave_libraries_unconverted
from components.convergence import Budget
from components.distribution import Distribution, choose_distribution
from components.errors import BadDataError
from components.launch_threshold import (
    CHOSEN_ON_EVAL,
    THRESHOLD,
    THRESHOLD_FILE,
    ThresholdRule,
    choose_threshold,
    rates_at,
)
from components.models import ModelConfig, build_model, metric_for
from components.preprocessing import vocabulary_name
from components.pruning import kernel_sparsity, pruning_callbacks, strip_pruning
from components.signatures import make_signatures
from components.step_progress import report as report_line
from components.training_backup import BACKUP_INTERVAL_S, backup_folder
from components.training_data import (
    MEMORY_BUDGET_BYTES,
    Pool,
    in_memory_pool,
    transformed_arrays,
    transformed_dataset,
)
from components.training_phases import Phases
from contract.features import FeatureKind, ProblemType
from contract.signatures import DECISION_THRESHOLD
from contract.task import TaskContract
from contract.version_assets import EVAL_PREDICTIONS_FILE
from contract.versions import write_json

TRAINING_FILE = "training.json"
# Beside the serving SavedModel: the Keras model alone (transformed features in), for exports
# whose runtime cannot run the Transform graph.
KERAS_MODEL_DIR = "Format-Keras"
# Under the model run: TensorBoard's event files, a folder per fit (`search/`, `final/`, ...).
TENSORBOARD_DIR = "tensorboard"
# How long a worker other than the chief waits for the chief's SavedModel after its own save.
CHIEF_SAVE_TIMEOUT_S = 600.0
# The custom_config entries of TFX's Vertex Trainer extension (ai_platform_training_args, ...).
LAUNCHER_KEY_PREFIX = "ai_platform_"


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """The Trainer's `custom_config`, as the pipeline factory writes it: the task contract
    (the same JSON every component gets) and the training knobs."""

    task: TaskContract
    protocol: str
    hidden_units: tuple[int, ...]
    optimizer: str
    batch_size: int
    max_epochs: int
    seed: int = 0
    kfold_repeats: int = 1
    grow_budget: bool = True  # False when `--epochs` fixed the budget
    tpu: str = ""
    mixed_precision: bool = False
    tune_trials: int = 0
    prune_sparsity: float = 0.0
    threshold_rule: ThresholdRule = ThresholdRule()  # how a binary task's threshold is chosen

    @classmethod
    def from_custom_config(cls, config: dict[str, Any]) -> "TrainerConfig":
        # TFX's Vertex Trainer extension passes its own entries on to every worker.
        fields = {k: v for k, v in config.items() if not k.startswith(LAUNCHER_KEY_PREFIX)}
        fields["task"] = TaskContract.from_json(fields["task"])
        fields["hidden_units"] = tuple(fields["hidden_units"])
        if "threshold_rule" in fields:
            fields["threshold_rule"] = ThresholdRule.from_json(fields["threshold_rule"])
        return cls(**fields)

    def to_custom_config(self) -> dict[str, Any]:
        """The `custom_config` dict (JSON values) that `from_custom_config` reads."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {
            **fields,
            "task": self.task.to_json(),
            "hidden_units": list(self.hidden_units),
            "threshold_rule": self.threshold_rule.to_json(),
        }


def keras_model_path(model_uri: str) -> str:
    """Where the Trainer saves the Keras model alone, in a Model artifact."""
    return os.path.join(model_uri, KERAS_MODEL_DIR)


def model_config(config: TrainerConfig, tft_output, hyperparameters: dict) -> ModelConfig:
    """The model of the task, with tuned hyperparameters where `--tune` found them."""
    task = config.task
    depths = tuple(
        (f.name, tft_output.vocabulary_size_by_name(vocabulary_name(f.name)) + 2)
        for f in task.features
        if f.kind is FeatureKind.CATEGORICAL
    )
    units = hyperparameters.get("units")
    return ModelConfig(
        features=tuple((f.name, f.kind) for f in task.features),
        problem_type=task.problem_type,
        num_classes=task.num_classes,
        hidden_units=tuple(units for _ in config.hidden_units) if units else config.hidden_units,
        optimizer=config.optimizer,
        learning_rate=hyperparameters.get("learning_rate"),
        dropout=hyperparameters.get("dropout", 0.0),
        l2=hyperparameters.get("l2", 0.0),
        categorical_depths=depths,
        prune_sparsity=config.prune_sparsity,
    )


def _phases(fn_args: Any, metric: str, distribution: Distribution) -> Phases:
    """Epoch lines, TensorBoard's events under the model run (TFX's Trainer convention, book
    7.3.4: `tensorboard --logdir <model_run>`) and backups that a rerun resumes (book 7.3.2).

    On a cluster every worker reports (each pod's log shows its progress) and backs up every
    epoch: a backup saves the model, which may run collective ops, so the workers must save at
    the same epochs, not when each one's clock says. Keras's TensorBoard callback gives the
    other workers temporary folders itself; their backups go to `output_path`'s, and they resume
    from the chief's.
    """
    several = distribution.task.workers > 1
    backups = backup_folder(fn_args)
    return Phases(
        metric=metric,
        report=True,
        tensorboard_dir=os.path.join(fn_args.model_run_dir, TENSORBOARD_DIR),
        backup_dir=distribution.output_path(backups),
        backup_read_dir=backups,
        backup_interval_s=0.0 if several else BACKUP_INTERVAL_S,
    )


def launch_threshold(rule: ThresholdRule, labels: Any, scores: Any) -> dict[str, Any]:
    """threshold.json: the threshold of `rule` on the held-out eval `labels` and `scores` (of
    class 1), and the eval rates at it (None for a fixed threshold on eval rows of one class,
    where the rates are undefined).

    Raises:
        ValueError: a target rule cannot be met on these examples (components.launch_threshold).
    """
    live = choose_threshold(labels, scores, rule)
    try:
        rates = rates_at(labels, scores, live)
    except ValueError:
        if rule.kind != THRESHOLD:
            raise
        rates = None  # a fixed threshold needs no rates: tiny eval splits still train
    return {
        "rule": rule.to_json(),
        "live": live,
        "chosen_on": CHOSEN_ON_EVAL,
        "eval_examples": int(np.asarray(labels).size),
        "eval": rates,
    }


def _threshold_line(threshold: dict[str, Any]) -> str:
    """`launch threshold 0.37 (target FPR 0.05 on 113 eval examples: FPR 0.049, recall 0.92)`."""
    rates = threshold["eval"]
    measured = (
        f": FPR {rates['fpr']:.3f}, recall {rates['recall']:.3f}"
        if rates
        else ", which hold one class only"
    )
    return (
        f"launch threshold {threshold['live']:.4g} "
        f"({ThresholdRule.from_json(threshold['rule']).describe()} on "
        f"{threshold['eval_examples']} eval examples{measured})"
    )


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (`run_fn='components.trainer.run_fn'`).

    On a training cluster (`TF_CONFIG`) every worker runs it: they train in step, only the
    chief's outputs are kept, and a worker lost mid-run fails each of them with a
    `components.distribution.LostWorkerError` naming it.
    """
    leave_libraries_unconverted()
    config = TrainerConfig.from_custom_config(fn_args.custom_config)
    keras.utils.set_random_seed(config.seed)
    distribution = choose_distribution(config.tpu, config.mixed_precision)
    with distribution.naming_lost_workers():
        _train_and_save(fn_args, config, distribution)
    if not distribution.is_chief:
        wait_for_chief_model(fn_args.serving_model_dir, distribution)


def _train_and_save(fn_args: Any, config: TrainerConfig, distribution: Distribution) -> None:
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    hyperparameters = (fn_args.hyperparameters or {}).get("values", fn_args.hyperparameters or {})
    model_settings = model_config(config, tft_output, hyperparameters)
    batch_size = distribution.global_batch_size(config.batch_size)
    metric, _ = metric_for(config.task.problem_type)
    label = config.task.label
    phases = _phases(fn_args, metric, distribution)

    def dataset(files, shuffle):
        return transformed_dataset(fn_args, files, tft_output, config, batch_size, shuffle)

    def build(hidden_units: tuple[int, ...]):
        with distribution.strategy.scope():
            return build_model(dataclasses.replace(model_settings, hidden_units=hidden_units))

    budget = Budget(config.max_epochs, grow=config.grow_budget)
    callbacks = pruning_callbacks(config.prune_sparsity)
    # The pool of the protocols: every non-test row.
    pool_files = fn_args.train_files + fn_args.eval_files
    inputs: dict[str, Any]  # how the examples were held, for training.json
    if config.protocol == protocols.KFOLD:
        features, labels = transformed_arrays(fn_args, pool_files, tft_output, label)
        inputs = {"in_memory": True, "size_bytes": Pool(features, labels, len(labels)).size_bytes}
        result = protocols.k_fold(
            build,
            model_settings.hidden_units,
            features,
            labels,
            metric=metric,
            budget=budget,
            batch_size=batch_size,
            stratify=config.task.problem_type is not ProblemType.REGRESSION,
            repeats=config.kfold_repeats,
            seed=config.seed,
            callbacks=callbacks,
            phases=phases,
        )
    else:
        pool = in_memory_pool(fn_args, tft_output, label)
        if pool is not None:
            data: dict[str, Any] = {"train": pool.train, "validation": pool.eval, "pool": pool.all}
            inputs = {"in_memory": True, "size_bytes": pool.size_bytes}
            report_line(f"examples in memory: {pool.labels.size} rows, {_mib(pool.size_bytes)}")
        else:
            data = {
                "train": dataset(fn_args.train_files, True),
                "validation": dataset(fn_args.eval_files, False),
                "pool": dataset(pool_files, True),
            }
            inputs = {"in_memory": False, "size_bytes": None}
            report_line(f"examples streamed: over the {_mib(MEMORY_BUDGET_BYTES)} memory budget")
        result = protocols.hold_out(
            build,
            model_settings.hidden_units,
            **data,
            metric=metric,
            budget=budget,
            callbacks=callbacks,
            batch_size=batch_size if pool is not None else None,
            phases=phases,
        )
    model = result.model
    model_settings = dataclasses.replace(
        model_settings, hidden_units=tuple(result.capacity["kept"])
    )
    pruning = None
    if config.prune_sparsity:
        model = strip_pruning(model)
        pruning = {"target": config.prune_sparsity, "sparsity": kernel_sparsity(model)}

    # Only the chief's outputs are kept; the other workers save in step with it, to temporary
    # folders (components.distribution).
    report = distribution.output_path(fn_args.model_run_dir)
    serving_model_dir = distribution.output_path(fn_args.serving_model_dir)
    tf.io.gfile.makedirs(report)
    history = result.history
    curves = {
        k: v for k, v in history.items() if k in ("loss", "val_loss", metric, f"val_{metric}")
    }
    training_history.write_history(history, report)
    training_history.plot_history(curves, metric, report)
    write_json(
        os.path.join(report, TRAINING_FILE),
        {
            "protocol": config.protocol,
            "epochs": result.epochs,
            "metric": metric,
            "eval": float(result.eval_score),
            "folds": result.folds,
            "fold_mean": result.fold_mean,
            "fold_std": result.fold_std,
            "kfold_repeats": config.kfold_repeats if result.folds else None,
            "convergence": result.convergence,
            "capacity": result.capacity,
            "hyperparameters": dataclasses.asdict(model_settings),
            "distribution": {**distribution.describe(), "global_batch_size": batch_size},
            "pruning": pruning,
            "epoch_s": phases.epoch_s,
            "resumed_after": phases.resumed_after,
            "input": inputs,
        },
        indent=1,
        default=float,
    )
    write_json(
        os.path.join(report, EVAL_PREDICTIONS_FILE),
        np.asarray(result.eval_predictions).tolist(),
        indent=1,
        default=float,
    )

    live = DECISION_THRESHOLD
    if config.task.problem_type is ProblemType.BINARY:
        try:
            threshold = launch_threshold(
                config.threshold_rule, result.eval_labels, result.eval_predictions
            )
        except ValueError as error:
            raise BadDataError(f"the launch threshold: {error}") from error
        write_json(os.path.join(report, THRESHOLD_FILE), threshold, indent=1)
        report_line(_threshold_line(threshold))
        live = threshold["live"]

    # The Keras model alone first: make_signatures attaches the Transform layer to it.
    model_uri = os.path.dirname(fn_args.serving_model_dir)
    model.save(distribution.output_path(keras_model_path(model_uri)), include_optimizer=False)
    signatures = make_signatures(model, tft_output, config.task, live)
    tf.saved_model.save(model, serving_model_dir, signatures=signatures)
    phases.drop_backups()
    distribution.drop_worker_outputs(
        fn_args.model_run_dir, fn_args.serving_model_dir, backup_folder(fn_args)
    )


def wait_for_chief_model(
    serving_model_dir: str, distribution: Distribution, timeout_s: float = CHIEF_SAVE_TIMEOUT_S
) -> None:
    """Returns once the chief's SavedModel is in `serving_model_dir`.

    TFX's Trainer executor fails a worker whose `run_fn` returns before that folder exists, and
    every worker of a cluster runs it; the chief saves the same model at the same time.

    Raises:
        RuntimeError: the chief has not saved it within `timeout_s`.
    """
    saved_model = os.path.join(serving_model_dir, "saved_model.pb")
    deadline = time.monotonic() + timeout_s
    while not tf.io.gfile.exists(saved_model):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{distribution.task.name} trained, but the chief saved no model in "
                f"{serving_model_dir} within {timeout_s:.0f} s: see the chief's log"
            )
        time.sleep(1.0)


def _mib(size_bytes: int) -> str:
    return f"{size_bytes / 2**20:.1f} MiB"
