"""A fit cut short resumes from its last backup (book 7.3.2): the weights, the optimizer, early
stopping and the curves carry on; a phase that had finished is taken as it was, not fit again.

An exception raised at the start of an epoch stands in for a kill here: Keras then never ends
the fit, as after SIGKILL (tests/components/test_trainer_kill.py kills a real process)."""

import logging

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_transform.keras_lib import tf_keras

from components import protocols
from components.convergence import Budget, fit_for_epochs, fit_until_converged
from components.models import ModelConfig, build_model
from components.step_progress import LOGGER_NAME
from components.training_backup import backup_folder
from components.training_phases import Phases


class Killed(Exception):
    pass


class KillAt(tf_keras.callbacks.Callback):
    """Raises at the start of epoch `epoch` (0-based) of the `fit`-th fit it sees."""

    def __init__(self, epoch, fit=1):
        super().__init__()
        self.epoch, self.fit, self.fits = epoch, fit, 0

    def on_train_begin(self, logs=None):
        self.fits += 1

    def on_epoch_begin(self, epoch, logs=None):
        if self.fits == self.fit and epoch == self.epoch:
            raise Killed(f"killed at epoch {epoch}")


def model(seed, units=(4,)):
    tf_keras.utils.set_random_seed(seed)
    return build_model(ModelConfig((("a", "numeric"), ("b", "numeric")), "binary", None, units))


def rows(n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n)).astype(np.float32)
    return {"a": a, "b": b}, (a + b > 0).astype(np.int64)


def phases(folder):
    return Phases(metric="auc", report=True, backup_dir=str(folder), backup_interval_s=0)


@pytest.fixture
def progress(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    return lambda: [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]


def test_a_cut_fit_resumes_at_the_next_epoch_with_weights_and_optimizer_restored(
    tmp_path, progress
):
    x, y = rows(64, 0)
    reference = model(seed=0)
    expected = fit_for_epochs(reference, x, y, epochs=5, batch_size=16, shuffle=False)
    cut = model(seed=0)
    with pytest.raises(Killed):
        fit_for_epochs(
            cut,
            x,
            y,
            epochs=5,
            callbacks=[KillAt(3)],
            batch_size=16,
            shuffle=False,
            phase=phases(tmp_path).phase("final", "final fit"),
        )
    progress_before = len(progress())
    resumed = model(seed=1)  # other initial weights: the backup's must replace them
    run = phases(tmp_path)
    history = fit_for_epochs(
        resumed, x, y, epochs=5, batch_size=16, shuffle=False, phase=run.phase("final", "final fit")
    )
    lines = progress()[progress_before:]
    assert lines[0] == "final fit  resumed after epoch 3"
    assert [line.split("  ")[1] for line in lines[1:]] == ["epoch 4/5", "epoch 5/5"]
    # RMSprop's moving averages were restored too: without them epochs 4 and 5 differ.
    for got, want in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-4)
    assert run.resumed_after == {"final": 3} and len(run.epoch_s["final"]) == 5


def test_early_stopping_carries_on_across_a_restart(tmp_path):
    rng = np.random.default_rng(3)
    x = {"a": rng.normal(size=64).astype(np.float32), "b": rng.normal(size=64).astype(np.float32)}
    noise = (rng.normal(size=64) > 0).astype(np.int64)  # nothing to learn: stops early

    def fit(seed, **options):
        return fit_until_converged(
            model(seed, (32,)),
            x,
            noise,
            validation_data=(x, 1 - noise),
            metric="auc",
            budget=Budget(40),
            batch_size=16,
            shuffle=False,
            **options,
        )

    reference = fit(0)
    assert reference.convergence.stopped_by == "early_stopping"
    cut_at = reference.convergence.best_epoch + 2  # waiting for an improvement
    with pytest.raises(Killed):
        fit(0, callbacks=[KillAt(cut_at)], phase=phases(tmp_path).phase("search", "search fit"))
    resumed = fit(1, phase=phases(tmp_path).phase("search", "search fit"))
    assert resumed.convergence == reference.convergence
    assert resumed.score == pytest.approx(reference.score)
    assert resumed.history == pytest.approx(reference.history, rel=1e-4)


