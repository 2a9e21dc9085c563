"""Backups of the Trainer's fits, so that a killed Trainer resumes where it stopped instead of
starting over (book 7.3.2: `ModelCheckpoint`, `BackupAndRestore`).

Keras's `BackupAndRestore` restores the weights, the optimizer and the epoch, not the state of
the other callbacks: early stopping would forget its best score and best weights, the history
would lose the epochs before the kill, and a separate record of them would be a second writer
with a kill window between the two. So one callback, `EpochBackup`, writes everything a fit
needs at the end of an epoch: a TensorFlow checkpoint of the model (weights and optimizer
slots, as `BackupAndRestore`'s) and the state of the fit's stateful callbacks, into a folder per
epoch, committed by an atomic rename of `latest.json`. When the fit ends it writes the phase's
outcome (`done.json` and its weights), which a rerun takes as it is.

A phase's folder:

    <folder>/epoch-<e>/checkpoint.*, state.json, arrays.npz   the last epoch backed up
    <folder>/latest.json                                       {"epoch": e}, the commit
    <folder>/done.json, done_weights.npz                       the finished phase

The Trainer's folder (`backup_folder`) lives beside its executions' outputs, not in one: a
rerun of `dlwp run` after a failure is a new TFX execution, with new output folders.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from typing import Any, Protocol

import numpy as np
import tensorflow as tf
from tensorflow_transform.keras_lib import tf_keras as keras

from contract.versions import write_json

LATEST_FILE = "latest.json"
DONE_FILE = "done.json"
DONE_WEIGHTS_FILE = "done_weights.npz"
STATE_FILE = "state.json"
ARRAYS_FILE = "arrays.npz"
CHECKPOINT_PREFIX = "checkpoint"
# An epoch's backup costs tens of milliseconds; epochs of small data take less than that, so a
# fit backs up at the end of an epoch only when this long has passed since its last backup.
BACKUP_INTERVAL_S = 1.0


class Resumable(Protocol):
    """A callback whose state a resumed fit needs: JSON values, and numpy arrays under
    `"arrays"` (a list, e.g. early stopping's best weights)."""

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


def backup_folder(fn_args: Any) -> str:
    """`<pipeline root>/Trainer/backup/<hash>`: the Trainer's backups for these inputs and
    settings, found again by a rerun (a new execution) of the same Trainer.

    TFX's `model_run_dir` is `<pipeline root>/<Trainer>/model_run/<execution>`; the hash is of
    the examples, the Transform graph, the custom config and the hyperparameters.
    """
    component_dir = os.path.dirname(os.path.dirname(fn_args.model_run_dir.rstrip("/")))
    inputs = {
        "train_files": list(fn_args.train_files),
        "eval_files": list(fn_args.eval_files),
        "transform": fn_args.transform_output,
        "custom_config": fn_args.custom_config,
        "hyperparameters": fn_args.hyperparameters,
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
    return os.path.join(component_dir, "backup", digest[:16])


def _read_json(path: str) -> Any:
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def _write_arrays(path: str, arrays: list[np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)
    partial = f"{path}.partial"
    with tf.io.gfile.GFile(partial, "wb") as f:
        f.write(buffer.getvalue())
    tf.io.gfile.rename(partial, path, overwrite=True)


def _read_arrays(path: str) -> list[np.ndarray]:
    with tf.io.gfile.GFile(path, "rb") as f:
        stored = np.load(io.BytesIO(f.read()))
        return [stored[f"arr_{i}"] for i in range(len(stored.files))]


def _split_arrays(states: dict[str, dict[str, Any]]) -> tuple[dict, list[np.ndarray], dict]:
    """The states without their arrays, every array in one list, and each part's [start,
    count] in it (None for a part that has no arrays)."""
    plain: dict[str, dict[str, Any]] = {}
    arrays: list[np.ndarray] = []
    spans: dict[str, list[int] | None] = {}
    for name, state in states.items():
        plain[name] = {key: value for key, value in state.items() if key != "arrays"}
        part = list(state.get("arrays") or [])
        spans[name] = [len(arrays), len(part)] if "arrays" in state else None
        arrays += part
    return plain, arrays, spans


class PhaseBackup:
    """The backup folder of one fit (a phase of the Trainer: the search fit, a fold, ...).

    Args:
        folder: where backups are written.
        read_folder: where they are read from (default: `folder`). A worker other than the
            chief of a training cluster writes to a temporary folder and resumes from the
            chief's backups, so that every worker resumes at the same epoch.
    """

    def __init__(self, folder: str, read_folder: str | None = None):
        self.folder = folder
        self.read_folder = read_folder or folder

    def _epoch_dir(self, epoch: int, folder: str | None = None) -> str:
        return os.path.join(folder or self.folder, f"epoch-{epoch}")

    def done_state(self) -> dict[str, Any] | None:
        """The states recorded when the phase finished, or None."""
        path = os.path.join(self.read_folder, DONE_FILE)
        return _read_json(path) if tf.io.gfile.exists(path) else None

    def load_done_weights(self, model: Any) -> None:
        """Sets the weights the phase finished with."""
        model.set_weights(_read_arrays(os.path.join(self.read_folder, DONE_WEIGHTS_FILE)))

    def epoch_state(self) -> dict[str, Any] | None:
        """The last epoch backed up: `epoch` (0-based), `stop_training` and the callbacks'
        `states` (arrays included), or None."""
        latest = os.path.join(self.read_folder, LATEST_FILE)
        if not tf.io.gfile.exists(latest):
            return None
        epoch_dir = self._epoch_dir(int(_read_json(latest)["epoch"]), self.read_folder)
        record = _read_json(os.path.join(epoch_dir, STATE_FILE))
        arrays = _read_arrays(os.path.join(epoch_dir, ARRAYS_FILE))
        for name, span in record.pop("arrays").items():
            if span is not None:
                start, count = span
                record["states"][name]["arrays"] = arrays[start : start + count]
        return record

    def restore_model(self, model: Any, record: dict[str, Any]) -> None:
        """Restores the weights and the optimizer of the epoch `record` names (the optimizer's
        slots when they are created, on the first step, as `BackupAndRestore` does)."""
        prefix = os.path.join(self._epoch_dir(record["epoch"], self.read_folder), CHECKPOINT_PREFIX)
        tf.train.Checkpoint(model=model).read(prefix).expect_partial()

    def save_epoch(
        self, model: Any, epoch: int, states: dict[str, dict[str, Any]], stop: bool
    ) -> None:
        """Backs up the end of `epoch`, then drops the older backups."""
        epoch_dir = self._epoch_dir(epoch)
        if tf.io.gfile.exists(epoch_dir):  # a half-written one, from before a kill
            tf.io.gfile.rmtree(epoch_dir)
        tf.io.gfile.makedirs(epoch_dir)
        tf.train.Checkpoint(model=model).write(os.path.join(epoch_dir, CHECKPOINT_PREFIX))
        plain, arrays, spans = _split_arrays(states)
        _write_arrays(os.path.join(epoch_dir, ARRAYS_FILE), arrays)
        record = {"epoch": epoch, "stop_training": stop, "states": plain, "arrays": spans}
        write_json(os.path.join(epoch_dir, STATE_FILE), record, indent=None)
        write_json(os.path.join(self.folder, LATEST_FILE), {"epoch": epoch})
        self._drop_epochs(keep=epoch_dir)

    def save_done(self, model: Any, states: dict[str, dict[str, Any]]) -> None:
        """Records the finished phase: its weights, then the callbacks' states (no arrays)."""
        tf.io.gfile.makedirs(self.folder)
        _write_arrays(os.path.join(self.folder, DONE_WEIGHTS_FILE), model.get_weights())
        plain, _, _ = _split_arrays(states)
        write_json(os.path.join(self.folder, DONE_FILE), plain, indent=None)
        latest = os.path.join(self.folder, LATEST_FILE)
        if tf.io.gfile.exists(latest):
            tf.io.gfile.remove(latest)
        self._drop_epochs()

    def _drop_epochs(self, keep: str | None = None) -> None:
        for name in tf.io.gfile.listdir(self.folder):
            path = os.path.join(self.folder, name.rstrip("/"))
            if name.startswith("epoch-") and path != keep:
                tf.io.gfile.rmtree(path)


class EpochBackup(keras.callbacks.Callback):
    """Backs up a fit at the end of its epochs (at most one per `interval_s`) and records its
    outcome when it ends; listed after the callbacks whose state it saves.

    Args:
        backup: the phase's folder.
        parts: the stateful callbacks, by name (early stopping, the budget, the epoch log).
        restored: states to put back at the start of the fit (after the callbacks' own
            `on_train_begin`, which resets them), from `PhaseBackup.epoch_state`.
        interval_s: the least time between two backups.
    """

    def __init__(
        self,
        backup: PhaseBackup,
        parts: dict[str, Resumable],
        restored: dict[str, dict[str, Any]] | None = None,
        interval_s: float = BACKUP_INTERVAL_S,
    ):
        super().__init__()
        self.backup = backup
        self.parts = parts
        self.restored = restored
        self.interval_s = interval_s
        self._last = 0.0

    def _states(self) -> dict[str, dict[str, Any]]:
        return {name: part.get_state() for name, part in self.parts.items()}

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.restored:
            for name, part in self.parts.items():
                part.set_state(self.restored[name])
        self._last = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if time.monotonic() - self._last < self.interval_s:
            return
        self.backup.save_epoch(self.model, epoch, self._states(), bool(self.model.stop_training))
        self._last = time.monotonic()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.backup.save_done(self.model, self._states())
