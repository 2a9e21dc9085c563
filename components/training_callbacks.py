"""Callbacks every fit of the Trainer runs: a line per epoch for the person waiting, the
curves and seconds of each epoch, and TensorBoard's event files (book 7.3.4).

    log = EpochLog("search fit", total_epochs=lambda: 20, metric="accuracy")
    model.fit(x, y, validation_data=(vx, vy), epochs=20, callbacks=[log])
    # search fit  epoch 3/20  loss 0.4123  accuracy 0.8531  val_accuracy 0.8612  4.1 s
    log.history["val_accuracy"], log.epoch_s
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tensorflow_transform.keras_lib import tf_keras as keras

from components.step_progress import report

# A budget of hundreds of epochs (small data, book 4.3.4) reports every tenth epoch and the
# last: a line per epoch would bury the other steps' lines.
EVERY_EPOCH_UP_TO = 50
REPORT_EVERY = 10


def epoch_line(
    title: str, epoch: int, total: int, logs: dict[str, float], metric: str, seconds: float
) -> str:
    """`<title>  epoch <epoch>/<total>  loss ..  <metric> ..  val_<metric> ..  <seconds> s`."""
    parts = [f"{title}  epoch {epoch}/{total}"]
    for name in ("loss", metric, f"val_{metric}"):
        if name in logs:
            parts.append(f"{name} {float(logs[name]):.4g}")
    parts.append(f"{seconds:.1f} s")
    return "  ".join(parts)


class EpochLog(keras.callbacks.Callback):
    """Records each epoch's logs (Keras's `History`) and seconds, and reports a line per epoch
    through `components.step_progress` (every `REPORT_EVERY`-th and the last when the budget
    is over `EVERY_EPOCH_UP_TO`).

    Its state (`get_state`, `set_state`) is what a resumed fit needs to carry on the curves.

    Args:
        title: the fit, as the line names it ("search fit", "fold 2/4", "final fit").
        total_epochs: the fit's current epoch budget (it may grow while the fit runs).
        metric: the metric of success, reported beside the loss.
        quiet: record only, report nothing.
    """

    def __init__(
        self, title: str, total_epochs: Callable[[], int], metric: str = "", quiet: bool = False
    ):
        super().__init__()
        self.title = title
        self.total_epochs = total_epochs
        self.metric = metric
        self.quiet = quiet
        self.history: dict[str, list[float]] = {}
        self.epoch_s: list[float] = []
        self._started = 0.0
        self._unreported: tuple[int, dict[str, float], float] | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._started
        logs = {name: float(value) for name, value in (logs or {}).items()}
        for name, value in logs.items():
            self.history.setdefault(name, []).append(value)
        self.epoch_s.append(round(seconds, 3))
        total = self.total_epochs()
        if total <= EVERY_EPOCH_UP_TO or (epoch + 1) % REPORT_EVERY == 0:
            self._report(epoch + 1, logs, seconds)
            self._unreported = None
        else:
            self._unreported = (epoch + 1, logs, seconds)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._unreported is not None:
            self._report(*self._unreported)
            self._unreported = None

    def _report(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        if not self.quiet:
            total = max(self.total_epochs(), epoch)
            report(epoch_line(self.title, epoch, total, logs, self.metric, seconds))

    def get_state(self) -> dict[str, Any]:
        """The curves and seconds so far."""
        return {"history": self.history, "epoch_s": self.epoch_s}

    def set_state(self, state: dict[str, Any]) -> None:
        """Carries on from a backup's curves and seconds."""
        self.history = {name: list(values) for name, values in state["history"].items()}
        self.epoch_s = list(state["epoch_s"])


def tensorboard(log_dir: str) -> keras.callbacks.TensorBoard:
    """TensorBoard's scalars once per epoch under `log_dir` (`train/`, `validation/`): no
    histograms, graph or profile, which would cost time in every fit."""
    return keras.callbacks.TensorBoard(
        log_dir=log_dir,
        histogram_freq=0,
        write_graph=False,
        write_images=False,
        update_freq="epoch",
        profile_batch=0,
    )
