"""`dlwp retrain MODEL` (book 6.3.4, docs/monitoring.md, "Retraining"): the model's pipeline
again, as its last run was made, with the labelled feedback joining train.

    plan = plan_retrain(home, feedback_dir, "houses", ["--epochs", "50"])
    # plan.run_argv: ["--csv", "/data/houses.csv", "--label", "price", "--task", "regression",
    #                 "--home", home, "--extra-data", "<feedback>/houses", "--epochs", "50"]

The last run is the one `<home>/reports/<model>/summary.json` records (its `source`: the book's
dataset or the CSV, its label and task); a binary model keeps its launch-threshold rule, read
from the newest pushed version's report.json. Plain files only: TensorFlow loads when the
pipeline runs, after the plan is known to be worth it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

from components.errors import DlwpError
from contract.feedback_index import IndexReader, index_files
from contract.report_files import REPORT_JSON
from contract.versions import parse_version

# Flags retrain sets itself: the pass-through ones may not set them again.
OWN_FLAGS = ("--csv", "--label", "--task", "--home", "--extra-data")
THRESHOLD_FLAGS = {
    "threshold": "--threshold",
    "target_fpr": "--target-fpr",
    "target_recall": "--target-recall",
}
# The rule every binary model has unless a flag chose another (contract/signatures.py's 0.5).
DEFAULT_RULE = {"kind": "threshold", "value": 0.5}


class RetrainError(DlwpError):
    """Nothing to retrain with, or no record of how the model was made (exit 2)."""


class NothingNew(RetrainError):
    """No label since the last version: nothing to do (exit 0, so that a nightly CronJob's
    Job without new labels succeeds)."""


@dataclasses.dataclass(frozen=True)
class RetrainPlan:
    """What `dlwp retrain` runs and why.

    Attributes:
        model: the model's name.
        run_argv: the `dlwp run` arguments.
        new_labels: labels given after the newest pushed version was published.
        since_ms: that version's time (ms since the epoch), or None when none is pushed.
        latest_version: the newest pushed version, or None.
    """

    model: str
    run_argv: tuple[str, ...]
    new_labels: int
    since_ms: int | None
    latest_version: int | None


def read_summary(home: str, model: str) -> dict:
    """The model's summary.json (its last `dlwp run`).

    Raises:
        RetrainError: there is none, or it does not say where the examples came from.
    """
    path = os.path.join(home, "reports", model, "summary.json")
    if not os.path.isfile(path):
        raise RetrainError(
            f"no run of {model!r} in {home} ({path} is missing): retrain runs the model's last "
            f"`dlwp run` again; run it first (or check --home)"
        )
    with open(path) as f:
        summary = json.load(f)
    if not summary.get("source"):
        raise RetrainError(
            f"{path} does not record where {model!r}'s examples came from (it was written by an "
            f"older dlwp): run `dlwp run ... --extra-data <feedback>/{model}` yourself once"
        )
    return summary


def source_argv(source: dict) -> list[str]:
    """The `dlwp run` arguments that name a run's examples: the book's dataset, or the CSV with
    its label and task (components/sources.py's KerasSource or CsvSource, as summary.json holds
    them).

    Raises:
        RetrainError: an unknown kind of source.
    """
    if source.get("kind") == "keras":
        return [source["dataset"]]
    if source.get("kind") == "csv":
        return [
            "--csv",
            source["path"],
            "--label",
            source["label"],
            "--task",
            source["problem_type"],
        ]
    raise RetrainError(f"summary.json names a source dlwp retrain does not know: {source}")


def threshold_argv(report: dict | None) -> list[str]:
    """The launch-threshold flag that chose a binary version's threshold (report.json's
    `threshold.rule`); none for the default rule or a model without one."""
    rule = ((report or {}).get("threshold") or {}).get("rule")
    if not rule or rule == DEFAULT_RULE or rule["kind"] not in THRESHOLD_FLAGS:
        return []
    return [THRESHOLD_FLAGS[rule["kind"]], f"{rule['value']:g}"]


def _report(home: str, model: str, version: int | None) -> dict | None:
    if version is None:
        return None
    path = os.path.join(home, "reports", model, str(version), REPORT_JSON)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def version_time_ms(serving_dir: str, version: int) -> int:
    """When a version was published: its folder's modification time, in ms (the Pusher fills
    a staged folder and renames it into place, so the time is the last file written)."""
    return int(os.stat(os.path.join(serving_dir, str(version))).st_mtime * 1000)


def count_new_labels(folder: str, since_ms: int | None) -> int:
    """Labelled examples in the feedback index of `folder` whose label came after `since_ms`
    (all, for None). Read here, not with components.extra_data.labelled_since: that one walks
    the folder with tf.io.gfile, and loading TensorFlow (~10 s) to say "nothing new" is too
    slow."""
    reader = IndexReader(folder)
    try:
        return len(reader.labelled(since_ms))
    finally:
        reader.close()


def plan_retrain(
    home: str, feedback_dir: str, model: str, extra_args: Sequence[str] = ()
) -> RetrainPlan:
    """How to retrain `model`, or why not.

    Args:
        home: the dlwp home of the model's runs.
        feedback_dir: the server's --feedback-dir (`<feedback_dir>/<model>` holds the index).
        model: the model's name (a book dataset or a CSV's name).
        extra_args: further `dlwp run` flags (e.g. --epochs 50), after those of the last run.

    Raises:
        RetrainError: no record of the last run, no feedback index, no label newer than the
            newest pushed version, or `extra_args` set a flag retrain sets itself.
    """
    own = [flag for flag in extra_args if flag.split("=")[0] in OWN_FLAGS]
    if own:
        raise RetrainError(
            f"dlwp retrain sets {', '.join(own)} itself (from the last run and --feedback-dir): "
            "leave it out of the flags after --"
        )
    summary = read_summary(home, model)
    folder = os.path.join(feedback_dir, model)
    if not index_files(folder):
        raise RetrainError(
            f"no feedback index for {model!r} in {folder}: serve it with `dlwp serve "
            "--feedback-rate R`, label examples (POST :feedback or /label/<model>/), or give "
            "the folder with --feedback-dir"
        )
    serving_dir = os.path.join(home, "serving", model)
    # Not contract.versions.list_versions: it loads TensorFlow (for gs://), and the home is local.
    names = os.listdir(serving_dir) if os.path.isdir(serving_dir) else []
    versions = sorted(
        v
        for v in map(parse_version, names)
        if v is not None and os.path.isdir(os.path.join(serving_dir, str(v)))
    )
    latest = versions[-1] if versions else None
    since_ms = version_time_ms(serving_dir, latest) if latest is not None else None
    new_labels = count_new_labels(folder, since_ms)
    if new_labels == 0:
        when = f"version {latest} was pushed" if latest is not None else "ever"
        raise NothingNew(
            f"no labels of {model!r} since {when} (in {folder}): a retrained model would learn "
            "nothing new; label production examples first (dlwp audit "
            f"{model} shows how many are labelled)"
        )
    argv = [*source_argv(summary["source"]), "--home", home, "--extra-data", folder]
    if not any(flag.split("=")[0] in THRESHOLD_FLAGS.values() for flag in extra_args):
        argv += threshold_argv(_report(home, model, latest))
    return RetrainPlan(model, (*argv, *extra_args), new_labels, since_ms, latest)
