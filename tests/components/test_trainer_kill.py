"""A Trainer killed mid-fit (SIGKILL, a real process) resumes from its last epoch's backup when
it runs again, as a new execution, and completes (book 7.3.2)."""

import json
import os
import queue
import signal
import threading
import time

import pytest
import trainer_run
from trainer_inputs import write_trainer_inputs

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)
PREFIX = "dlwp.progress "


def trainer(folder, execution, max_epochs, slow_s=0.0):
    return trainer_run.start(folder, execution, max_epochs, slow_s)


def progress_lines(stream, lines):
    for line in stream:
        if line.startswith(PREFIX):
            lines.put(line[len(PREFIX) :].rstrip("\n"))
    lines.put(None)


def wait_for(lines, prefix, timeout_s):
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if line.startswith(prefix):
            return seen
    pytest.fail(f"no {prefix!r} line within {timeout_s} s; saw {seen}")


def test_a_killed_trainer_resumes_after_its_last_epoch_and_completes(tmp_path):
    write_trainer_inputs(str(tmp_path), train_rows=96, eval_rows=32)
    first = trainer(tmp_path, execution=1, max_epochs=6, slow_s=1.2)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=progress_lines, args=(first.stderr, lines), daemon=True).start()
    try:
        wait_for(lines, "search fit  epoch 3/6", timeout_s=180)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL

    second = trainer(tmp_path, execution=2, max_epochs=6)
    _, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr[-3000:]
    shown = [line[len(PREFIX) :] for line in stderr.splitlines() if line.startswith(PREFIX)]
    search = [line for line in shown if line.startswith("search fit")]
    assert search[0].startswith("search fit  resumed after epoch ")
    resumed_after = int(search[0].rsplit(" ", 1)[1])
    assert resumed_after >= 2  # the kill came after the third epoch's line
    assert search[1].startswith(f"search fit  epoch {resumed_after + 1}/6")
    assert any(line.startswith("final fit  epoch 1/") for line in shown)

    model_run = tmp_path / "Trainer" / "model_run" / "2"
    training = json.loads((model_run / "training.json").read_text())
    assert training["resumed_after"] == {"search": resumed_after}
    # The seconds of every epoch, those before the kill included.
    assert len(training["epoch_s"]["search"]) == training["convergence"]["epochs_run"]
    assert len(training["epoch_s"]["final"]) == training["epochs"]
    assert (tmp_path / "Trainer" / "model" / "2" / "Format-Serving" / "saved_model.pb").exists()
    assert (model_run / "tensorboard" / "search" / "validation").is_dir()
    assert os.listdir(tmp_path / "Trainer" / "backup") == []  # dropped once complete
