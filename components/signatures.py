"""The pushed model's signatures: the Transform graph runs inside the SavedModel.

- `serving_default` takes the raw features a user has, one input per feature: `image` int64
  [batch, 784] pixels 0-255; `words` int64 [batch, length] word indices, padded with 0;
  numeric columns float32 [batch] with NaN for missing; string columns (categorical, and
  dates such as `2012-01-31`) [batch] with "" for missing.
- `from_examples` takes serialized tf.Examples (`examples`: string [batch]), for TF Serving's
  classify / regress API and for TFMA.

Both return `scores` (class probabilities; for binary, of class 1) and `class_ids`, or
`predictions` for regression. A binary model's `class_ids` are `scores > threshold`, the launch
threshold the Trainer chose (components/launch_threshold.py), which the saved object carries as
its `decision_threshold` variable.

When the task names its classes, both also return `classes`: the predicted class's name in
`serving_default` (string [batch], beside `class_ids`), every class name in class-id order in
`from_examples` (string [batch, classes], zipped with `scores` the way TF Serving's classify
reads a classification signature, so classify answers with names).
"""

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from contract.features import FeatureKind, ProblemType
from contract.signatures import (
    CLASS_IDS,
    CLASSES,
    DECISION_THRESHOLD,
    DECISION_THRESHOLD_ATTRIBUTE,
    EXAMPLES_INPUT,
    FROM_EXAMPLES,
    PREDICTIONS,
    SCORES,
    SERVING_DEFAULT,
)
from contract.task import TaskContract


def model_outputs(
    problem_type: str,
    outputs: tf.Tensor,
    threshold: float | tf.Variable = DECISION_THRESHOLD,
    class_names: Sequence[str] | None = None,
) -> dict[str, tf.Tensor]:
    """The signature outputs of a problem type, from the Keras model's output (the graph twin
    of `contract.signatures.classes_from_scores`); with `class_names`, also `classes`, the
    predicted class's name. A binary model's class is 1 when its score exceeds `threshold`.

    Raises:
        ValueError: `class_names` does not name each class of the model's output once.
    """
    problem = ProblemType(problem_type)
    if problem is ProblemType.REGRESSION:
        return {PREDICTIONS: tf.reshape(outputs, [-1])}
    if problem is ProblemType.BINARY:
        scores = tf.reshape(outputs, [-1])
        flagged = scores > tf.cast(threshold, scores.dtype)
        result = {SCORES: scores, CLASS_IDS: tf.cast(flagged, tf.int64)}
        classes = 2
    else:
        result = {SCORES: outputs, CLASS_IDS: tf.argmax(outputs, axis=-1)}
        classes = outputs.shape[-1]
    if class_names is not None:
        if len(class_names) != classes:
            raise ValueError(
                f"{len(class_names)} class names ({', '.join(class_names)}) for a model of "
                f"{classes} classes; give one name per class, in class-id order"
            )
        result[CLASSES] = tf.gather(tf.constant(list(class_names)), result[CLASS_IDS])
    return result


def saved_threshold(loaded: Any) -> float:
    """The launch threshold of a SavedModel loaded with `tf.saved_model.load`: the
    `decision_threshold` variable `make_signatures` attached, or DECISION_THRESHOLD for a model
    saved without one."""
    variable = getattr(loaded, DECISION_THRESHOLD_ATTRIBUTE, None)
    return DECISION_THRESHOLD if variable is None else float(variable.numpy())


def every_class_name(outputs: dict[str, tf.Tensor], class_names: Sequence[str]) -> tf.Tensor:
    """string [batch, classes]: the class names on every row of a batch of `outputs`, the
    `classes` of a classification signature (zipped with its scores)."""
    batch = tf.shape(outputs[CLASS_IDS])[0]
    return tf.tile(tf.constant([list(class_names)]), tf.stack([batch, 1]))


_RAW_INPUT_SPECS = {
    FeatureKind.IMAGE: ([None, 784], tf.int64),
    FeatureKind.SEQUENCE: ([None, None], tf.int64),
    FeatureKind.NUMERIC: ([None], tf.float32),
    FeatureKind.CATEGORICAL: ([None], tf.string),
    FeatureKind.DATE: ([None], tf.string),
}


def _raw_input_spec(name: str, kind: str) -> tf.TensorSpec:
    shape, dtype = _RAW_INPUT_SPECS[FeatureKind(kind)]
    return tf.TensorSpec(shape, dtype, name=name)


def _to_raw_feature(value: tf.Tensor, kind: str, spec: Any) -> tf.Tensor | tf.SparseTensor:
    """Turns a serving input into what the Transform layer expects for its feature spec."""
    kind = FeatureKind(kind)
    if kind is FeatureKind.SEQUENCE:
        return tf.sparse.from_dense(value)  # drops 0, keras's padding
    if kind.one_value:
        numeric = kind is FeatureKind.NUMERIC
        present = tf.math.logical_not(tf.math.is_nan(value)) if numeric else value != ""
        value = tf.cast(value, spec.dtype) if numeric else value
        if isinstance(spec, tf.io.VarLenFeature):
            indices = tf.where(present)
            return tf.SparseTensor(
                tf.concat([indices, tf.zeros_like(indices)], axis=1),
                tf.gather_nd(value, indices),
                tf.stack([tf.shape(value, out_type=tf.int64)[0], 1]),
            )
    # A fixed-length feature has the schema's shape per example ([784] pixels, [1] a column).
    return tf.reshape(value, [-1, *spec.shape])


def make_signatures(
    model: Any, tft_output: Any, task: TaskContract, threshold: float = DECISION_THRESHOLD
) -> dict[str, Any]:
    """The signatures to save with `model`; attaches the Transform layer to the model, and the
    launch threshold of a binary model's `class_ids` (`decision_threshold`, saved with it)."""
    model.tft_layer = tft_output.transform_features_layer()
    decision = tf.Variable(threshold, dtype=tf.float32, trainable=False, name="decision_threshold")
    setattr(model, DECISION_THRESHOLD_ATTRIBUTE, decision)
    raw_spec = {k: v for k, v in tft_output.raw_feature_spec().items() if k != task.label}
    kinds = task.kinds

    names = task.class_names if task.problem_type is not ProblemType.REGRESSION else None

    def predict(raw: dict[str, Any]) -> dict[str, tf.Tensor]:
        transformed = model.tft_layer(raw)
        inputs = {name: transformed[name] for name in kinds}
        return model_outputs(task.problem_type, model(inputs), decision, class_names=names)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def from_examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = predict(tf.io.parse_example(serialized, raw_spec))
        if names is not None:  # classify pairs each class with its score
            outputs[CLASSES] = every_class_name(outputs, names)
        return outputs

    @tf.function(
        input_signature=[{name: _raw_input_spec(name, kind) for name, kind in kinds.items()}]
    )
    def serving_default(raw_inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        raw = {
            name: _to_raw_feature(value, kinds[name], raw_spec[name])
            for name, value in raw_inputs.items()
        }
        return predict(raw)

    return {
        SERVING_DEFAULT: serving_default.get_concrete_function(),
        FROM_EXAMPLES: from_examples.get_concrete_function(),
    }
