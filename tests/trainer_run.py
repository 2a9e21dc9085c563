"""Runs the Trainer's `run_fn` on `write_trainer_inputs(folder)`'s inputs, in a process of its
own, printing the progress lines on stderr (`dlwp.progress <line>`); a test kills it.

    python tests/trainer_run.py <folder> <execution> <max epochs> [<seconds added per search epoch>]

With `$DLWP_TRAINER_RECORD` set to a file name, it also writes there what this process did: the
training steps it ran in each fit, where it saved the serving model, its weights (an `.npz`
beside the record) and how far its replicas' copies of them differ, so that the workers of a
cluster can be compared. With `$DLWP_LOGICAL_CPUS=N` the CPU is split into N logical devices
before training starts.
"""

import json
import logging
import os
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf
from trainer_inputs import trainer_fn_args, trainer_inputs_in, trainer_settings

from components import trainer, training_callbacks
from components.step_progress import LOGGER_NAME

RECORD_ENV = "DLWP_TRAINER_RECORD"
LOGICAL_CPUS_ENV = "DLWP_LOGICAL_CPUS"
TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)


def start(folder, execution, max_epochs, slow_s=0.0, env=None) -> subprocess.Popen:
    """This script in a process of its own, its stderr piped: `env` adds to (or, with
    TF_CONFIG, sets) the environment, which otherwise names no training cluster."""
    inherited = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    command = [sys.executable, os.path.abspath(__file__), str(folder)]
    return subprocess.Popen(
        [*command, str(execution), str(max_epochs), str(slow_s)],
        cwd=REPO,
        env={**inherited, "PYTHONPATH": os.pathsep.join([REPO, TESTS]), **(env or {})},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def slow_search_epochs(seconds: float) -> None:
    """Each epoch of the search fit takes `seconds` more: time to kill it mid-fit."""
    begin = training_callbacks.EpochLog.on_epoch_begin

    def slow_begin(self, epoch, logs=None):
        if self.title == "search fit":
            time.sleep(seconds)
        begin(self, epoch, logs)

    training_callbacks.EpochLog.on_epoch_begin = slow_begin


def replica_spread(model) -> float | None:
    """The largest difference between two replicas' copies of a variable of `model` (None
    when its variables are not mirrored)."""
    spreads = [
        float(np.max(np.abs(copy.numpy() - variable.values[0].numpy()), initial=0.0))
        for variable in model.weights
        if hasattr(variable, "values")
        for copy in variable.values[1:]
    ]
    mirrored = any(hasattr(variable, "values") for variable in model.weights)
    return max(spreads, default=0.0) if mirrored else None


def record_steps_and_saves(path: str) -> None:
    """Counts each fit's training steps (the epoch log's batch ends) and records the serving
    model's save; writes both to `path` (JSON) and the saved weights to `<path>.npz`."""
    record: dict = {"steps": {}, "saved_to": None}

    def count(self, batch, logs=None):
        record["steps"][self.title] = record["steps"].get(self.title, 0) + 1

    training_callbacks.EpochLog.on_train_batch_end = count
    save = tf.saved_model.save

    def recorded_save(model, export_dir, *args, **kwargs):
        save(model, export_dir, *args, **kwargs)
        record["saved_to"] = export_dir
        record["replica_spread"] = replica_spread(model)
        np.savez(f"{path}.npz", *model.get_weights())
        with open(path, "w") as f:
            json.dump(record, f)

    tf.saved_model.save = recorded_save


def main(folder: str, execution: str, max_epochs: str, slow_s: str = "0") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    progress = logging.getLogger(LOGGER_NAME)
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    if float(slow_s):
        slow_search_epochs(float(slow_s))
    if os.environ.get(LOGICAL_CPUS_ENV):
        (cpu,) = tf.config.list_physical_devices("CPU")
        devices = [tf.config.LogicalDeviceConfiguration()] * int(os.environ[LOGICAL_CPUS_ENV])
        tf.config.set_logical_device_configuration(cpu, devices)
    if os.environ.get(RECORD_ENV):
        record_steps_and_saves(os.environ[RECORD_ENV])
    settings = trainer_settings(max_epochs=int(max_epochs))
    trainer.run_fn(trainer_fn_args(trainer_inputs_in(folder), settings, int(execution)))


if __name__ == "__main__":
    main(*sys.argv[1:])