class KillAtTheEnd(tf_keras.callbacks.Callback):
    """Raises when the fit ends: after its last epoch's backup, before its outcome is kept."""

    def on_train_end(self, logs=None):
        raise Killed("killed as the fit ended")


def test_a_fit_killed_as_it_ended_is_finished_without_another_epoch(tmp_path):
    x, y = rows(64, 0)

    def fit(seed, fitted, **options):
        built = model(seed)
        fit = built.fit
        built.fit = lambda *args, **kwargs: fitted.append(1) or fit(*args, **kwargs)
        return fit_until_converged(
            built,
            x,
            y,
            validation_data=rows(32, 1),
            metric="auc",
            budget=Budget(3, grow=False),
            batch_size=16,
            shuffle=False,
            **options,
        )

    reference = fit(0, [])
    with pytest.raises(Killed):
        fit(0, [], callbacks=[KillAtTheEnd()], phase=phases(tmp_path).phase("search", "s"))
    fitted: list[int] = []
    resumed = fit(1, fitted, phase=phases(tmp_path).phase("search", "s"))
    assert fitted == []  # the budget was spent: nothing left to fit
    assert resumed.convergence == reference.convergence
    for got, want in zip(resumed.model.get_weights(), reference.model.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)  # the best epoch's


def dataset(features, labels):
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(16)


def test_a_phase_finished_before_the_cut_is_restored_not_fit_again(tmp_path, progress):
    train, validation = dataset(*rows(64, 1)), dataset(*rows(32, 2))
    pool = train.concatenate(validation)
    fitted = []

    def build(units):
        built = model(len(fitted), units)  # each model its own initial weights
        fit = built.fit

        def recorded_fit(*args, **kwargs):
            fitted.append(kwargs.get("initial_epoch", 0))
            return fit(*args, **kwargs)

        built.fit = recorded_fit
        return built

    def hold_out(folder, **options):
        fitted.clear()
        return protocols.hold_out(
            build,
            (8,),
            train,
            validation,
            pool,
            metric="auc",
            budget=Budget(3, grow=False),
            phases=phases(folder),
            **options,
        )

    reference = hold_out(tmp_path / "reference")
    with pytest.raises(Killed):  # the search fit done, the final fit cut after its first epoch
        hold_out(tmp_path / "cut", callbacks=[KillAt(epoch=1, fit=2)])
    before = len(progress())
    result = hold_out(tmp_path / "cut")
    assert fitted == [1]  # only the final fit ran, from its second epoch
    assert progress()[before] == "search fit  restored: it finished before the restart"
    assert result.eval_score == pytest.approx(reference.eval_score)
    np.testing.assert_allclose(result.eval_predictions, reference.eval_predictions, rtol=1e-5)
    assert result.convergence == reference.convergence
    for got, want in zip(result.model.get_weights(), reference.model.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_the_backup_folder_is_the_trainers_and_changes_with_its_inputs():
    class FnArgs:
        model_run_dir = "/root/pipelines/p/Trainer/model_run/7"
        train_files = ["/root/pipelines/p/ExampleGen/examples/1/Split-train/*"]
        eval_files = ["/root/pipelines/p/ExampleGen/examples/1/Split-eval/*"]
        transform_output = "/root/pipelines/p/Transform/transform_graph/5"
        custom_config = {"max_epochs": 20}
        hyperparameters = None

    folder = backup_folder(FnArgs)
    assert folder.startswith("/root/pipelines/p/Trainer/backup/")
    FnArgs.model_run_dir = "/root/pipelines/p/Trainer/model_run/8"  # a rerun: same inputs
    assert backup_folder(FnArgs) == folder
    FnArgs.custom_config = {"max_epochs": 5}
    assert backup_folder(FnArgs) != folder
