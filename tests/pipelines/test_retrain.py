"""`dlwp retrain`: when it runs, and the `dlwp run` it runs (without running TFX: the argv is
parsed by the real `dlwp run` parser, and the run stops at its first usage check)."""

import dataclasses
import json
import os

import pytest

from components.sources import CsvSource
from pipelines.cli import build_parser
from pipelines.retrain import plan_retrain, source_argv
from pipelines.tasks import BOOK_TASKS
from serving.feedback_index import FeedbackIndex, Label, LoggedExample

MODEL = "houses"
PUSHED_MS = 1_790_000_000_000


def _logged(request_id):
    return LoggedExample(
        request_id, 0, MODEL, 1, "", "regression", 10.0, None, 0.5, 1, "feedback-x.tfrecord.gz", 0
    )


@pytest.fixture
def home(tmp_path):
    """A CSV model run once (summary.json), version 1 pushed at PUSHED_MS with a report whose
    launch threshold came from --target-fpr 0.05, and one label given before the push."""
    csv = CsvSource("/data/houses.csv", "price", "regression")
    reports = tmp_path / "reports" / MODEL
    (reports / "1").mkdir(parents=True)
    (reports / "summary.json").write_text(
        json.dumps({"model": MODEL, "source": dataclasses.asdict(csv)})
    )
    rule = {"kind": "target_fpr", "value": 0.05}
    (reports / "1" / "report.json").write_text(json.dumps({"threshold": {"rule": rule}}))
    version = tmp_path / "serving" / MODEL / "1"
    version.mkdir(parents=True)
    os.utime(version, (PUSHED_MS / 1000, PUSHED_MS / 1000))
    _label(tmp_path, "old", PUSHED_MS - 60_000)
    return tmp_path


def _label(home, request_id, at_ms):
    index = FeedbackIndex(str(home / "feedback" / MODEL), start_us=at_ms * 1000)
    index.add_logged([_logged(request_id)])
    index.add_labels([Label(request_id, 0, 12.0, at_ms, "api")])
    index.close()


def test_book_and_csv_sources_become_the_run_flags_that_made_them():
    parser = build_parser()
    book = parser.parse_args(["run", *source_argv(dataclasses.asdict(BOOK_TASKS["imdb"].source))])
    assert (book.dataset, book.csv) == ("imdb", None)
    csv = CsvSource("/data/my houses.csv", "price", "regression")
    args = parser.parse_args(["run", *source_argv(dataclasses.asdict(csv))])
    assert (args.dataset, args.csv, args.label, args.task) == (
        None,
        "/data/my houses.csv",
        "price",
        "regression",
    )


def test_only_labels_after_the_push_count(home):
    _label(home, "new", PUSHED_MS + 60_000)
    plan = plan_retrain(str(home), str(home / "feedback"), MODEL, ["--epochs", "5"])
    assert (plan.new_labels, plan.latest_version, plan.since_ms) == (1, 1, PUSHED_MS)
    args = build_parser().parse_args(["run", *plan.run_argv])
    assert (args.csv, args.label, args.task) == ("/data/houses.csv", "price", "regression")
    assert args.extra_data == str(home / "feedback" / MODEL)
    assert args.home == str(home)
    assert args.target_fpr == 0.05  # the version's launch-threshold rule is kept
    assert args.epochs == 5


def test_a_threshold_flag_given_replaces_the_versions_rule(home):
    _label(home, "new", PUSHED_MS + 60_000)
    plan = plan_retrain(str(home), str(home / "feedback"), MODEL, ["--threshold", "0.3"])
    args = build_parser().parse_args(["run", *plan.run_argv])
    assert (args.threshold, args.target_fpr) == (0.3, None)


def test_no_label_since_the_push_is_nothing_to_do_and_exits_0(run_cli, home):
    # A nightly CronJob's Job without new labels must succeed, not fail every night.
    code, out, err = run_cli("retrain", MODEL, "--home", str(home))
    assert code == 0, err
    assert f"nothing to do: no labels of '{MODEL}' since version 1 was pushed" in out
    assert "dlwp run" not in out and "Traceback" not in err


def test_retrain_runs_dlwp_run_in_process_with_the_last_runs_flags(capsys, home):
    from pipelines import cli

    _label(home, "new", PUSHED_MS + 60_000)
    # --max-examples -1 is refused by `dlwp run` itself, before TensorFlow loads.
    with pytest.raises(SystemExit):
        cli.main(["retrain", MODEL, "--home", str(home), "--", "--max-examples", "-1"])
    captured = capsys.readouterr()
    assert captured.out.startswith(
        f"dlwp retrain {MODEL}: 1 new label since version 1; dlwp run --csv /data/houses.csv "
        f"--label price --task regression --home {home} --extra-data {home}/feedback/{MODEL} "
        "--target-fpr 0.05 --max-examples -1"
    )
    assert "--max-examples must be positive" in captured.err


def test_without_a_run_record_exits_2(run_cli, tmp_path):
    code, _, err = run_cli("retrain", MODEL, "--home", str(tmp_path))
    assert code == 2
    assert f"no run of '{MODEL}' in {tmp_path}" in err


def test_a_summary_without_its_source_exits_2(run_cli, home):
    (home / "reports" / MODEL / "summary.json").write_text(json.dumps({"model": MODEL}))
    code, _, err = run_cli("retrain", MODEL, "--home", str(home))
    assert code == 2
    assert "does not record where 'houses'" in err and "--extra-data" in err


def test_without_feedback_exits_2_naming_the_folder(run_cli, home):
    code, _, err = run_cli("retrain", MODEL, "--home", str(home), "--feedback-dir", str(home))
    assert code == 2
    assert f"no feedback index for '{MODEL}' in {home / MODEL}" in err


@pytest.mark.parametrize("flag", ["--extra-data=/elsewhere", "--csv", "--home"])
def test_flags_retrain_sets_itself_are_refused(run_cli, home, flag):
    code, _, err = run_cli("retrain", MODEL, "--home", str(home), "--", flag, "x")
    assert code == 2
    assert f"dlwp retrain sets {flag} itself" in err
