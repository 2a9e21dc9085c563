"""What a person sees while a run works: step lines, and each step's own progress under it,
the same on a terminal (a pty) and in a pipe."""

from __future__ import annotations

import logging
import os
import re

import pytest
from absl import logging as absl_logging

from components.step_progress import report
from pipelines.progress import ComponentProgress

# The local runner's and the launcher's own messages (absl), as TFX logs them.
RUNNING = "Component %s is running."
FINISHED = "Component %s is finished."
CACHED = "A cached execution %d is used."

EPOCH_1 = "search fit  epoch 1/5  loss 0.52  accuracy 0.81  val_accuracy 0.84  4.0 s"
EPOCH_2 = "search fit  epoch 2/5  loss 0.41  accuracy 0.85  val_accuracy 0.86  3.9 s"
# Anything but a printable character, a space or the end of a line.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


@pytest.fixture(autouse=True)
def absl_at_info():
    """absl's INFO records reach Python logging, as they do during `dlwp run`
    (pipelines/logs.py). The root logger keeps its default level: WARNING."""
    previous = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.INFO)
    yield
    absl_logging.set_verbosity(previous)


def a_trainer_with_two_epochs() -> None:
    absl_logging.info(RUNNING, "ExampleGen")
    absl_logging.info(FINISHED, "ExampleGen")
    absl_logging.info(RUNNING, "Trainer")
    report(EPOCH_1)
    report(EPOCH_2)
    absl_logging.info(FINISHED, "Trainer")


def shown_in_pipe(steps, total: int = 3) -> str:
    """What the progress prints into a pipe while `steps` runs."""
    read_end, write_end = os.pipe()
    with (
        open(write_end, "w", encoding="utf-8") as terminal,
        ComponentProgress(terminal, total=total).listening(),
    ):
        steps()
    with open(read_end, encoding="utf-8") as pipe:
        return pipe.read()


def shown_on_terminal(steps, total: int = 3) -> tuple[bool, str]:
    """Whether the progress saw a terminal, and what the terminal shows while `steps` runs."""
    leader, follower = os.openpty()
    with open(follower, "w", encoding="utf-8") as terminal:
        progress = ComponentProgress(terminal, total=total)
        with progress.listening():
            steps()
        on_terminal = progress.terminal.isatty()
    shown = b""
    while chunk := _read_available(leader):
        shown += chunk
    os.close(leader)
    return on_terminal, shown.decode()


def _read_available(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536)
    except (BlockingIOError, OSError):  # nothing left, or the follower side is closed
        return b""


def without_durations(text: str) -> str:
    return re.sub(r"in \d+\.\d s", "in T s", text)


EXPECTED = (
    "[1/3] ExampleGen ...\n"
    "[1/3] ExampleGen done in T s\n"
    "[2/3] Trainer ...\n"
    f"      {EPOCH_1}\n"
    f"      {EPOCH_2}\n"
    "[2/3] Trainer done in T s\n"
)


def test_a_steps_progress_lines_are_indented_under_it_in_a_pipe():
    assert without_durations(shown_in_pipe(a_trainer_with_two_epochs)) == EXPECTED


def test_a_terminal_shows_the_same_lines_as_a_pipe():
    on_terminal, shown = shown_on_terminal(a_trainer_with_two_epochs)
    assert on_terminal
    # The terminal's own line discipline ends a line with \r\n; nothing else is added.
    assert without_durations(shown.replace("\r\n", "\n")) == EXPECTED


def test_the_indent_follows_the_width_of_the_step_counter():
    def eleventh_step():
        for step in range(11):
            absl_logging.info(RUNNING, f"Step{step}")
            absl_logging.info(FINISHED, f"Step{step}")
        absl_logging.info(RUNNING, "Trainer")
        report(EPOCH_1)

    last = shown_in_pipe(eleventh_step, total=16).splitlines()[-2:]
    assert last == ["[12/16] Trainer ...", f"        {EPOCH_1}"]


def test_control_characters_of_a_message_never_reach_the_pipe():
    def exporter():
        absl_logging.info(RUNNING, "Exporter")
        report("\x1b[2K\rtflite_int8\tparity 0.8917\x1b[0m  \x07\nTF.js float16  2/7\r\n")

    shown = shown_in_pipe(exporter, total=1)
    assert not CONTROL.search(shown)
    assert shown.splitlines()[1:] == ["      tflite_int8 parity 0.8917", "      TF.js float16  2/7"]


def test_progress_records_still_reach_the_log(caplog):
    with caplog.at_level(logging.INFO, logger="dlwp.progress"):
        shown_in_pipe(a_trainer_with_two_epochs)
    logged = [r.getMessage() for r in caplog.records if r.name == "dlwp.progress"]
    assert logged == [EPOCH_1, EPOCH_2]


def test_nothing_is_printed_once_the_run_is_over():
    read_end, write_end = os.pipe()
    with open(write_end, "w", encoding="utf-8") as terminal:
        with ComponentProgress(terminal, total=1).listening():
            absl_logging.info(RUNNING, "Trainer")
        report(EPOCH_1)
        absl_logging.info(RUNNING, "Evaluator")
    with open(read_end, encoding="utf-8") as pipe:
        assert pipe.read() == "[1/1] Trainer ...\n"
    assert logging.getLogger("dlwp.progress").level == logging.NOTSET


def test_a_cached_step_says_so_and_is_timed():
    read_end, write_end = os.pipe()
    with open(write_end, "w", encoding="utf-8") as terminal:
        progress = ComponentProgress(terminal, total=1)
        with progress.listening():
            absl_logging.info(RUNNING, "Transform")
            absl_logging.info(CACHED, 7)
            absl_logging.info(FINISHED, "Transform")
    with open(read_end, encoding="utf-8") as pipe:
        assert without_durations(pipe.read()).splitlines()[-1] == "[1/1] Transform cached in T s"
    assert progress.cached == ["Transform"] and list(progress.timings_s) == ["Transform"]
