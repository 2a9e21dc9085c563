"""What `dlwp run` prints once the pipeline is done: the short table, or with --json the summary.

The pipeline itself is replaced by a run that reports one step and pushes version 1, so the
CLI's own part runs for real: flags, the log redirection, the table and its commands.
"""

from __future__ import annotations

import json
import os

import pytest

SUMMARY = {
    "model": "boston_housing",
    "task": "regression",
    "examples": {"train": 340, "eval": 64, "test": 102},
    "metric": {"name": "mae", "test": 2.61, "eval": 2.9, "folds": None},
    "baseline": {"name": "mean_prediction_mae", "test": 6.125},
    "simple_models": None,
    "blessed": True,
    "blessing_reasons": ["beats the common-sense baseline"],
    "pushed_version": 1,
    "exports": None,
    "training": {"epochs": 80},
    "tensorboard": None,
    "timings_s": {"total": 61.0, "Trainer": 40.0},
    "cached": [],
}


@pytest.fixture
def pipeline_that_pushes(monkeypatch):
    """`local_runner.run` as a run that reports one step, pushes version 1 and writes its
    summary where the real one does."""
    from pipelines import local_runner

    def run(task, settings, terminal, log_path):
        terminal.write("[1/1] Trainer ...\n")
        paths = local_runner.HomePaths(settings.home, task.name)
        os.makedirs(os.path.join(paths.serving, "1"))
        os.makedirs(paths.reports)
        with open(paths.summary_path, "w") as f:
            json.dump(SUMMARY, f)
        return SUMMARY

    monkeypatch.setattr(local_runner, "run", run)


@pytest.mark.usefixtures("pipeline_that_pushes")
def test_json_prints_the_summary_after_the_progress(run_cli, tmp_path):
    code, out, _ = run_cli("run", "boston_housing", "--home", str(tmp_path), "--json")
    progress, _, rest = out.partition("\n{")
    assert code == 0
    assert progress.startswith("dlwp run boston_housing: logs in ")
    assert progress.splitlines()[-1] == "[1/1] Trainer ..."
    assert json.loads("{" + rest) == SUMMARY


@pytest.mark.usefixtures("pipeline_that_pushes")
def test_without_json_the_table_names_the_version_and_the_commands_to_try_it(run_cli, tmp_path):
    home = str(tmp_path / "my home")
    code, out, _ = run_cli("run", "boston_housing", "--home", home)
    lines = out.splitlines()
    request = os.path.join(home, "requests", "boston_housing.json")
    assert code == 0
    assert "{" not in out
    assert "boston_housing: regression, 340 train, 64 eval, 102 test examples" in lines
    assert " ".join(next(line for line in lines if "pushed" in line).split()) == (
        f"pushed version 1 {home}/serving/boston_housing/1"
    )
    assert f"dlwp serve --home '{home}'" in out
    assert (
        f"dlwp request boston_housing --home '{home}' && curl -d @'{request}' "
        "localhost:8501/v1/models/boston_housing:predict"
    ) in out
    (log,) = os.listdir(os.path.join(home, "logs"))
    assert any(line.split(maxsplit=1) == ["log", os.path.join(home, "logs", log)] for line in lines)


@pytest.mark.usefixtures("pipeline_that_pushes")
def test_the_commands_leave_out_the_home_they_would_find_anyway(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DLWP_HOME", str(tmp_path))
    code, out, _ = run_cli("run", "boston_housing")
    assert code == 0
    assert "--home" not in out
    assert any(line.split() == ["serve", "dlwp", "serve"] for line in out.splitlines())
