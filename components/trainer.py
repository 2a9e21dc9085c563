"""The Trainer's `run_fn`: the book's models, its evaluation protocols, its training curves.

The protocols are `components.protocols` (hold-out, or iterated K-fold for small data), over
every non-test row: train + eval. Training runs until validation stops improving
(`components.convergence`), and a model that cannot overfit is scaled once
(`components.capacity`, book 6.2.4). The final model is fit from scratch on train + eval.

The Keras metric of success is named as in `components.models.metric_for` (accuracy, auc, mae).

Writes, beside the model run: `history.json`, `loss.png` and `<metric>.png` (figures 4.4/4.5),
`training.json` (protocol, epochs, eval score and fold scores, convergence, capacity, strategy
and devices) and `eval_predictions.json` (held-out outputs, never of rows the model that made
them was fit on: the monitoring reference).
"""

import dataclasses
import os
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.keras_lib import tf_keras as keras
from tfx_bsl.public import tfxio

from components import history as training_history
from components import protocols
from components.convergence import Budget
from components.distribution import choose_distribution
from components.models import ModelConfig, build_model, metric_for
from components.preprocessing import vocabulary_name
from components.pruning import kernel_sparsity, pruning_callbacks, strip_pruning
from components.signatures import make_signatures
from contract.features import FeatureKind, ProblemType
from contract.task import TaskContract
from contract.version_assets import EVAL_PREDICTIONS_FILE
from contract.versions import write_json

PARSE_BATCH = 1024
SHUFFLE_BUFFER = 60_000
TRAINING_FILE = "training.json"
# Beside the serving SavedModel: the Keras model alone (transformed features in), for exports
# whose runtime cannot run the Transform graph.
KERAS_MODEL_DIR = "Format-Keras"


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

    @classmethod
    def from_custom_config(cls, config: dict[str, Any]) -> "TrainerConfig":
        fields = dict(config)
        fields["task"] = TaskContract.from_json(fields["task"])
        fields["hidden_units"] = tuple(fields["hidden_units"])
        return cls(**fields)

    def to_custom_config(self) -> dict[str, Any]:
        """The `custom_config` dict (JSON values) that `from_custom_config` reads."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**fields, "task": self.task.to_json(), "hidden_units": list(self.hidden_units)}


def transformed_dataset(fn_args, files, tft_output, config, batch_size: int, shuffle: bool):
    """Raw examples, transformed by the Transform graph, as (features, label) batches.

    Parsed raw examples are cached in memory after the first epoch (parsing is the cost; the
    Transform graph is cheap) and reshuffled every epoch.
    """
    options = tfxio.TensorFlowDatasetOptions(batch_size=PARSE_BATCH, shuffle=False, num_epochs=1)
    raw = fn_args.data_accessor.tf_dataset_factory(files, options, tft_output.raw_metadata.schema)
    raw = raw.unbatch().cache()
    if shuffle:
        raw = raw.shuffle(SHUFFLE_BUFFER, seed=config.seed, reshuffle_each_iteration=True)
    tft_layer = tft_output.transform_features_layer()

    def transform(features):
        transformed = tft_layer(features)
        return transformed, transformed.pop(config.task.label)

    return (
        raw.batch(batch_size)
        .map(transform, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def _in_memory(dataset) -> tuple[dict[str, np.ndarray], np.ndarray]:
    batches = list(dataset.as_numpy_iterator())
    features = {name: np.concatenate([b[0][name] for b in batches]) for name in batches[0][0]}
    return features, np.concatenate([b[1] for b in batches])


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


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (`run_fn='components.trainer.run_fn'`)."""
    config = TrainerConfig.from_custom_config(fn_args.custom_config)
    keras.utils.set_random_seed(config.seed)
    distribution = choose_distribution(config.tpu, config.mixed_precision)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    hyperparameters = (fn_args.hyperparameters or {}).get("values", fn_args.hyperparameters or {})
    model_settings = model_config(config, tft_output, hyperparameters)
    batch_size = distribution.global_batch_size(config.batch_size)
    metric, _ = metric_for(config.task.problem_type)

    def dataset(files, shuffle):
        return transformed_dataset(fn_args, files, tft_output, config, batch_size, shuffle)

    def build(hidden_units: tuple[int, ...]):
        with distribution.strategy.scope():
            return build_model(dataclasses.replace(model_settings, hidden_units=hidden_units))

    budget = Budget(config.max_epochs, grow=config.grow_budget)
    callbacks = pruning_callbacks(config.prune_sparsity)
    # The pool of the protocols: every non-test row.
    pool_files = fn_args.train_files + fn_args.eval_files
    if config.protocol == protocols.KFOLD:
        features, labels = _in_memory(dataset(pool_files, False))
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
        )
    else:
        result = protocols.hold_out(
            build,
            model_settings.hidden_units,
            dataset(fn_args.train_files, True),
            dataset(fn_args.eval_files, False),
            dataset(pool_files, True),
            metric=metric,
            budget=budget,
            callbacks=callbacks,
        )
    model = result.model
    model_settings = dataclasses.replace(
        model_settings, hidden_units=tuple(result.capacity["kept"])
    )
    pruning = None
    if config.prune_sparsity:
        model = strip_pruning(model)
        pruning = {"target": config.prune_sparsity, "sparsity": kernel_sparsity(model)}

    report = fn_args.model_run_dir
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

    # The Keras model alone first: make_signatures attaches the Transform layer to it.
    model_uri = os.path.dirname(fn_args.serving_model_dir)
    model.save(keras_model_path(model_uri), include_optimizer=False)
    signatures = make_signatures(model, tft_output, config.task)
    tf.saved_model.save(model, fn_args.serving_model_dir, signatures=signatures)
