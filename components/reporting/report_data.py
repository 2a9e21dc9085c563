"""Builds a pushed version's report.json (docs/reports.md) from the pipeline's artifacts and the
model's answers on the test split.

Everything is measured on test, but the launch threshold's choice (on eval, by the Trainer) and
the Trainer's own eval and fold scores.

    report, figures = build_report(ReportSources(...), task, "fashion_mnist", 3, 1000)
"""

from __future__ import annotations

import dataclasses
import datetime
import os

import numpy as np
import tensorflow as tf
from tensorflow_model_analysis.writers import eval_config_writer

from components.baseline import BASELINE_FILE, read_labels
from components.blessing import read_tfma_metric
from components.csv_columns import ColumnReport, PossibleLeak
from components.data_gate import GATE_FILE, read_split_statistics, warning_lines
from components.exporting.publishing import PARITY_FILE
from components.launch_threshold import THRESHOLD_FILE
from components.models import HIGHER_IS_BETTER
from components.reporting import failure_modes, measures
from components.reporting.split_predictions import SplitAnswers, predict_test_split
from components.signatures import saved_threshold
from components.simple_models import SIMPLE_MODELS_FILE, compare
from components.trainer import TRAINING_FILE
from contract.features import ProblemType
from contract.signatures import DECISION_THRESHOLD
from contract.task import TaskContract
from contract.version_assets import ASSETS_EXTRA, SOURCE_FILE
from contract.versions import list_versions, read_json

SCHEMA_VERSION = 1
SPLITS = ("train", "eval", "test")
COLUMNS_FILE = "columns.json"  # the CSV column report the local runner writes (reports dir)
LOSS_FIGURE = "loss.png"
# TFMA's name of the model the candidate is compared with (the Evaluator's baseline_model).
TFMA_BASELINE = "baseline"
SERVING_MODEL_DIR = "Format-Serving"  # TFX's folder of the SavedModel in a Model artifact
EXPORT_KEYS = ("size_bytes", "gzip_bytes", "metric", "delta", "published", "reason")


@dataclasses.dataclass(frozen=True)
class ReportSources:
    """Where a report's inputs are: artifact folders and the pipeline's output folders.

    Attributes:
        examples: ExampleGen's Examples (`Split-<name>/` gzipped TFRecords).
        model_run: the Trainer's model run (training.json, the curves, threshold.json).
        pushed_dir: the published version, `<serving_dir>/<version>`.
        evaluation: TFMA's output (the Evaluator's ModelEvaluation).
        baseline: the Baseline's folder (baseline.json).
        simple_models: the SimpleModels' folder (simple_models.json).
        data_gate: the DataGate's folder (data_gate.json).
        statistics: StatisticsGen's folder (`Split-<name>/FeatureStats.pb`).
        exports: the Exporter's folder (parity.json), or "" when it did not export.
        reports_dir: `<home>/reports/<model>` (columns.json of a CSV task).
        data_dir: keras's dataset files (a word index), or "".
    """

    examples: str
    model_run: str
    pushed_dir: str
    evaluation: str
    baseline: str
    simple_models: str
    data_gate: str
    statistics: str
    exports: str
    reports_dir: str
    data_dir: str = ""


def last_blessed_version(evaluation_uri: str, serving_dir: str, version: int) -> int | None:
    """The served version TFMA compared the candidate with: the highest version below
    `version` published from the Evaluator's baseline model (its `source_model.txt`); the
    previous served version when none names it; None when there is none."""
    _, _, _, locations = eval_config_writer.load_eval_run(evaluation_uri)
    location = (locations or {}).get(TFMA_BASELINE, "").rstrip("/")
    model_uri = os.path.dirname(location) if location.endswith(SERVING_MODEL_DIR) else location
    earlier = [v for v in list_versions(serving_dir) if v < version]
    for candidate in reversed(earlier):
        path = os.path.join(serving_dir, str(candidate), ASSETS_EXTRA, SOURCE_FILE)
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as f:
                if model_uri and f.read().strip() == model_uri:
                    return candidate
    return earlier[-1] if earlier else None


