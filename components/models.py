"""The book's densely connected models, built from a task's features and problem type.

Book table 6.1 picks the last layer and the loss: binary → 1 sigmoid unit, binary crossentropy;
multiclass → softmax over the classes, sparse categorical crossentropy; regression → 1 linear
unit, mean squared error. Hidden layers are `Dense(units, relu)`, with optional dropout
(listing 5.16) and L2 weight regularization (listing 5.13) for `--tune`.

Keras 2 (`tf_keras`) by default: TFX 1.16's Transform layer is a Keras 2 layer. KerasTuner 1.4
drives Keras 3, so `--tune` builds the same model with `keras_module=keras` (Keras 3).
"""

import dataclasses
from typing import Any

from tensorflow_transform.keras_lib import tf_keras

from components.date_features import DATE_WIDTH
from components.pruning import prune_dense_layers
from contract.features import FeatureKind, ProblemType

NUM_WORDS = 10_000
IMAGE_PIXELS = 784
# Whether a larger value of a metric of success is better.
HIGHER_IS_BETTER = {"accuracy": True, "auc": True, "mae": False}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What `build_model` needs: inputs, head and the book's hyperparameters."""

    features: tuple[tuple[str, FeatureKind], ...]  # (name, kind)
    problem_type: str
    num_classes: int | None
    hidden_units: tuple[int, ...]
    optimizer: str = "rmsprop"
    learning_rate: float | None = None
    dropout: float = 0.0
    l2: float = 0.0
    categorical_depths: tuple[tuple[str, int], ...] = ()
    prune_sparsity: float = 0.0  # > 0: Dense kernels pruned to this sparsity while training


def metric_for(problem_type: str, keras: Any = tf_keras) -> tuple[str, Any]:
    """The Keras metric of success of a problem type: (name, metric)."""
    problem = ProblemType(problem_type)
    if problem is ProblemType.BINARY:
        return "auc", keras.metrics.AUC(name="auc")
    if problem is ProblemType.MULTICLASS:
        return "accuracy", keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    return "mae", keras.metrics.MeanAbsoluteError(name="mae")


def _input_and_encoding(keras: Any, name: str, kind: str, depths: dict[str, int]):
    kind = FeatureKind(kind)
    if kind is FeatureKind.IMAGE:
        layer = keras.Input(shape=(IMAGE_PIXELS,), name=name)
        return layer, layer
    if kind is FeatureKind.SEQUENCE:
        layer = keras.Input(shape=(NUM_WORDS,), name=name)
        return layer, layer
    if kind is FeatureKind.NUMERIC:
        layer = keras.Input(shape=(), name=name)
        return layer, keras.layers.Reshape((1,))(layer)
    if kind is FeatureKind.DATE:  # year, then sin/cos of month, day of year, weekday
        layer = keras.Input(shape=(DATE_WIDTH,), name=name)
        return layer, layer
    layer = keras.Input(shape=(), name=name, dtype="int64")
    # One-hot as a frozen identity embedding: a Gather, which TFLite and TF.js run natively
    # (CategoryEncoding becomes DenseBincount, which neither has).
    depth = depths[name]
    encoded = keras.layers.Embedding(
        depth, depth, embeddings_initializer="identity", trainable=False, name=f"{name}_one_hot"
    )(layer)
    return layer, encoded


def build_model(config: ModelConfig, keras_module: Any = tf_keras) -> Any:
    """A compiled model taking the transformed features as a dict."""
    keras = keras_module
    depths = dict(config.categorical_depths)
    inputs, encoded = {}, []
    for name, kind in config.features:
        inputs[name], part = _input_and_encoding(keras, name, kind, depths)
        encoded.append(part)
    x = keras.layers.Concatenate()(encoded) if len(encoded) > 1 else encoded[0]
    regularizer = keras.regularizers.l2(config.l2) if config.l2 else None
    for units in config.hidden_units:
        x = keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer)(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout)(x)
    # float32 outputs keep mixed-precision training numerically stable.
    problem = ProblemType(config.problem_type)
    if problem is ProblemType.BINARY:
        outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32")(x)
        loss = "binary_crossentropy"
    elif problem is ProblemType.MULTICLASS:
        outputs = keras.layers.Dense(config.num_classes, activation="softmax", dtype="float32")(x)
        loss = "sparse_categorical_crossentropy"
    else:
        outputs = keras.layers.Dense(1, dtype="float32")(x)
        loss = "mse"
    model = keras.Model(inputs=inputs, outputs=outputs)
    if config.prune_sparsity:
        if keras_module is not tf_keras:
            raise ValueError("pruning (tensorflow-model-optimization) needs tf_keras models")
        model = prune_dense_layers(model, config.prune_sparsity, keras)
    optimizer = keras.optimizers.get(config.optimizer)
    if config.learning_rate:
        optimizer.learning_rate = config.learning_rate
    model.compile(
        optimizer=optimizer, loss=loss, metrics=[metric_for(config.problem_type, keras)[1]]
    )
    return model
