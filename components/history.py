"""Training curves: the per-epoch history as JSON, and plots like the book's figures 4.4 and 4.5.

Book 6.2.4 "scale up until it overfits": the validation curve turning up while the training
curve keeps falling is where the model starts to overfit.
"""

import json
import os

import tensorflow as tf

HISTORY_FILE = "history.json"


def write_history(history: dict[str, list[float]], folder: str) -> str:
    """Writes `history.json` (Keras's `History.history`, plus anything else given)."""
    tf.io.gfile.makedirs(folder)
    path = os.path.join(folder, HISTORY_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(history, f, indent=1, default=float)
    return path


def plot_history(history: dict[str, list[float]], metric: str, folder: str) -> list[str]:
    """Plots loss and `metric`, training (dots) against validation (line); returns PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    paths = []
    for measure, title in (("loss", "Training and validation loss"), (metric, title_of(metric))):
        if measure not in history:
            continue
        epochs = range(1, len(history[measure]) + 1)
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.plot(epochs, history[measure], "bo", label=f"Training {measure}")
        if f"val_{measure}" in history:
            axes.plot(epochs, history[f"val_{measure}"], "b", label=f"Validation {measure}")
        axes.set_title(title)
        axes.set_xlabel("Epochs")
        axes.set_ylabel(measure)
        axes.legend()
        path = os.path.join(folder, f"{measure}.png")
        with tf.io.gfile.GFile(path, "wb") as f:
            figure.savefig(f, format="png", dpi=80)
        plt.close(figure)
        paths.append(path)
    return paths


def title_of(metric: str) -> str:
    return f"Training and validation {metric}"
