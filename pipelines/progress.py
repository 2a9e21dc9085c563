"""What a person sees while a run works: one line per pipeline step as it starts and as it
finishes, with its duration, and the step's own progress lines (an epoch, an exported format)
indented under it.

The local runner has no callbacks; it logs through absl as it starts and finishes each node,
and the launcher logs when it reuses a cached execution. A step reports its own progress
through the `dlwp.progress` logger (components/step_progress.py). `ComponentProgress` listens
to both. The records still propagate to the root logger, so the log file keeps them too.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from typing import TextIO

from components.step_progress import LOGGER_NAME

_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."
_CACHED = "A cached execution %d is used."

# Escape sequences and control characters a step's message may carry: a pipe (a log, CI) gets
# plain lines, and a terminal gets no cursor moves it did not ask for.
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b.?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain_lines(message: str) -> list[str]:
    """The lines of `message` without escape sequences and control characters (a tab is a
    space), each stripped at the right; empty lines are dropped."""
    text = _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", message.replace("\t", " ")))
    return [line.rstrip() for line in text.split("\n") if line.strip()]


class ComponentProgress(logging.Handler):
    """Prints progress lines to `terminal` and records each component's duration.

    Usage:
        progress = ComponentProgress(sys.stdout, total=5)
        with progress.listening():
            tfx.orchestration.LocalDagRunner().run(pipeline)
        progress.timings_s  # {"ExampleGen": 3.2, ...}

    prints, on a terminal and in a pipe alike:
        [4/5] Trainer ...
              search fit  epoch 1/5  loss 0.52  accuracy 0.81  val_accuracy 0.84  4.0 s
        [4/5] Trainer done in 61.2 s
    """

    def __init__(self, terminal: TextIO, total: int):
        super().__init__(level=logging.INFO)
        self.terminal = terminal
        self.total = total
        self.timings_s: dict[str, float] = {}
        self.cached: list[str] = []
        self._current: str | None = None
        self._step = 0
        self._started = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == LOGGER_NAME or record.name.startswith(LOGGER_NAME + "."):
            self._print_step_lines(record)
            return
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg == _RUNNING:
            self._current = str(args[0])
            self._step += 1
            self._started = time.monotonic()
            self._print(f"{self._current} ...")
        elif record.msg == _CACHED and self._current:
            self.cached.append(self._current)
        elif record.msg == _FINISHED and self._current and args[0] == self._current:
            duration = time.monotonic() - self._started
            self.timings_s[self._current] = round(duration, 2)
            how = "cached" if self._current in self.cached else "done"
            self._print(f"{self._current} {how} in {duration:.1f} s")
            self._current = None

    def failed(self) -> str | None:
        """The component that was running when the pipeline stopped, if any."""
        return self._current

    def _prefix(self) -> str:
        return f"[{self._step}/{self.total}] "

    def _print(self, text: str) -> None:
        self.terminal.write(f"{self._prefix()}{text}\n")
        self.terminal.flush()

    def _print_step_lines(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad %-format: show the text as it was given
            message = str(record.msg)
        indent = " " * len(self._prefix())  # under the step's name
        for line in plain_lines(message):
            self.terminal.write(f"{indent}{line}\n")
        self.terminal.flush()

    @contextlib.contextmanager
    def listening(self) -> Iterator[ComponentProgress]:
        """Listens to absl's records and to the steps' progress while the block runs."""
        absl_logger = logging.getLogger("absl")
        step_logger = logging.getLogger(LOGGER_NAME)
        # The steps report at INFO: heard whatever the root logger's level is.
        previous_level = step_logger.level
        if not step_logger.isEnabledFor(logging.INFO):
            step_logger.setLevel(logging.INFO)
        absl_logger.addHandler(self)
        step_logger.addHandler(self)
        try:
            yield self
        finally:
            absl_logger.removeHandler(self)
            step_logger.removeHandler(self)
            step_logger.setLevel(previous_level)
