"""The real Fashion-MNIST model the cores benchmark serves: the book's dense network (listing 2.x:
Dense(512, relu) → Dense(10, softmax)) trained on Debian's Fashion-MNIST, saved as TF Serving
lays it out, with the drift reference the pipeline's Pusher would publish beside it, so that the
drift monitor measures every call as it does in production (docs/monitoring.md).

    saved = save_fashion_model(root)         # saved.version_dir: <root>/models/fashion_mnist/1
    image = test_image()                     # one test image: 784 ints in 0-255

Serving cost does not depend on the weights; the model is trained (a few epochs) so that the
class ids the drift monitor watches are a real model's.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from benchmarks.drift import IMAGE_TASK, REFERENCE_EXAMPLES, image_schema, write_drift_assets

MODEL_NAME = "fashion_mnist"
SEED = 1337
EPOCHS = 3
HELD_OUT = 10_000


def fashion_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(train images, labels), (test images, labels): images flattened to 784 pixels in 0-255."""
    from components.keras_datasets import KERAS_DATASETS, default_data_dir, load_keras_dataset

    (train, train_labels), (test, test_labels) = load_keras_dataset(
        KERAS_DATASETS["fashion_mnist"], default_data_dir()
    )
    return (train.reshape(len(train), -1), train_labels), (test.reshape(len(test), -1), test_labels)


def test_image(index: int = 0) -> list[int]:
    """One Fashion-MNIST test image as a request would carry it (784 ints)."""
    _, (test, _) = fashion_mnist()
    return test[index].astype(int).tolist()


class SavedFashionModel(NamedTuple):
    """Where the model was saved, and its accuracy on the held-out train images."""

    version_dir: str
    held_out_accuracy: float


def build_model():
    """The book's dense network on raw pixels (input `image` [None, 784] in 0-255)."""
    import tf_keras as keras

    keras.utils.set_random_seed(SEED)
    inputs = keras.Input(shape=(784,), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Dense(512, activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="fashion_mnist")
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def save_fashion_model(root: str) -> SavedFashionModel:
    """Trains the model on the train split less its last 10,000 images and saves it in
    `<root>/models/fashion_mnist/1` (signature `serving_default`: `image` → `scores`,
    `class_ids`) with its drift reference (the first 5,000 train images; the class ids on the
    10,000 held-out ones), and as `<root>/keras/fashion_mnist.keras` for the naive Flask app.

    Returns:
        The version directory and the accuracy on the held-out images.
    """
    import tensorflow as tf

    from components.drift_reference import reference_from_inputs

    (images, labels), _ = fashion_mnist()
    fit_images, held_out = images[:-HELD_OUT].astype(np.float32), images[-HELD_OUT:]
    model = build_model()
    model.fit(fit_images, labels[:-HELD_OUT], epochs=EPOCHS, batch_size=128, verbose=0)
    spec = tf.TensorSpec([None, 784], tf.float32, name="image")

    @tf.function(input_signature=[spec])
    def serve(image):
        scores = model(image, training=False)
        return {"scores": scores, "class_ids": tf.argmax(scores, axis=1)}

    version_dir = os.path.join(root, "models", MODEL_NAME, "1")
    tf.saved_model.save(model, version_dir, signatures={"serving_default": serve})
    os.makedirs(os.path.join(root, "keras"), exist_ok=True)
    model.save(os.path.join(root, "keras", f"{MODEL_NAME}.keras"))
    held_out_scores = model.predict(held_out.astype(np.float32), verbose=0)
    reference = reference_from_inputs(
        {"image": images[:REFERENCE_EXAMPLES].astype(np.int64)},
        IMAGE_TASK,
        image_schema(),
        held_out_scores,
    )
    write_drift_assets(version_dir, reference, image_schema())
    accuracy = float(np.mean(held_out_scores.argmax(axis=1) == labels[-HELD_OUT:]))
    return SavedFashionModel(version_dir, accuracy)
