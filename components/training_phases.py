"""The fits of one Trainer run, each a named phase ("search", "capacity", "fold-2", "final"):
what each reports per epoch, where it writes TensorBoard's events, where it is backed up, and
the seconds of its epochs.

    phases = Phases(metric="accuracy", report=True, tensorboard_dir=..., backup_dir=...)
    log = phases.phase("search", "search fit").fit(model, fit, callbacks, parts, epochs=20)

`Phase.fit` runs a fit, resumed from the phase's backup when a killed run left one, or not at
all when the phase had finished: then the model gets the weights it finished with and the
callbacks their final state, and the caller reads the outcome from them as after a fit.
`Phases()` alone reports nothing and backs up nothing (tests, the Tuner).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf
from tensorflow_transform.keras_lib import tf_keras as keras

from components.step_progress import report as report_line
from components.training_backup import BACKUP_INTERVAL_S, EpochBackup, PhaseBackup, Resumable
from components.training_callbacks import EpochLog, tensorboard

# fit(initial_epoch, callbacks): runs `model.fit` from that epoch with those callbacks.
FitFunction = Callable[[int, list[Any]], Any]


@dataclasses.dataclass(frozen=True)
class Phase:
    """One fit of the Trainer: its key (folder names, `training.json`), its title (the progress
    lines) and the run it belongs to."""

    key: str
    title: str
    phases: Phases

    def fit(
        self,
        model: Any,
        fit: FitFunction,
        callbacks: Sequence[Any],
        parts: dict[str, Resumable],
        epochs: int,
        total_epochs: Callable[[], int] | None = None,
    ) -> EpochLog:
        """Runs `fit` for this phase and returns its epoch log (curves, seconds).

        Args:
            model: the compiled model the fit trains.
            fit: runs `model.fit(..., initial_epoch=, epochs=epochs, callbacks=)`.
            callbacks: the fit's own callbacks, first in the list (early stopping, ...).
            parts: those of them whose state a resumed fit needs, by name.
            epochs: the fit's `epochs` (the last epoch it may run).
            total_epochs: the budget the progress lines show (default: `epochs`).
        """
        run = self.phases
        log = EpochLog(
            self.title, total_epochs or (lambda: epochs), run.metric, quiet=not run.report
        )
        parts = {**parts, "epoch_log": log}
        backup = None
        if run.backup_dir:
            read_dir = run.backup_read_dir or run.backup_dir
            backup = PhaseBackup(
                os.path.join(run.backup_dir, self.key), os.path.join(read_dir, self.key)
            )
        initial_epoch, restored, stopped = 0, None, False
        if backup is not None:
            done = backup.done_state()
            if done is not None:
                backup.load_done_weights(model)
                for name, part in parts.items():
                    part.set_state(done[name])
                self._record(log, restarted_after=len(log.epoch_s))
                self._say(f"{self.title}  restored: it finished before the restart")
                return log
            record = backup.epoch_state()
            if record is not None:
                backup.restore_model(model, record)
                restored = record["states"]
                initial_epoch = record["epoch"] + 1
                stopped = record["stop_training"] or initial_epoch >= epochs
                self._say(f"{self.title}  resumed after epoch {initial_epoch}")
        own: list[Any] = [log]
        if run.tensorboard_dir:
            own.append(tensorboard(os.path.join(run.tensorboard_dir, self.key)))
        if backup is not None:
            own.append(EpochBackup(backup, parts, restored, run.backup_interval_s))
        every = [*callbacks, *own]
        if stopped:
            # It had ended before the kill, its outcome unrecorded: only the end of the fit is
            # left to run (early stopping restores the best weights, the outcome is recorded).
            hooks = keras.callbacks.CallbackList(every, model=model)
            hooks.on_train_begin()
            hooks.on_train_end()
        else:
            fit(initial_epoch, every)
        self._record(log, restarted_after=initial_epoch if restored else None)
        return log

    def _say(self, line: str) -> None:
        if self.phases.report:
            report_line(line)

    def _record(self, log: EpochLog, restarted_after: int | None) -> None:
        self.phases.epoch_s[self.key] = log.epoch_s
        if restarted_after is not None:
            self.phases.resumed_after[self.key] = restarted_after


@dataclasses.dataclass
class Phases:
    """The fit phases of one Trainer run.

    Attributes:
        metric: the metric of success, reported beside the loss.
        report: report a line per epoch (`components.step_progress`).
        tensorboard_dir: TensorBoard's folder; each phase writes under `<it>/<key>/`.
        backup_dir: the backups' folder (`training_backup.backup_folder`); None: no backups.
        backup_read_dir: where a resumed fit reads its backup (default: `backup_dir`; a worker
            of a cluster resumes from the chief's).
        backup_interval_s: the least time between two backups of a fit.
        epoch_s: the seconds of each epoch, by phase key, as the phases end.
        resumed_after: the epochs each resumed phase had run before a restart, by key.
    """

    metric: str = ""
    report: bool = False
    tensorboard_dir: str | None = None
    backup_dir: str | None = None
    backup_read_dir: str | None = None
    backup_interval_s: float = BACKUP_INTERVAL_S
    epoch_s: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    resumed_after: dict[str, int] = dataclasses.field(default_factory=dict)

    def phase(self, key: str, title: str) -> Phase:
        """The phase `key` (unique in the run), shown as `title`."""
        return Phase(key, title, self)

    def drop_backups(self) -> None:
        """Deletes the backups: the run is complete."""
        if self.backup_dir and tf.io.gfile.exists(self.backup_dir):
            tf.io.gfile.rmtree(self.backup_dir)
