"""TFMA's EvalConfig for a task: its metric of success, per-class slices, a change threshold.

The model is read through its `from_examples` signature (serialized tf.Example in), so TFMA
scores exactly what TF Serving's classify / regress API would serve.
"""

import tensorflow_model_analysis as tfma

from components.models import HIGHER_IS_BETTER
from contract.signatures import FROM_EXAMPLES, prediction_key

# Keras metric classes TFMA computes, by metric of success.
_METRIC_CLASSES = {
    "accuracy": ["SparseCategoricalAccuracy"],
    "auc": ["AUC", "BinaryAccuracy"],
    "mae": ["MeanAbsoluteError", "MeanSquaredError"],
}
# Book 6.2.3: a model must remove this fraction of the common-sense baseline's error; and may
# lose at most this much (points, or a fraction of the MAE) against the last blessed model.
BLESSING_MARGIN = {"accuracy": 0.10, "auc": 0.10, "mae": 0.10}
REGRESSION_TOLERANCE = {"accuracy": 0.01, "auc": 0.01, "mae": 0.05}


def eval_config(metric: str, label: str, problem_type: str) -> tfma.EvalConfig:
    """Overall and per-class metrics on the test split, with a change threshold on `metric`."""
    higher = HIGHER_IS_BETTER[metric]
    if higher:
        change = tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -REGRESSION_TOLERANCE[metric]},
        )
    else:
        change = tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.LOWER_IS_BETTER,
            relative={"value": REGRESSION_TOLERANCE[metric]},
        )
    main, *others = _METRIC_CLASSES[metric]
    metrics = [
        tfma.MetricConfig(class_name=main, threshold=tfma.MetricThreshold(change_threshold=change)),
        *(tfma.MetricConfig(class_name=name) for name in others),
    ]
    slicing = [tfma.SlicingSpec()]
    if problem_type != "regression":
        slicing.append(tfma.SlicingSpec(feature_keys=[label]))
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=FROM_EXAMPLES,
                label_key=label,
                prediction_key=prediction_key(problem_type),
            )
        ],
        slicing_specs=slicing,
        metrics_specs=[
            tfma.MetricsSpec(metrics=metrics + [tfma.MetricConfig(class_name="ExampleCount")])
        ],
    )
