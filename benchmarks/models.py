"""The two models the serving benchmark serves, built with fixed seeds and saved to disk.

`dense` is the book's first MNIST network (listing 2.x: Dense(512, relu) → Dense(10, softmax) on
784 pixels); `convnet` is chapter 8's MNIST convnet. Weights stay untrained: serving cost does not
depend on their values.

    paths = save_benchmark_models(root)   # {"dense": "<root>/models/dense/1", ...}
"""

from __future__ import annotations

import os

import numpy as np

SEED = 1337
MODEL_NAMES = ("dense", "convnet")
# One instance's shape per model, without the batch dimension.
INSTANCE_SHAPES: dict[str, tuple[int, ...]] = {"dense": (784,), "convnet": (28, 28, 1)}
# Share of non-zero pixels in an MNIST digit (about 19 %), so request bodies have a real size.
NONZERO_PIXEL_SHARE = 0.19


def build_dense_model():
    """The book's MNIST dense network (input `image` [None, 784])."""
    import tf_keras as keras

    keras.utils.set_random_seed(SEED)
    inputs = keras.Input(shape=INSTANCE_SHAPES["dense"], name="image")
    x = keras.layers.Dense(512, activation="relu")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="dense")


def build_convnet_model():
    """The book's chapter 8 MNIST convnet (input `image` [None, 28, 28, 1])."""
    import tf_keras as keras

    keras.utils.set_random_seed(SEED)
    inputs = keras.Input(shape=INSTANCE_SHAPES["convnet"], name="image")
    x = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(128, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="convnet")


BUILDERS = {"dense": build_dense_model, "convnet": build_convnet_model}


def save_serving_model(model, name: str, path: str) -> None:
    """Saves `model` as a SavedModel whose `serving_default` maps `image` to `scores`."""
    import tensorflow as tf

    spec = tf.TensorSpec([None, *INSTANCE_SHAPES[name]], tf.float32, name="image")

    @tf.function(input_signature=[spec])
    def serve(image):
        return {"scores": model(image, training=False)}

    tf.saved_model.save(model, path, signatures={"serving_default": serve})


def save_benchmark_models(root: str) -> dict[str, str]:
    """Saves both models in TF Serving's layout `<root>/models/<name>/1/`.

    Each keras model is also saved as `<root>/keras/<name>.keras` for the naive Flask app, which
    calls `model.predict` like the book's.

    Returns:
        Model name → SavedModel version directory.
    """
    paths = {}
    os.makedirs(os.path.join(root, "keras"), exist_ok=True)
    for name in MODEL_NAMES:
        model = BUILDERS[name]()
        path = os.path.join(root, "models", name, "1")
        save_serving_model(model, name, path)
        model.save(keras_model_path(root, name))
        paths[name] = path
    return paths


def keras_model_path(root: str, name: str) -> str:
    """Where `save_benchmark_models` puts the keras file of model `name`."""
    return os.path.join(root, "keras", f"{name}.keras")


def sample_instance(name: str, seed: int = SEED) -> np.ndarray:
    """One MNIST-like image for model `name`: mostly zeros, some pixels in (0, 1] with three
    decimals (float64, so JSON carries the short decimals a client would send)."""
    rng = np.random.default_rng(seed)
    shape = INSTANCE_SHAPES[name]
    pixels = np.round(rng.uniform(0.0, 1.0, size=shape), 3)
    pixels[rng.random(size=shape) >= NONZERO_PIXEL_SHARE] = 0.0
    return pixels
