"""What the real `dlwp run` prints, on a terminal (a pty) and in a pipe, on a small real table.

The first run is on a terminal and prints the short table; the identical rerun goes into a pipe
with --json and prints the summary. Both get plain lines: no escape sequences, no carriage
returns but the terminal's own line ends.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from benchmarks.real_tables import write_table

pytestmark = pytest.mark.e2e

DLWP = os.path.join(os.path.dirname(sys.executable), "dlwp")
# Anything but a printable character, a space or the end of a line.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
TIMEOUT_S = 600


def on_terminal(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Runs `command` with a pty as its terminal; returns its exit code and what it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the command closed the terminal (it ended)
                break
            if not chunk:
                break
            shown += chunk
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return code, shown.decode()


@pytest.fixture(scope="module")
def terminal_runs(tmp_path_factory):
    """The wine table (178 rows, 13 columns) run on a pty, then again into a pipe with --json;
    returns the home and both outputs."""
    folder = tmp_path_factory.mktemp("terminal")
    csv = write_table("wine", str(folder))
    home = str(folder / "home")
    env = {k: v for k, v in os.environ.items() if k != "DLWP_HOME"}
    command = [DLWP, "run", "--csv", csv, "--label", "cultivar", "--task", "multiclass"]
    command += ["--home", home, "--epochs", "20"]
    first = on_terminal(command, env)
    (folder / "terminal.txt").write_text(first[1])  # for the reader of a failure
    second = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, env=env, timeout=TIMEOUT_S
    )
    return home, first, second


def step_block(lines: list[str], step: str) -> list[str]:
    """The lines from `[k/N] step ...` to its done line, both included."""
    started = re.compile(rf"\[\d+/\d+\] {step} \.\.\.")
    start = next(i for i, line in enumerate(lines) if started.fullmatch(line))
    end = next(i for i in range(start, len(lines)) if f"] {step} done in " in lines[i])
    return lines[start : end + 1]


def shown_lines(terminal_runs) -> list[str]:
    """The lines the terminal showed, with the terminal's line ends (\r\n) read as lines."""
    _, (code, shown), _ = terminal_runs
    assert code == 0, shown[-3000:]
    text = shown.replace("\r\n", "\n")
    assert not CONTROL.search(text), repr(CONTROL.search(text))
    return text.splitlines()


def test_a_terminal_gets_one_line_per_epoch_under_the_trainer(terminal_runs):
    trainer = step_block(shown_lines(terminal_runs), "Trainer")
    prefix = len(trainer[0]) - len("Trainer ...")
    reported = trainer[1:-1]
    # Indented under the step's name (components/step_progress.py reports them).
    assert any("epoch" in line for line in reported), trainer
    assert all(line.startswith(" " * prefix) and line[prefix] != " " for line in reported)


def test_a_terminal_gets_one_line_per_exported_format(terminal_runs):
    home = terminal_runs[0]
    exporter = step_block(shown_lines(terminal_runs), "Exporter")
    with open(os.path.join(home, "exports", "wine", "1", "parity.json")) as f:
        formats = json.load(f)["formats"]
    first_words = [line.split()[0] for line in exporter[1:-1]]
    assert len(formats) == 7
    assert all(first_words.count(name) == 1 for name in formats), exporter


def test_a_terminal_gets_the_table_not_the_json(terminal_runs):
    home = terminal_runs[0]
    lines = shown_lines(terminal_runs)
    text = "\n".join(lines)
    assert "{" not in text  # the summary's JSON stays in summary.json
    test_row = r"  test accuracy +\d\.\d{4} +baseline \d\.\d{4} \(majority class accuracy\)"
    assert any(re.fullmatch(test_row, line) for line in lines), lines
    assert any(re.fullmatch(r"  blessed +yes", line) for line in lines), lines
    pushed = ["pushed", f"version 1   {home}/serving/wine/1"]
    assert any(line.split(maxsplit=1) == pushed for line in lines), lines
    request = os.path.join(home, "requests", "wine.json")
    assert (
        f"dlwp request wine --home {home} && curl -d @{request} "
        "localhost:8501/v1/models/wine:predict"
    ) in text
    (tensorboard,) = [line.split()[-1] for line in lines if "tensorboard --logdir" in line]
    assert os.path.isdir(tensorboard)
    (log_line,) = [line for line in lines if line.split()[:1] == ["log"]]
    assert os.path.isfile(log_line.split()[-1])
    # The end of the run names the version's report (docs/reports.md).
    (report_line,) = [line for line in lines if line.split()[:1] == ["report"]]
    assert report_line.split()[-1] == f"{home}/reports/wine/1/report.html"
    assert os.path.isfile(report_line.split()[-1])


def test_a_pipe_gets_plain_lines_and_json_the_summary(terminal_runs):
    home, _, piped = terminal_runs
    assert piped.returncode == 0, piped.stderr[-3000:]
    assert not CONTROL.search(piped.stdout)
    progress, _, body = piped.stdout.partition("\n{")
    summary = json.loads("{" + body)
    with open(os.path.join(home, "reports", "wine", "summary.json")) as f:
        assert summary == json.load(f)
    # The identical rerun reuses every step, and says so step by step.
    assert "Trainer" in summary["cached"]
    assert re.search(r"^\[\d+/\d+\] Trainer cached in \d+\.\d s$", progress, re.MULTILINE)