def _task(task: TaskContract) -> dict:
    return {
        "problem_type": task.problem_type.value,
        "label": task.label,
        "metric": task.metric,
        "higher_is_better": HIGHER_IS_BETTER[task.metric],
        "class_names": list(task.class_names) if task.class_names else None,
        "features": [{"name": f.name, "kind": f.kind.value} for f in task.features],
    }


def _success(
    task: TaskContract,
    answers: SplitAnswers,
    sources: ReportSources,
    version: int,
    baseline: dict | None,
):
    success = measures.success_interval(
        task.metric,
        answers.labels,
        scores=answers.scores,
        class_ids=answers.class_ids,
        predictions=answers.predictions,
    )
    scores = read_tfma_metric(sources.evaluation, task.metric)
    last_blessed = None
    if TFMA_BASELINE in scores:
        last_blessed = {
            "version": last_blessed_version(
                sources.evaluation, os.path.dirname(sources.pushed_dir.rstrip("/")), version
            ),
            "test": scores[TFMA_BASELINE],
        }
    simple, _ = compare(read_json(sources.simple_models, SIMPLE_MODELS_FILE), success["test"])
    return {
        **success,
        "baseline": {"name": baseline["name"], "test": baseline["test"]} if baseline else None,
        "last_blessed": last_blessed,
        "simple_models": {k: simple[k] for k in ("models", "best", "deep_model_wins")}
        if simple
        else None,
    }


def _threshold(
    labels: np.ndarray, scores: np.ndarray, model_run: str, live: float, cases_per_day: int
) -> dict:
    chosen = read_json(model_run, THRESHOLD_FILE) or {}
    return {
        "live": live,
        "rule": chosen.get("rule", {"kind": "threshold", "value": DECISION_THRESHOLD}),
        "chosen_on": chosen.get("chosen_on"),
        "eval_examples": chosen.get("eval_examples"),
        "eval": chosen.get("eval"),
        **measures.threshold_table(labels, scores, live, cases_per_day),
    }


def _training(model_run: str) -> dict:
    training = read_json(model_run, TRAINING_FILE) or {}
    names = [LOSS_FIGURE, f"{training.get('metric')}.png"]
    return {
        "protocol": training.get("protocol"),
        "epochs": training.get("epochs"),
        "eval": training.get("eval"),
        "folds": training.get("folds"),
        "fold_mean": training.get("fold_mean"),
        "fold_std": training.get("fold_std"),
        "figures": [n for n in names if tf.io.gfile.exists(os.path.join(model_run, n))],
    }


def _columns(reports_dir: str) -> tuple[dict | None, list[str]]:
    """The column report's summary (as summary.json's `columns`) and its warnings, from the
    columns.json the local runner wrote for a CSV task; (None, []) for another task."""
    report = read_json(reports_dir, COLUMNS_FILE)
    if not report:
        return None, []
    leaks = [dict(leak) for leak in report.get("possible_leaks", [])]
    summary = {
        "kinds": {c["name"]: c["kind"] for c in report["columns"]},
        "left_out": report.get("left_out", {}),
        "empty_label_rows": report.get("empty_label_rows", 0),
        "duplicate_rows": report.get("duplicate_rows", {}),
        "possible_leaks": leaks,
    }
    # The sentences are ColumnReport's own; they read only the leaks and the duplicates.
    sentences = ColumnReport(
        path=report["file"],
        label=report["label"],
        rows_read=report["rows_read"],
        empty_label_lines=(),
        split=report["split"],
        split_counts=report["split_counts"],
        class_names=None,
        columns=(),
        duplicate_rows=summary["duplicate_rows"],
        possible_leaks=tuple(PossibleLeak(**leak) for leak in leaks),
    ).warnings()
    return summary, sentences


