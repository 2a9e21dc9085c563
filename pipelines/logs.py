"""Keeps the terminal readable: library output goes to a log file, progress to the terminal.

TensorFlow's C++ runtime, absl, Beam and TFX write to the process's stdout and stderr; only
redirecting the file descriptors catches all of them.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import sys
from collections.abc import Iterator
from typing import TextIO

from absl import logging as absl_logging


def log_path_for(home: str, model: str) -> str:
    """`<home>/logs/<model>-<local time>.log`: one file per run."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join(home, "logs", f"{model}-{stamp}.log")


@contextlib.contextmanager
def library_output_to(log_path: str) -> Iterator[TextIO]:
    """Sends file descriptors 1 and 2 and Python logging to `log_path` while the block runs.

    Yields:
        A text stream to the original stdout, for progress lines.
    """
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    terminal = open(os.dup(saved[0]), "w", buffering=1, encoding="utf-8")  # noqa: SIM115
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    absl_logging.set_verbosity(absl_logging.INFO)
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
        terminal.close()
        root.removeHandler(handler)
        handler.close()
        root.setLevel(previous_level)
