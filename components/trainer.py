"""The Trainer's `run_fn`: the book's models, its evaluation protocols, its training curves.

- hold-out (book 6.2.2): fit on train, validate on eval; `EarlyStopping` on the validation
  metric of success (patience 5) finds the epoch count the book found by eye; the final model
  is then fit from scratch on train + eval for that many epochs (book 4.1.4).
- K-fold (listings 4.26-4.31), for small data: k models, each validated on one fold with early
  stopping; the fold scores are reported, and the final model is fit on all training data for
  the mean best epoch count.

The Keras metric of success is named as in `components.models.metric_for` (accuracy, auc, mae).

Writes, beside the model run: `history.json`, `loss.png` and `<metric>.png` (figures 4.4/4.5),
`training.json` (protocol, epochs, fold scores, eval metric, strategy and devices) and
`eval_predictions.json` (the eval split's predictions: the monitoring reference).
"""

import dataclasses
import logging
import os
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.keras_lib import tf_keras as keras
from tfx_bsl.public import tfxio

from components import history as training_history
from components.distribution import choose_distribution
from components.models import ModelConfig, build_model, metric_for
from components.preprocessing import vocabulary_name
from components.pruning import kernel_sparsity, pruning_callbacks, strip_pruning
from components.signatures import make_signatures
from contract.features import FeatureKind
from contract.task import TaskContract
from contract.version_assets import EVAL_PREDICTIONS_FILE
from contract.versions import write_json

K_FOLDS = 4
PATIENCE = 5
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


def _best_epoch(history: dict[str, list[float]], metric: str) -> int:
    """0-based epoch with the best validation score of the metric of success."""
    scores = history[f"val_{metric}"]
    return int(np.argmin(scores) if metric == "mae" else np.argmax(scores))


def _early_stopping(metric: str) -> keras.callbacks.Callback:
    # The metric of success, not the loss: on Fashion-MNIST the validation loss turns up
    # epochs before the validation accuracy stops improving.
    return keras.callbacks.EarlyStopping(
        monitor=f"val_{metric}",
        mode="min" if metric == "mae" else "max",
        patience=PATIENCE,
        restore_best_weights=True,
    )


def keras_model_path(model_uri: str) -> str:
    """Where the Trainer saves the Keras model alone, in a Model artifact."""
    return os.path.join(model_uri, KERAS_MODEL_DIR)


def _hold_out(build, train, validation, all_training, metric: str, max_epochs: int, callbacks):
    """Finds the epoch count on the hold-out, then fits a fresh model on train + eval for it
    (book 4.1.4 and 6.2.4: the final model sees all the training data)."""
    model = build()
    fit = model.fit(
        train,
        validation_data=validation,
        epochs=max_epochs,
        callbacks=[_early_stopping(metric), *callbacks],
        verbose=2,  # one line per epoch in the log
    )
    best = _best_epoch(fit.history, metric)
    final = build()
    final_fit = final.fit(all_training, epochs=best + 1, callbacks=callbacks, verbose=2)
    history = {**fit.history, "final_fit": final_fit.history, "best_epoch": best + 1}
    return final, history, None, float(fit.history[f"val_{metric}"][best])


def _k_fold(build, train_dataset, metric: str, max_epochs: int, batch_size: int, callbacks):
    """Book listings 4.27-4.31 with early stopping; returns the final model, history, folds."""
    features, labels = _in_memory(train_dataset)
    n = len(labels)
    fold_size = n // K_FOLDS
    scores, best_epochs, fold_histories = [], [], []
    for fold in range(K_FOLDS):
        held = np.arange(fold * fold_size, (fold + 1) * fold_size)
        kept = np.setdiff1d(np.arange(n), held)
        model = build()
        fit = model.fit(
            {k: v[kept] for k, v in features.items()},
            labels[kept],
            validation_data=({k: v[held] for k, v in features.items()}, labels[held]),
            epochs=max_epochs,
            batch_size=batch_size,
            callbacks=[_early_stopping(metric), *callbacks],
            verbose=0,
        )
        best = _best_epoch(fit.history, metric)
        best_epochs.append(best + 1)
        scores.append(float(fit.history[f"val_{metric}"][best]))
        fold_histories.append(fit.history)
        logging.info("fold %d: %s %.4f at epoch %d", fold, metric, scores[-1], best + 1)
    epochs = max(1, int(round(float(np.mean(best_epochs)))))
    model = build()
    fit = model.fit(
        features, labels, epochs=epochs, batch_size=batch_size, callbacks=callbacks, verbose=0
    )
    history = {**fit.history, "folds": fold_histories, "fold_best_epochs": best_epochs}
    return model, history, scores, None


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

    def build():
        with distribution.strategy.scope():
            return build_model(model_settings)

    train, validation = dataset(fn_args.train_files, True), dataset(fn_args.eval_files, False)
    callbacks = pruning_callbacks(config.prune_sparsity)
    if config.protocol == "kfold":
        model, history, folds, eval_score = _k_fold(
            build,
            dataset(fn_args.train_files, False),
            metric,
            config.max_epochs,
            batch_size,
            callbacks,
        )
    else:
        all_training = dataset(fn_args.train_files + fn_args.eval_files, True)
        model, history, folds, eval_score = _hold_out(
            build, train, validation, all_training, metric, config.max_epochs, callbacks
        )
    pruning = None
    if config.prune_sparsity:
        model = strip_pruning(model)
        pruning = {"target": config.prune_sparsity, "sparsity": kernel_sparsity(model)}
    if eval_score is None:
        eval_score = model.evaluate(validation, verbose=0, return_dict=True)[metric]
    eval_predictions = model.predict(validation.map(lambda x, y: x), verbose=0)

    report = fn_args.model_run_dir
    tf.io.gfile.makedirs(report)
    curves = {k: v for k, v in history.items() if isinstance(v, list) and k != "folds"}
    training_history.write_history(history, report)
    training_history.plot_history(curves, metric, report)
    write_json(
        os.path.join(report, TRAINING_FILE),
        {
            "protocol": config.protocol,
            "epochs": history.get("best_epoch", len(history["loss"])),
            "metric": metric,
            "eval": float(eval_score),
            "folds": folds,
            "hyperparameters": dataclasses.asdict(model_settings),
            "distribution": {**distribution.describe(), "global_batch_size": batch_size},
            "pruning": pruning,
        },
        indent=1,
        default=float,
    )
    write_json(
        os.path.join(report, EVAL_PREDICTIONS_FILE),
        np.asarray(eval_predictions).tolist(),
        indent=1,
        default=float,
    )

    # The Keras model alone first: make_signatures attaches the Transform layer to it.
    model_uri = os.path.dirname(fn_args.serving_model_dir)
    model.save(keras_model_path(model_uri), include_optimizer=False)
    signatures = make_signatures(model, tft_output, config.task)
    tf.saved_model.save(model, fn_args.serving_model_dir, signatures=signatures)
