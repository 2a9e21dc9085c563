"""One terminal line per pipeline step as it starts and as it finishes, with its duration.

The local runner has no callbacks; it logs through absl as it starts and finishes each node,
and the launcher logs when it reuses a cached execution. `ComponentProgress` listens to those
records.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TextIO

_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."
_CACHED = "A cached execution %d is used."


class ComponentProgress(logging.Handler):
    """Prints progress lines to `terminal` and records each component's duration.

    Usage:
        progress = ComponentProgress(sys.stdout, total=5)
        with progress.listening():
            tfx.orchestration.LocalDagRunner().run(pipeline)
        progress.timings_s  # {"ExampleGen": 3.2, ...}
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

    def _print(self, text: str) -> None:
        self.terminal.write(f"[{self._step}/{self.total}] {text}\n")
        self.terminal.flush()

    @contextlib.contextmanager
    def listening(self) -> Iterator[ComponentProgress]:
        """Listens to absl's records while the block runs."""
        logger = logging.getLogger("absl")
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
