"""The feedback log (book 6.3.4, maintain the model): a sample of production requests, saved
as training examples so that a person can label them and the next `dlwp run --extra-data DIR`
trains on them.

Usage (what `dlwp serve --feedback-rate 0.01` does):
    logger = FeedbackLogger("<home>/feedback", sample_rate=0.01, registry=metrics.registry)
    backend = ObservingBackend(backend, [logger])   # serving/observers.py
    ...
    logger.close()  # writes what is queued, renames the last files into place

Each sampled example of a call on a raw-features signature (`serving_default`) becomes one
tf.Example in the form of the training data (components/example_writer.py): integers as
int64_list, floats as float_list, strings as bytes_list; a missing value (NaN, "") is left out
of the Example, as the CSV loader does; word-index sequences lose their 0 padding. The model's
answer is added as `prediction_<output>`, with `model_version` and `logged_at_ms` (int64,
milliseconds since the epoch). There is no label: a person adds it (docs/monitoring.md).

Files are `<folder>/<model>/feedback-<start time>-<pid>.tfrecord.gz` (GZIP, as the ExampleGen
writes), written under a `.partial` name and renamed when rotated (every `rotate_examples`
examples or `rotate_s` seconds) and on close, so a reader never sees half a file.

`observe` runs on the model's thread and never blocks: it samples, copies the sampled rows and
queues them; a background thread writes. A full queue drops the example and counts it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
from collections.abc import Collection, Mapping

import numpy as np
import tensorflow as tf
from prometheus_client import CollectorRegistry, Counter

from contract.features import WORDS
from contract.signatures import SERVING_DEFAULT

log = logging.getLogger("dlwp.serving")

FILE_SUFFIX = ".tfrecord.gz"
PARTIAL_SUFFIX = ".partial"
PREDICTION_PREFIX = "prediction_"
MODEL_VERSION_FEATURE = "model_version"
LOGGED_AT_FEATURE = "logged_at_ms"
_STOP = object()


@dataclasses.dataclass
class _Sampled:
    model: str
    version: int
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    logged_at_ms: int


@dataclasses.dataclass
class _OpenFile:
    partial_path: str
    writer: tf.io.TFRecordWriter
    opened_at: float
    count: int = 0


def _strings(array: np.ndarray) -> list[bytes]:
    return [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.reshape(-1)]


def to_feature(value: np.ndarray | np.generic, padded: bool = False, missing_left_out: bool = True):
    """One example's value of a tensor as a tf.train.Feature, in the training data's form.

    Args:
        value: the example's row of the tensor (a scalar or an array).
        padded: 0 is padding (a word-index sequence): left out.
        missing_left_out: a scalar NaN or "" returns None (the feature is left out).
    """
    array = np.asarray(value)
    if array.dtype.kind in "OSU":
        strings = _strings(array)
        if missing_left_out and array.ndim == 0 and strings[0] == b"":
            return None
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=strings))
    if array.dtype.kind in "iub":
        ints = array.reshape(-1).astype(np.int64)
        if padded:
            ints = ints[ints != 0]
        return tf.train.Feature(int64_list=tf.train.Int64List(value=ints.tolist()))
    if array.dtype.kind == "f":
        if missing_left_out and array.ndim == 0 and np.isnan(array):
            return None
        return tf.train.Feature(float_list=tf.train.FloatList(value=array.reshape(-1).tolist()))
    raise TypeError(f"cannot store a value of type {array.dtype} in a tf.Example")


def _batch_size(inputs: Mapping[str, np.ndarray]) -> int | None:
    """The number of examples when every input is batch-major; else None (not raw features)."""
    sizes = {np.shape(v)[0] if np.ndim(v) else None for v in inputs.values()}
    if len(sizes) != 1 or None in sizes:
        return None
    return sizes.pop()


class FeedbackLogger:
    """A request observer that logs a sample of examples as tf.Examples (module docstring).

    Args:
        folder: the feedback folder (`<home>/feedback`); each model gets a subfolder.
        sample_rate: the fraction of examples logged, in (0, 1].
        registry: where `dlwp_feedback_examples_total{model}` (examples written) and
            `dlwp_feedback_dropped_total{model}` (queue full, or not writable) are registered.
        seed: of the sampling; the same requests in the same order sample the same examples.
        signatures: the signatures whose inputs are raw features.
        padded_inputs: integer inputs whose 0 values are padding (word-index sequences).
        max_queue: examples waiting to be written; more are dropped.
        rotate_examples: a file is closed and renamed after this many examples...
        rotate_s: ... or when it is this old (checked at least once a second).
    """

    def __init__(
        self,
        folder: str,
        sample_rate: float,
        registry: CollectorRegistry | None = None,
        *,
        seed: int | None = 0,
        signatures: Collection[str] = (SERVING_DEFAULT,),
        padded_inputs: Collection[str] = (WORDS,),
        max_queue: int = 10_000,
        rotate_examples: int = 10_000,
        rotate_s: float = 600.0,
    ):
        if not folder:
            raise ValueError("the feedback log needs a folder (e.g. <home>/feedback)")
        if not 0 < sample_rate <= 1:
            raise ValueError(f"sample_rate {sample_rate} must be above 0 and at most 1")
        if max_queue < 1 or rotate_examples < 1 or rotate_s <= 0:
            raise ValueError(
                f"max_queue ({max_queue}), rotate_examples ({rotate_examples}) and rotate_s "
                f"({rotate_s}) must be positive"
            )
        self.folder, self.sample_rate = folder, sample_rate
        registry = registry if registry is not None else CollectorRegistry()
        self._written = Counter(
            "dlwp_feedback_examples",
            "Examples written to the feedback log.",
            ["model"],
            registry=registry,
        )
        self._dropped = Counter(
            "dlwp_feedback_dropped",
            "Sampled examples not logged: the queue was full, or writing failed.",
            ["model"],
            registry=registry,
        )
        self._signatures, self._padded = frozenset(signatures), frozenset(padded_inputs)
        self._rotate_examples, self._rotate_s = rotate_examples, rotate_s
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(max_queue)
        self._files: dict[str, _OpenFile] = {}
        self._last_stamp_us = 0
        self._closed = False
        self._thread = threading.Thread(target=self._write_loop, name="dlwp-feedback", daemon=True)
        self._thread.start()

    def observe(
        self,
        model: str,
        version: int,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
    ) -> None:
        """Samples the call's examples and queues them; never blocks (RequestObserver)."""
        if self._closed or signature_name not in self._signatures:
            return
        n = _batch_size(inputs)
        if not n:
            return
        with self._rng_lock:
            chosen = np.flatnonzero(self._rng.random(n) < self.sample_rate)
        logged_at_ms = int(time.time() * 1000)
        batched_outputs = {
            name: value for name, value in outputs.items() if np.ndim(value) and len(value) == n
        }
        for row in chosen:
            sampled = _Sampled(
                model,
                version,
                {name: np.array(value[row]) for name, value in inputs.items()},
                {name: np.array(value[row]) for name, value in batched_outputs.items()},
                logged_at_ms,
            )
            try:
                self._queue.put_nowait(sampled)
            except queue.Full:
                self._dropped.labels(model).inc()

    def close(self) -> None:
        """Writes what is queued, closes and renames the open files; later calls are ignored."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()

    def _to_example(self, sampled: _Sampled) -> tf.train.Example:
        """The tf.Example of one sampled example (module docstring)."""
        features = {}
        for name, value in sampled.inputs.items():
            feature = to_feature(value, padded=name in self._padded)
            if feature is not None:
                features[name] = feature
        for name, value in sampled.outputs.items():
            features[PREDICTION_PREFIX + name] = to_feature(value, missing_left_out=False)
        features[MODEL_VERSION_FEATURE] = to_feature(np.int64(sampled.version))
        features[LOGGED_AT_FEATURE] = to_feature(np.int64(sampled.logged_at_ms))
        return tf.train.Example(features=tf.train.Features(feature=features))

    def _write_loop(self) -> None:
        try:
            while True:
                try:
                    sampled = self._queue.get(timeout=min(self._rotate_s, 1.0))
                except queue.Empty:
                    sampled = None
                if sampled is _STOP:
                    return
                if sampled is not None:
                    self._write(sampled)
                self._rotate_old()
        finally:
            for model in list(self._files):
                self._finish(model)

    def _write(self, sampled: _Sampled) -> None:
        try:
            record = self._to_example(sampled).SerializeToString()
            current = self._files.get(sampled.model) or self._open(sampled.model)
            current.writer.write(record)
        except Exception:  # a bad example or a full disk loses this example, not the server
            log.exception("feedback: could not log an example of %s", sampled.model)
            self._dropped.labels(sampled.model).inc()
            return
        current.count += 1
        self._written.labels(sampled.model).inc()
        if current.count >= self._rotate_examples:
            self._finish(sampled.model)

    def _open(self, model: str) -> _OpenFile:
        folder = os.path.join(self.folder, model)
        tf.io.gfile.makedirs(folder)
        # Strictly increasing start times: names stay unique when files rotate quickly.
        stamp_us = max(int(time.time() * 1_000_000), self._last_stamp_us + 1)
        self._last_stamp_us = stamp_us
        seconds, micros = divmod(stamp_us, 1_000_000)
        start = time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f".{micros:06d}Z"
        path = os.path.join(folder, f"feedback-{start}-{os.getpid()}{FILE_SUFFIX}")
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        partial_path = path + PARTIAL_SUFFIX
        opened = _OpenFile(
            partial_path, tf.io.TFRecordWriter(partial_path, options), time.monotonic()
        )
        self._files[model] = opened
        return opened

    def _finish(self, model: str) -> None:
        current = self._files.pop(model)
        try:
            current.writer.close()
            final = current.partial_path[: -len(PARTIAL_SUFFIX)]
            tf.io.gfile.rename(current.partial_path, final, overwrite=False)
        except Exception:  # the examples stay in the .partial file, for a person to rescue
            log.exception("feedback: could not finish %s", current.partial_path)

    def _rotate_old(self) -> None:
        now = time.monotonic()
        for model, current in list(self._files.items()):
            if now - current.opened_at >= self._rotate_s:
                self._finish(model)
