"""The anchor of the pipeline benchmark: the book's Keras code on Fashion-MNIST, run as a plain
script with dlwp's protocol (docs/benchmarks.md, "The whole workflow").

    python -m benchmarks.plain_keras [--epochs 5] [--data-dir DIR]

The book's listing 2.1 model (Dense 512 relu, softmax 10, rmsprop, batch 128, pixels / 255),
validated on the last 10,000 training images with early stopping, then refit from scratch on all
60,000 for the best number of epochs and scored once on the test images. It prints one JSON line:
the seconds of each phase, each epoch's seconds and the test accuracy.
"""

from __future__ import annotations

import argparse
import json
import time

STARTED = time.monotonic()

EVAL_SIZE = 10_000
PATIENCE = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    from tensorflow import keras  # the book's import

    from components.keras_datasets import KERAS_DATASETS, default_data_dir, load_keras_dataset

    imported = time.monotonic()
    # keras.datasets.fashion_mnist.load_data(), from the files Debian installs.
    (x_train, y_train), (x_test, y_test) = load_keras_dataset(
        KERAS_DATASETS["fashion_mnist"], args.data_dir or default_data_dir()
    )
    x_train = x_train.reshape((len(x_train), 28 * 28)).astype("float32") / 255
    x_test = x_test.reshape((len(x_test), 28 * 28)).astype("float32") / 255
    loaded = time.monotonic()

    def build():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.layers.Dense(512, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(
            optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        return model

    class EpochSeconds(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(round(time.monotonic() - self._start, 3))

    search_timer, final_timer = EpochSeconds(), EpochSeconds()
    model = build()
    history = model.fit(
        x_train[:-EVAL_SIZE],
        y_train[:-EVAL_SIZE],
        epochs=args.epochs,
        batch_size=128,
        validation_data=(x_train[-EVAL_SIZE:], y_train[-EVAL_SIZE:]),
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=PATIENCE, restore_best_weights=True
            ),
            search_timer,
        ],
        verbose=0,
    )
    val_accuracy = history.history["val_accuracy"]
    best_epoch = val_accuracy.index(max(val_accuracy)) + 1
    searched = time.monotonic()
    final = build()
    final.fit(
        x_train, y_train, epochs=best_epoch, batch_size=128, callbacks=[final_timer], verbose=0
    )
    refit = time.monotonic()
    _, test_accuracy = final.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    done = time.monotonic()
    print(
        json.dumps(
            {
                "keras": keras.__version__,
                "best_epoch": best_epoch,
                "eval_accuracy": max(val_accuracy),
                "test_accuracy": float(test_accuracy),
                "epoch_s": {"search": search_timer.seconds, "final": final_timer.seconds},
                "phases_s": {
                    "import": round(imported - STARTED, 2),
                    "load": round(loaded - imported, 2),
                    "search_fit": round(searched - loaded, 2),
                    "final_fit": round(refit - searched, 2),
                    "evaluate": round(done - refit, 2),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
