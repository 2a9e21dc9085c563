"""BlessingGate: the verdict the Pusher obeys; it always exists, blessed or not.

Blessed only when (book 6.2.3 "beat a baseline"; docs/architecture.md, principles):
1. the data gate passed (it stops the run otherwise; the gate's result is an input);
2. the model beats the common-sense baseline on test by a margin: it removes at least `margin`
   (a fraction) of the baseline's error, 1 - accuracy, 1 - AUC, or the MAE;
3. it does not regress against the last blessed model beyond `tolerance` (points, or a fraction
   for an error), both scored by TFMA on the same test split.

TFMA's own Evaluator writes no blessing when no baseline model exists yet (change thresholds are
dropped, no threshold is left); this gate decides every time and writes its reasons.
"""

import json
import os

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.baseline import BASELINE_FILE, BaselineResult
from components.data_gate import DataGateResult
from components.models import HIGHER_IS_BETTER

VERDICT_FILE = "verdict.json"
# TFMA's names for the metrics of success.
TFMA_METRICS = {
    "accuracy": "sparse_categorical_accuracy",
    "auc": "auc",
    "mae": "mean_absolute_error",
}


def read_tfma_metric(evaluation_uri: str, metric: str) -> dict[str, float]:
    """The overall value of `metric` per TFMA model name ("candidate", "baseline", or "")."""
    values = {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        if metrics_for_slice.slice_key.single_slice_keys:
            continue  # a per-class slice, not the overall one
        for entry in metrics_for_slice.metric_keys_and_values:
            if entry.key.name == TFMA_METRICS[metric] and not entry.key.is_diff:
                values[entry.key.model_name] = entry.value.double_value.value
    return values


def decide(
    metric: str,
    candidate: float,
    common_sense: float,
    last_blessed: float | None,
    margin: float,
    tolerance: float,
) -> tuple[bool, list[str]]:
    """The verdict and its reasons (each a sentence with the numbers)."""
    reasons = ["data validation passed: nothing in eval or test breaks the model or the contract"]
    higher = HIGHER_IS_BETTER[metric]
    # The model must remove `margin` of the baseline's error: of 1 - score for accuracy and AUC,
    # of the MAE itself. A fixed number of points is not enough: a model fit to shuffled labels
    # maps whole clusters of images to one class and can land points above chance on test.
    needed = 1 - (1 - margin) * (1 - common_sense) if higher else common_sense * (1 - margin)
    beats = candidate >= needed if higher else candidate <= needed
    reasons.append(
        f"{'beats' if beats else 'does not beat'} the common-sense baseline: test {metric} "
        f"{candidate:.4f} vs baseline {common_sense:.4f} (needs {'≥' if higher else '≤'} "
        f"{needed:.4f})"
    )
    keeps = True
    if last_blessed is None:
        reasons.append("no earlier blessed model to compare with")
    else:
        floor = last_blessed - tolerance if higher else last_blessed * (1 + tolerance)
        keeps = candidate >= floor if higher else candidate <= floor
        reasons.append(
            f"{'does not regress' if keeps else 'regresses'} against the last blessed model: "
            f"{candidate:.4f} vs {last_blessed:.4f} (needs {'≥' if higher else '≤'} {floor:.4f})"
        )
    return beats and keeps, reasons


@component
def BlessingGate(  # noqa: N802 - TFX names components like classes
    model: InputArtifact[standard_artifacts.Model],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    baseline: InputArtifact[BaselineResult],
    data_gate: InputArtifact[DataGateResult],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    metric: Parameter[str],
    margin: Parameter[float],
    tolerance: Parameter[float],
) -> None:
    """Writes a ModelBlessing (`blessed` 1 or 0, as TFX's Pusher reads it) and verdict.json."""
    del data_gate  # Its existence is the proof: the gate stops the run on anomalies.
    with tf.io.gfile.GFile(os.path.join(baseline.uri, BASELINE_FILE)) as f:
        common_sense = json.load(f)["test"]
    scores = read_tfma_metric(evaluation.uri, metric)
    candidate = scores.get("candidate", scores.get(""))
    if candidate is None:
        raise ValueError(f"TFMA wrote no {metric} for the candidate model in {evaluation.uri}")
    blessed, reasons = decide(
        metric, candidate, common_sense, scores.get("baseline"), margin, tolerance
    )
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_int_custom_property("current_model_id", model.id)
    blessing.set_string_custom_property("current_model", model.uri)
    tf.io.gfile.makedirs(blessing.uri)
    with tf.io.gfile.GFile(
        os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w"
    ):
        pass
    verdict = {"blessed": blessed, "reasons": reasons, "metric": metric, "test": candidate}
    with tf.io.gfile.GFile(os.path.join(blessing.uri, VERDICT_FILE), "w") as f:
        json.dump(verdict, f, indent=1)
