"""`--threshold`, `--target-fpr` and `--target-recall`: binary tasks only, at most one, refused
before TensorFlow loads, and passed to the Trainer as its launch-threshold rule."""

import pytest

from components.launch_threshold import ThresholdRule
from components.trainer import TrainerConfig


def _usage_error(capsys, *argv):
    from pipelines import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(argv))
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.usefixtures("offline")
def test_a_threshold_flag_for_a_regression_task_is_refused_naming_its_problem_type(
    tmp_path, capsys
):
    home = str(tmp_path)
    err = _usage_error(capsys, "run", "boston_housing", "--home", home, "--target-fpr", "0.05")
    assert "--target-fpr sets a binary task's launch threshold" in err
    assert "boston_housing is a regression task" in err
    assert not (tmp_path / "reports").exists()


@pytest.mark.usefixtures("offline")
def test_a_threshold_flag_for_a_multiclass_csv_is_refused(tmp_path, capsys):
    table = tmp_path / "flowers.csv"
    table.write_text("petal,label\n1.0,0\n2.0,1\n3.0,2\n")
    argv = ["run", "--csv", str(table), "--label", "label", "--task", "multiclass"]
    err = _usage_error(capsys, *argv, "--home", str(tmp_path), "--threshold", "0.3")
    assert "is a multiclass task" in err and "--threshold" in err


def test_two_threshold_flags_are_refused(tmp_path, capsys):
    err = _usage_error(
        capsys, "run", "imdb", "--home", str(tmp_path), "--threshold", "0.3", "--target-fpr", "0.1"
    )
    assert "not allowed with argument" in err


def test_a_target_out_of_range_is_refused(tmp_path, capsys):
    err = _usage_error(capsys, "run", "imdb", "--home", str(tmp_path), "--target-recall", "1.5")
    assert "--target-recall is a rate (or a score) strictly between 0 and 1" in err


def test_compile_refuses_a_threshold_flag_for_a_multiclass_dataset(tmp_path, capsys):
    argv = ["compile", "mnist", "--target", "kubeflow", "--output", str(tmp_path / "job.json")]
    argv += ["--pipeline-root", "gs://bucket/dlwp", "--home", str(tmp_path)]
    err = _usage_error(capsys, *argv, "--target-recall", "0.9")
    assert "mnist is a multiclass task" in err


def test_the_rule_reaches_the_trainers_config():
    from pipelines.pipeline import trainer_config
    from pipelines.settings import TrainingOptions
    from pipelines.tasks import BOOK_TASKS

    config = trainer_config(BOOK_TASKS["imdb"], TrainingOptions(target_fpr=0.05))
    assert config["threshold_rule"] == {"kind": "target_fpr", "value": 0.05}
    assert TrainerConfig.from_custom_config(config).threshold_rule == ThresholdRule(
        "target_fpr", 0.05
    )
    default = trainer_config(BOOK_TASKS["imdb"], TrainingOptions())
    assert default["threshold_rule"] == {"kind": "threshold", "value": 0.5}