def _data(task: TaskContract, sources: ReportSources, test_labels: np.ndarray) -> dict:
    splits = {}
    for split in SPLITS:
        statistics = read_split_statistics(sources.statistics, split)
        splits[split] = int(statistics.num_examples) if statistics is not None else None
    balance = None
    if task.problem_type is not ProblemType.REGRESSION:
        classes = task.num_classes or 2
        labels = {
            split: read_labels(sources.examples, split, task.label, task.problem_type.value)
            for split in ("train", "eval")
        }
        labels["test"] = test_labels
        balance = {
            split: np.bincount(values.astype(np.int64), minlength=classes).tolist()
            for split, values in labels.items()
        }
    columns, sentences = _columns(sources.reports_dir)
    gate = read_json(sources.data_gate, GATE_FILE) or {}
    anomalies = [
        line.removeprefix("data warning: ") for line in warning_lines(gate.get("warnings", []))
    ]
    return {
        "splits": splits,
        "class_balance": balance,
        "columns": columns,
        "warnings": sentences,
        "anomalies": anomalies,
    }


def _exports(exports_uri: str) -> dict | None:
    parity = read_json(exports_uri, PARITY_FILE)
    if not parity:
        return None
    return {
        name: {k: result.get(k) for k in EXPORT_KEYS} for name, result in parity["formats"].items()
    }


def _figures(model_run: str, names: list[str]) -> dict[str, bytes]:
    figures = {}
    for name in names:
        with tf.io.gfile.GFile(os.path.join(model_run, name), "rb") as f:
            figures[name] = f.read()
    return figures


def build_report(
    sources: ReportSources,
    task: TaskContract,
    model_name: str,
    version: int,
    cases_per_day: int = measures.DEFAULT_CASES_PER_DAY,
    created: datetime.datetime | None = None,
) -> tuple[dict, dict[str, bytes]]:
    """The report of `version` (report.json's dict) and the Trainer's curve PNGs by name.

    Raises:
        ValueError: the test split has no examples.
    """
    model = tf.saved_model.load(sources.pushed_dir)
    answers = predict_test_split(sources.examples, model, task)
    regression = task.problem_type is ProblemType.REGRESSION
    names = (
        None if regression else measures.class_names_or_ids(task.class_names, task.num_classes or 2)
    )
    kind = failure_modes.failure_kind(task)
    word_index = (
        failure_modes.read_word_index(sources.data_dir, model_name)
        if kind == failure_modes.SEQUENCE
        else None
    )
    baseline = read_json(sources.baseline, BASELINE_FILE)
    training = _training(sources.model_run)
    created = created or datetime.datetime.now(datetime.timezone.utc)
    classes = threshold = errors = None
    if answers.predictions is not None:
        errors = measures.regression_errors(
            answers.labels, answers.predictions, (baseline or {}).get("train_mean")
        )
    elif answers.class_ids is not None:
        classes = measures.class_errors(answers.labels, answers.class_ids, names or [])
        if task.problem_type is ProblemType.BINARY and answers.scores is not None:
            # The float32 variable as its shortest decimal: 0.3, not 0.30000001192.
            live = float(str(np.float32(saved_threshold(model))))
            threshold = _threshold(
                answers.labels, answers.scores, sources.model_run, live, cases_per_day
            )
    report = {
        "schema_version": SCHEMA_VERSION,
        "model": model_name,
        "version": int(version),
        "created": created.isoformat(timespec="seconds"),
        "task": _task(task),
        "success": _success(task, answers, sources, version, baseline),
        "classes": classes,
        "threshold": threshold,
        "regression": errors,
        "failure_modes": {
            "kind": kind,
            "examples": failure_modes.render_failure_modes(
                answers.worst, task, kind, names or [], word_index
            ),
        },
        "training": training,
        "data": _data(task, sources, answers.labels),
        "exports": _exports(sources.exports),
    }
    return report, _figures(sources.model_run, training["figures"])
