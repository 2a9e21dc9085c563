"""What a fit shows while it trains: a line per epoch (every tenth on long budgets), the curves
and seconds of each epoch, and TensorBoard's scalars per fit (book 7.3.4)."""

import glob
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_transform.keras_lib import tf_keras

from components.convergence import Budget, fit_for_epochs, fit_until_converged
from components.models import ModelConfig, build_model
from components.step_progress import LOGGER_NAME
from components.training_callbacks import EpochLog, epoch_line
from components.training_phases import Phases


def model():
    config = ModelConfig((("a", "numeric"), ("b", "numeric")), "binary", None, (4,))
    return build_model(config)


def rows(n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n)).astype(np.float32)
    return {"a": a, "b": b}, (a + b > 0).astype(np.int64)


@pytest.fixture
def progress(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)

    def lines():
        return [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]

    return lines


def test_an_epoch_line_names_the_fit_the_epoch_the_scores_and_the_seconds():
    logs = {"loss": 0.41234, "accuracy": 0.85312, "val_loss": 0.3, "val_accuracy": 0.86119}
    assert (
        epoch_line("search fit", 3, 20, logs, "accuracy", 4.13)
        == "search fit  epoch 3/20  loss 0.4123  accuracy 0.8531  val_accuracy 0.8612  4.1 s"
    )
    assert epoch_line("final fit", 2, 5, {"loss": 12.5, "mae": 2.5}, "mae", 0.04) == (
        "final fit  epoch 2/5  loss 12.5  mae 2.5  0.0 s"
    )


def test_a_line_per_epoch_with_the_curves_and_seconds_keras_records(progress):
    tf_keras.utils.set_random_seed(0)
    x, y = rows(64, 0)
    log = EpochLog("fold 2/4", lambda: 3, "auc")
    history = model().fit(x, y, validation_data=rows(32, 1), epochs=3, callbacks=[log], verbose=0)
    assert log.history == pytest.approx(history.history)
    assert len(log.epoch_s) == 3 and all(s >= 0 for s in log.epoch_s)
    lines = progress()
    assert [line.split("  ")[:2] for line in lines] == [
        ["fold 2/4", f"epoch {k}/3"] for k in (1, 2, 3)
    ]
    assert all(" val_auc " in line and line.endswith(" s") for line in lines)


def test_a_long_budget_reports_every_tenth_epoch_and_the_last(progress):
    x, y = rows(16, 0)
    log = EpochLog("fold 1/4", lambda: 60, "auc")
    model().fit(x, y, epochs=23, batch_size=16, callbacks=[log], verbose=0)
    assert [line.split("  ")[1] for line in progress()] == [
        "epoch 10/60",
        "epoch 20/60",
        "epoch 23/60",
    ]
    assert len(log.epoch_s) == 23


def _scalars(folder):
    steps = {}
    for path in glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
    return steps


def test_each_fit_writes_its_scalars_once_per_epoch_under_its_own_folder(tmp_path, progress):
    tf_keras.utils.set_random_seed(0)
    phases = Phases(metric="auc", report=True, tensorboard_dir=str(tmp_path))
    x, y = rows(64, 0)
    fit = fit_until_converged(
        model(),
        x,
        y,
        validation_data=rows(32, 1),
        metric="auc",
        budget=Budget(3, grow=False),
        phase=phases.phase("search", "search fit"),
    )
    fit_for_epochs(model(), x, y, epochs=2, phase=phases.phase("final", "final fit"))
    search = _scalars(tmp_path / "search" / "train")
    assert search["epoch_loss"] == [0, 1, 2] and search["epoch_auc"] == [0, 1, 2]
    assert _scalars(tmp_path / "search" / "validation")["epoch_auc"] == [0, 1, 2]
    assert _scalars(tmp_path / "final" / "train")["epoch_loss"] == [0, 1]
    assert not (tmp_path / "final" / "validation").exists()
    assert sorted(phases.epoch_s) == ["final", "search"]
    assert len(phases.epoch_s["search"]) == fit.convergence.epochs_run == 3
    assert [line.split("  ")[0] for line in progress()] == ["search fit"] * 3 + ["final fit"] * 2
