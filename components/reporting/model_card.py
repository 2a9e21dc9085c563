"""The model card of a version (docs/reports.md), in the Model Card Toolkit's schema v0.0.2.

    card = model_card(report)
    validate(card)   # jsonschema.ValidationError when it does not follow the schema

The schema is contract/schemas/model_card.schema.json (copied from tensorflow/model-card-toolkit,
Apache 2.0): the toolkit itself cannot be installed beside TFX 1.16's TFMA, its schema can. Every
value the card holds is read from report.json; metric values are strings, as the schema wants.
"""

from __future__ import annotations

import functools
import json
import os

import contract
from components.reporting import text

SCHEMA_VERSION = "0.0.2"
SCHEMA_PATH = os.path.join(os.path.dirname(contract.__file__), "schemas", "model_card.schema.json")
PROBLEMS = {
    "multiclass": "multiclass classifier",
    "binary": "binary classifier",
    "regression": "regression model",
}


def model_card(report: dict) -> dict:
    """The model card of `report` (report.json's schema)."""
    task, success = report["task"], report["success"]
    features = ", ".join(f"{f['name']} ({f['kind']})" for f in task["features"])
    problem = PROBLEMS.get(task["problem_type"], task["problem_type"])
    return {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": report["model"],
            "overview": " ".join(text.success_sentences(report)),
            "version": {"name": str(report["version"]), "date": report["created"][:10]},
        },
        "model_parameters": {
            "model_architecture": (
                f"A densely connected {problem} of {task['label']!r} from {features}, trained "
                f"with the universal workflow of Deep Learning with Python (ch. 6), "
                f"{report['training']['protocol']} validation."
            ),
            "data": [
                {"name": split, "description": f"{count} examples ({split} split)"}
                for split, count in report["data"]["splits"].items()
            ],
            "input_format": f"one value per feature: {features}",
            "output_format": _output_format(report),
        },
        "quantitative_analysis": {"performance_metrics": _metrics(report)},
        "considerations": {
            "use_cases": [
                {
                    "description": f"Predicting {task['label']!r} for {text.units(report)[1]} like "
                    f"those of the test split, where {success['metric']} is the measure of success."
                }
            ],
            "limitations": [{"description": d} for d in _limitations(report)],
            "tradeoffs": [{"description": d} for d in text.threshold_sentences(report)],
        },
    }


def _output_format(report: dict) -> str:
    problem = report["task"]["problem_type"]
    if problem == "regression":
        return "predictions: one number per example"
    if problem == "binary":
        live = report["threshold"]["live"] if report["threshold"] else 0.5
        return (
            f"scores: the probability of class 1; class_ids: 1 when the score is above {live:.4g}"
        )
    return "scores: one probability per class; class_ids: the most probable class"


def _metric(
    kind: str, value: float | None, slice_name: str, interval: tuple[float, float] | None = None
) -> dict:
    metric: dict[str, object] = {
        "type": kind,
        "value": "n/a" if value is None else f"{value:.6g}",
        "slice": slice_name,
    }
    if interval:
        metric["confidence_interval"] = {
            "lower_bound": f"{interval[0]:.6g}",
            "upper_bound": f"{interval[1]:.6g}",
        }
    return metric


def _metrics(report: dict) -> list[dict]:
    success = report["success"]
    metrics = [
        _metric(success["metric"], success["test"], "test", (success["low"], success["high"]))
    ]
    if success["baseline"]:
        name = success["baseline"]["name"]
        metrics.append(
            _metric(
                f"{success['metric']} of the baseline ({name})", success["baseline"]["test"], "test"
            )
        )
    classes = report.get("classes")
    if classes:
        label = report["task"]["label"]
        for class_id, name in enumerate(classes["names"]):
            for kind in ("recall", "precision"):
                metrics.append(_metric(kind, classes[kind][class_id], f"test, {label}={name}"))
    threshold = report.get("threshold")
    if threshold:
        row = threshold["live_row"]
        for kind in ("fpr", "fnr", "recall", "precision"):
            metrics.append(
                _metric(f"{kind} at threshold {threshold['live']:.4g}", row[kind], "test")
            )
    regression = report.get("regression")
    if regression:
        for quantile, value in regression["abs_errors"]["quantiles"].items():
            metrics.append(_metric(f"absolute error, quantile {quantile}", value, "test"))
        metrics.append(
            _metric(
                f"share within ±{regression['tolerance']:g}", regression["within_tolerance"], "test"
            )
        )
    return metrics


def _limitations(report: dict) -> list[str]:
    limitations = [
        f"Often confused: {sentence}" for sentence in text.confusion_sentences(report, 3)
    ]
    failures = report["failure_modes"]["examples"]
    if failures and failures[0]["confidence"] is not None:
        worst = failures[0]
        limitations.append(
            f"Wrong with confidence: the worst test {text.units(report)[0]} is a {worst['true']} "
            f"predicted as {worst['predicted']} with score {worst['confidence']:.2f}."
        )
    simple = report["success"]["simple_models"]
    if simple and simple.get("deep_model_wins") is False:
        limitations.append(f"A simple model ({simple['best']}) does better on test.")
    data = report["data"]
    limitations += [f"Data: {warning}" for warning in data["warnings"]]
    limitations += [f"Data anomaly: {anomaly}" for anomaly in data["anomalies"]]
    return limitations


@functools.cache
def _schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)


def validate(card: dict) -> None:
    """Checks `card` against the Model Card Toolkit's schema (contract/schemas/), formats included.

    Raises:
        jsonschema.ValidationError: the first place where `card` departs from the schema.
    """
    import jsonschema

    validator_class = jsonschema.validators.validator_for(_schema())
    validator = validator_class(_schema(), format_checker=validator_class.FORMAT_CHECKER)
    error = jsonschema.exceptions.best_match(validator.iter_errors(card))
    if error is not None:
        raise error
