"""summary.json (README, "Outputs"): what a run did, read from ML Metadata and the artifacts."""

import dataclasses
import os
from typing import Any

from components.baseline import BASELINE_FILE
from components.blessing import VERDICT_FILE
from components.class_metrics import per_class_summary, read_class_metrics
from components.exporting.exporter import PARITY_FILE
from components.models import HIGHER_IS_BETTER
from components.simple_models import SIMPLE_MODELS_FILE, compare
from components.trainer import TRAINING_FILE
from contract.report_files import REPORT_JSON
from contract.versions import read_json
from pipelines.run_record import RunRecord


def _uri(record: RunRecord | None, node_id: str, type_name: str) -> str | None:
    artifact = record.output(node_id, type_name) if record else None
    return artifact.uri if artifact else None


def pushed_version(record: RunRecord | None) -> int | None:
    """The version this run pushed, or None (a cached Pusher pushed nothing new)."""
    if record is None:
        return None
    pushed = record.output("Pusher", "PushedModel")
    if pushed is None or "Pusher" in record.cached:
        return None
    if pushed.custom_properties["pushed"].int_value != 1:
        return None
    return pushed.custom_properties["pushed_version"].int_value


def exports(record: RunRecord | None) -> dict[str, dict] | None:
    """Per format: size, metric, delta to the SavedModel, published; None when this run
    exported nothing (nothing pushed, or the version was exported before)."""
    if record is None:
        return None
    artifact = record.output("Exporter", "dlwp.InferenceExports")
    properties = artifact.custom_properties if artifact else {}
    # No "reused" property: nothing was pushed, so nothing was exported.
    if artifact is None or "reused" not in properties or properties["reused"].int_value:
        return None
    if "Exporter" in record.cached:
        return None
    parity = read_json(artifact.uri, PARITY_FILE)
    if not parity:
        return None
    keys = ("size_bytes", "gzip_bytes", "input", "metric", "delta", "published", "reason")
    return {name: {k: result.get(k) for k in keys} for name, result in parity["formats"].items()}


def report_page(record: RunRecord | None) -> str | None:
    """The page of the report this run wrote for its pushed version (docs/reports.md), or None
    (nothing pushed, so no new report)."""
    if record is None:
        return None
    artifact = record.output("ModelReportGen", "dlwp.ModelReport")
    if artifact is None or "ModelReportGen" in record.cached:
        return None
    properties = artifact.custom_properties
    if "written" not in properties or properties["written"].int_value != 1:
        return None
    return properties["report_path"].string_value


def model_run_dir(record: RunRecord | None) -> str | None:
    """The Trainer's model run folder: curves, history, training record."""
    return _uri(record, "Trainer", "ModelRun")


def _training(training: dict[str, Any] | None) -> dict[str, Any] | None:
    if not training:
        return None
    model = training["hyperparameters"]
    chosen = {k: model[k] for k in ("hidden_units", "dropout", "l2", "learning_rate")}
    return {
        **training["distribution"],
        "protocol": training["protocol"],
        "epochs": training["epochs"],
        "hyperparameters": chosen,
        "pruning": training.get("pruning"),
        "convergence": training.get("convergence"),
        "capacity": training.get("capacity"),
    }


def per_class(task, record: RunRecord | None, report_page: str | None = None) -> dict | None:
    """Per-class recall and balanced accuracy on test (book 6.1.4), by class name; None for
    regression or when the Evaluator did not run.

    With this run's report (`report_page`), they are the report's: counted at the served class
    ids, so at a binary model's launch threshold. TFMA's, configured before the Trainer chose
    that threshold, count a binary model's classes at 0.5.
    """
    if task.problem_type == "regression":
        return None
    report = read_json(os.path.dirname(report_page), REPORT_JSON) if report_page else None
    if report and report.get("classes"):
        classes = report["classes"]
        present = [c for c, n in enumerate(classes["support"]) if n > 0]
        recall = {c: classes["recall"][c] for c in present}
        counts = {c: classes["support"][c] for c in present}
        return per_class_summary(recall, counts, task.class_names)
    evaluation = _uri(record, "Evaluator", "ModelEvaluation")
    if not evaluation:
        return None
    recall, counts = read_class_metrics(evaluation, task.label)
    return per_class_summary(recall, counts, task.class_names)


def build_summary(task, record: RunRecord | None, timings_s: dict[str, float]) -> dict[str, Any]:
    """The summary of the latest run; fields of steps that did not run are null."""
    training = read_json(model_run_dir(record), TRAINING_FILE)
    report = report_page(record)
    baseline = read_json(_uri(record, "Baseline", "dlwp.Baseline"), BASELINE_FILE)
    verdict = read_json(_uri(record, "BlessingGate", "ModelBlessing"), VERDICT_FILE)
    blocking, data_warnings = record.data_checks(task.contract()) if record else ([], [])
    simple_models, model_warnings = compare(
        read_json(_uri(record, "SimpleModels", "dlwp.SimpleModels"), SIMPLE_MODELS_FILE),
        verdict["test"] if verdict else None,
    )
    return {
        "model": task.name,
        "task": task.problem_type,
        # Where the examples came from (components/sources.py): `dlwp retrain` runs it again.
        "source": dataclasses.asdict(task.source),
        "run_id": record.run_id if record else None,
        "examples": record.split_counts() if record else {},
        # A CSV's columns as understood (the whole report is columns.json beside the summary).
        "columns": task.data_report.summary() if task.data_report else None,
        # The data gate's (components/data_gate.py): what stopped the run, what it let through.
        "anomalies": blocking,
        "data_warnings": data_warnings,
        "metric": {
            "name": task.metric,
            "higher_is_better": HIGHER_IS_BETTER[task.metric],
            "test": verdict["test"] if verdict else None,
            "eval": training["eval"] if training else None,
            "folds": training["folds"] if training else None,
            "fold_mean": training.get("fold_mean") if training else None,
            "fold_std": training.get("fold_std") if training else None,
        },
        "baseline": {"name": baseline["name"], "test": baseline["test"]} if baseline else None,
        "simple_models": simple_models,
        "per_class": per_class(task, record, report),
        "model_warnings": (task.data_report.warnings() if task.data_report else [])
        + model_warnings,
        "blessed": verdict["blessed"] if verdict else False,
        "blessing_reasons": verdict["reasons"] if verdict else [],
        "pushed_version": pushed_version(record),
        "exports": exports(record),
        # The version's report for people (docs/reports.md): report.html, served at /reports/.
        "report": report,
        "training": _training(training),
        # The Trainer writes TensorBoard's event files into its model run (book 7.3.4).
        "tensorboard": model_run_dir(record),
        "timings_s": timings_s,
        "cached": record.cached if record else [],
    }
