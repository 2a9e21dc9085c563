"""Runs the Trainer's `run_fn` on `write_trainer_inputs(folder)`'s inputs, in a process of its
own, printing the progress lines on stderr (`dlwp.progress <line>`); a test kills it.

    python tests/trainer_run.py <folder> <execution> <max epochs> [<seconds added per search epoch>]
"""

import logging
import sys
import time

from trainer_inputs import trainer_fn_args, trainer_inputs_in, trainer_settings

from components import trainer, training_callbacks
from components.step_progress import LOGGER_NAME


def slow_search_epochs(seconds: float) -> None:
    """Each epoch of the search fit takes `seconds` more: time to kill it mid-fit."""
    begin = training_callbacks.EpochLog.on_epoch_begin

    def slow_begin(self, epoch, logs=None):
        if self.title == "search fit":
            time.sleep(seconds)
        begin(self, epoch, logs)

    training_callbacks.EpochLog.on_epoch_begin = slow_begin


def main(folder: str, execution: str, max_epochs: str, slow_s: str = "0") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    progress = logging.getLogger(LOGGER_NAME)
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    if float(slow_s):
        slow_search_epochs(float(slow_s))
    settings = trainer_settings(max_epochs=int(max_epochs))
    trainer.run_fn(trainer_fn_args(trainer_inputs_in(folder), settings, int(execution)))


if __name__ == "__main__":
    main(*sys.argv[1:])
