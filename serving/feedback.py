"""The feedback log (book 6.3.4, maintain the model): a sample of production requests, saved
as training examples, indexed so that a person can label them (`POST :feedback`, the labelling
page) and the next `dlwp run --extra-data <feedback>/<model>` trains on the labelled ones.

Usage (what `dlwp serve --feedback-rate 0.01 --feedback-hard-rate 0.2` does):
    logger = FeedbackLogger("<home>/feedback", 0.01, metrics.registry, hard_rate=0.2,
                            version_dir=version_dir)
    backend = ObservingBackend(backend, [logger])   # serving/observers.py
    ...
    logger.close()  # writes what is queued, renames the last files into place

Each sampled example of a call on a raw-features signature (`serving_default`) becomes one
tf.Example in the form of the training data (components/example_writer.py): integers as
int64_list, floats as float_list, strings as bytes_list; a missing value (NaN, "") is left out
of the Example, as the CSV loader does; word-index sequences lose their 0 padding. A call on
`from_examples` (classify, regress) already carries tf.Examples: they are logged as sent. The
model's answer is added as `prediction_<output>`, with `model_version`, `logged_at_ms` (int64,
milliseconds since the epoch), `request_id`, `request_index` (the example's row in its request),
`arm` (the traffic-split arm, "" unsplit), `sampling_probability` and, for classifiers,
`margin` (serving/sampling.py: unsure examples are logged more often with a hard rate). There is
no label: a person adds it through the index (contract/feedback_index.py).

Files are `<folder>/<model>/feedback-<start time>-<pid>.tfrecord.gz` (GZIP, as the ExampleGen
writes), written under a `.partial` name and renamed when rotated (every `rotate_examples`
examples or `rotate_s` seconds) and on close, so a reader never sees half a file. The writer
flushes at least once a second and then commits the index rows of what it flushed
(`index-<start>-<pid>.sqlite`, serving/feedback_index.py), so a SIGKILL loses at most the last
second. A live `.partial` is held with `fcntl.flock`; a logger starting in the folder rewrites
the readable records of every `.partial` it can lock (an orphan: the kernel drops a dead
process's lock) under the final name. A folder on object storage (gs://) gets the log without
the index, the periodic flush and the recovery.

`observe` runs on the model's thread and never blocks: it samples, copies the sampled rows and
queues them; a background thread writes. A full queue drops the example and counts it.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf
from prometheus_client import CollectorRegistry, Counter

from contract.features import WORDS
from contract.feedback_index import (
    LOG_PREFIX,
    LOG_SUFFIX,
    PARTIAL_SUFFIX,
    LoggedExample,
    file_stamp,
    is_local,
    readable_records,
)
from contract.signatures import EXAMPLES_INPUT, FROM_EXAMPLES, SERVING_DEFAULT
from serving.feedback_index import FeedbackIndex
from serving.sampling import UncertaintySampler, score_outputs
from serving.version_task import launch_threshold, read_version_task

if TYPE_CHECKING:
    from serving.request_ids import Trace

log = logging.getLogger("dlwp.serving")

FILE_SUFFIX = LOG_SUFFIX
PREDICTION_PREFIX = "prediction_"
MODEL_VERSION_FEATURE = "model_version"
LOGGED_AT_FEATURE = "logged_at_ms"
REQUEST_ID_FEATURE = "request_id"
REQUEST_INDEX_FEATURE = "request_index"
ARM_FEATURE = "arm"
SAMPLING_PROBABILITY_FEATURE = "sampling_probability"
MARGIN_FEATURE = "margin"
# The writer flushes the file and commits the index this often, so that a SIGKILL loses at
# most the last second (docs/monitoring.md): half a second, and the flush's own time, under it.
FLUSH_S = 0.5
_STOP = object()


@dataclasses.dataclass
class _Sampled:
    model: str
    version: int
    inputs: dict[str, np.ndarray] | None  # raw features; None for a logged tf.Example
    serialized: bytes | None  # a from_examples call's tf.Example, as sent
    outputs: dict[str, np.ndarray]
    logged: LoggedExample  # file and ordinal filled in when written


@dataclasses.dataclass
class _OpenFile:
    partial_path: str
    writer: tf.io.TFRecordWriter
    lock_fd: int | None  # the flock that marks the file live (None on object storage)
    opened_at: float
    count: int = 0
    unflushed: list[LoggedExample] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        """The final base name, the one the index rows carry."""
        return os.path.basename(self.partial_path).removesuffix(PARTIAL_SUFFIX)


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


def _orphans(model_folder: str) -> list[str]:
    """The `.partial` log files of a model folder, oldest first."""
    suffix = LOG_SUFFIX + PARTIAL_SUFFIX
    if not os.path.isdir(model_folder):
        return []
    return sorted(
        os.path.join(model_folder, name)
        for name in os.listdir(model_folder)
        if name.startswith(LOG_PREFIX) and name.endswith(suffix)
    )


def recover_partial(partial_path: str) -> int | None:
    """Rewrites the readable records of an orphaned `.partial` file (its writer is dead) under
    the final name and deletes it; a live file (another process holds its lock) is left alone.

    Returns:
        The number of records recovered, or None when the file is live.
    """
    try:
        fd = os.open(partial_path, os.O_RDONLY)
    except FileNotFoundError:  # renamed by its writer meanwhile
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if not os.path.exists(partial_path):
            return None
        final = partial_path.removesuffix(PARTIAL_SUFFIX)
        count = 0
        if not os.path.exists(final):  # else a recovery died after its rename: nothing to do
            staging = os.path.join(
                os.path.dirname(final), "." + os.path.basename(final) + ".recovering"
            )
            options = tf.io.TFRecordOptions(compression_type="GZIP")
            with tf.io.TFRecordWriter(staging, options) as writer:
                for record in readable_records(partial_path):
                    writer.write(record)
                    count += 1
            if count:
                os.rename(staging, final)
            else:
                os.remove(staging)
        os.remove(partial_path)
        return count
    finally:
        os.close(fd)  # releases the lock


class FeedbackLogger:
    """A request observer that logs a sample of examples as tf.Examples (module docstring).

    Args:
        folder: the feedback folder (`<home>/feedback`); each model gets a subfolder.
        sample_rate: R, the fraction of examples logged, in (0, 1] (`--feedback-rate`).
        registry: where `dlwp_feedback_examples_total{model}` (examples written) and
            `dlwp_feedback_dropped_total{model}` (queue full, or not writable) are registered.
        hard_rate: H, the probability of logging a margin-0 example (`--feedback-hard-rate`,
            R ≤ H ≤ 1); None: every example at R (serving/sampling.py).
        version_dir: (model, version) -> the version's folder, for its task.json and launch
            threshold (serving/version_task.py); None: read the problem type from the outputs.
        seed: of the sampling; the same requests in the same order sample the same examples.
        signatures: the signatures whose inputs are raw features.
        example_signatures: the signatures whose input `examples` holds serialized tf.Examples.
        padded_inputs: integer inputs whose 0 values are padding (word-index sequences).
        max_queue: examples waiting to be written; more are dropped.
        rotate_examples: a file is closed and renamed after this many examples...
        rotate_s: ... or when it is this old (checked at least once a second).
        flush_s: the writer flushes and commits the index at least this often.
    """

    def __init__(
        self,
        folder: str,
        sample_rate: float,
        registry: CollectorRegistry | None = None,
        *,
        hard_rate: float | None = None,
        version_dir: Callable[[str, int], str | None] | None = None,
        seed: int | None = 0,
        signatures: Collection[str] = (SERVING_DEFAULT,),
        example_signatures: Collection[str] = (FROM_EXAMPLES,),
        padded_inputs: Collection[str] = (WORDS,),
        max_queue: int = 10_000,
        rotate_examples: int = 10_000,
        rotate_s: float = 600.0,
        flush_s: float = FLUSH_S,
    ):
        if not folder:
            raise ValueError("the feedback log needs a folder (e.g. <home>/feedback)")
        self.sampler = UncertaintySampler(sample_rate, hard_rate)
        if max_queue < 1 or rotate_examples < 1 or rotate_s <= 0 or flush_s <= 0:
            raise ValueError(
                f"max_queue ({max_queue}), rotate_examples ({rotate_examples}), rotate_s "
                f"({rotate_s}) and flush_s ({flush_s}) must be positive"
            )
        self.folder, self.sample_rate = folder, sample_rate
        # The index, file locks and recovery need a local (or mounted) folder.
        self.indexed = is_local(folder)
        if not self.indexed:
            log.info("feedback: %s is not a local folder; logging without an index", folder)
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
        self._example_signatures = frozenset(example_signatures)
        self._version_dir = version_dir
        self._rotate_examples, self._rotate_s, self._flush_s = rotate_examples, rotate_s, flush_s
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(max_queue)
        self._files: dict[str, _OpenFile] = {}
        self._start_us = int(time.time() * 1_000_000)
        self._last_stamp_us = self._start_us - 1
        self._indexes: dict[str, FeedbackIndex] = {}
        self._indexes_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._closed = False
        self._thread = threading.Thread(target=self._write_loop, name="dlwp-feedback", daemon=True)
        self._thread.start()

    def index(self, model: str) -> FeedbackIndex:
        """The index of `model`'s feedback folder that this logger writes (one per process and
        model: the `:feedback` endpoint stores its labels there too).

        Raises:
            FeedbackIndexError: the feedback folder is on object storage.
        """
        with self._indexes_lock:
            if model not in self._indexes:
                self._indexes[model] = FeedbackIndex(
                    os.path.join(self.folder, model), start_us=self._start_us
                )
            return self._indexes[model]

    def _task(self, model: str, version: int) -> tuple[str | None, float]:
        """The version's problem type (None when it carries no task.json) and threshold."""
        version_dir = self._version_dir(model, version) if self._version_dir else None
        task = read_version_task(version_dir)
        problem_type = task.problem_type.value if task is not None else None
        return problem_type, launch_threshold(version_dir)

    def observe(
        self,
        model: str,
        version: int,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
        trace: Trace | None = None,
    ) -> None:
        """Samples the call's examples and queues them; never blocks (RequestObserver).

        The version's task and threshold are read once per version (serving/version_task.py).
        """
        if self._closed:
            return
        examples = signature_name in self._example_signatures and set(inputs) == {EXAMPLES_INPUT}
        if signature_name not in self._signatures and not examples:
            return
        n = _batch_size(inputs)
        if not n:
            return
        problem_type, threshold = self._task(model, version)
        scored = score_outputs(problem_type, outputs, n, threshold)
        probabilities = self.sampler.probabilities(scored.margins, n)
        with self._rng_lock:
            chosen = np.flatnonzero(self._rng.random(n) < probabilities)
        if not len(chosen):
            return
        logged_at_ms = int(time.time() * 1000)
        request_id = trace.request_id if trace is not None else uuid.uuid4().hex
        arm = trace.arm if trace is not None else ""
        batched_outputs = {
            name: value for name, value in outputs.items() if np.ndim(value) and len(value) == n
        }
        for row in chosen:
            margin = None if scored.margins is None else float(scored.margins[row])
            sampled = _Sampled(
                model,
                version,
                None if examples else {name: np.array(v[row]) for name, v in inputs.items()},
                _as_bytes(inputs[EXAMPLES_INPUT][row]) if examples else None,
                {name: np.array(value[row]) for name, value in batched_outputs.items()},
                LoggedExample(
                    request_id=request_id,
                    index=int(row),
                    model=model,
                    version=int(version),
                    arm=arm,
                    problem_type=scored.problem_type,
                    prediction=float(scored.predictions[row]),
                    margin=margin,
                    probability=float(probabilities[row]),
                    logged_at_ms=logged_at_ms,
                    file="",
                    ordinal=-1,
                ),
            )
            try:
                self._queue.put_nowait(sampled)
            except queue.Full:
                self._dropped.labels(model).inc()

    def close(self) -> None:
        """Writes what is queued, closes and renames the open files, closes the indexes; later
        calls are ignored."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        with self._indexes_lock:
            for index in self._indexes.values():
                index.close()

    def _to_example(self, sampled: _Sampled) -> tf.train.Example:
        """The tf.Example of one sampled example (module docstring)."""
        if sampled.serialized is not None:
            example = tf.train.Example.FromString(sampled.serialized)
        else:
            example = tf.train.Example()
            for name, value in (sampled.inputs or {}).items():
                feature = to_feature(value, padded=name in self._padded)
                if feature is not None:
                    example.features.feature[name].CopyFrom(feature)
        features = example.features.feature
        for name, value in sampled.outputs.items():
            features[PREDICTION_PREFIX + name].CopyFrom(to_feature(value, missing_left_out=False))
        logged = sampled.logged
        added: dict[str, Any] = {
            MODEL_VERSION_FEATURE: np.int64(sampled.version),
            LOGGED_AT_FEATURE: np.int64(logged.logged_at_ms),
            REQUEST_ID_FEATURE: np.array(logged.request_id.encode(), object),
            REQUEST_INDEX_FEATURE: np.int64(logged.index),
            ARM_FEATURE: np.array(logged.arm.encode(), object),
            SAMPLING_PROBABILITY_FEATURE: np.float32(logged.probability),
        }
        if logged.margin is not None:
            added[MARGIN_FEATURE] = np.float32(logged.margin)
        for name, value in added.items():
            features[name].CopyFrom(to_feature(value, missing_left_out=False))
        return example

    def _write_loop(self) -> None:
        try:
            self._recover_orphans()
            while True:
                try:
                    wait_s = self._flush_s - (time.monotonic() - self._last_flush)
                    sampled = self._queue.get(timeout=max(0.01, min(self._rotate_s, wait_s)))
                except queue.Empty:
                    sampled = None
                if sampled is _STOP:
                    return
                if sampled is not None:
                    self._write(sampled)
                if time.monotonic() - self._last_flush >= self._flush_s:
                    self._flush_all()
                self._rotate_old()
        finally:
            for model in list(self._files):
                self._finish(model)

    def _recover_orphans(self) -> None:
        """Recovers the orphaned `.partial` files of every model folder (module docstring)."""
        if not self.indexed or not os.path.isdir(self.folder):
            return
        for model in sorted(os.listdir(self.folder)):
            for partial in _orphans(os.path.join(self.folder, model)):
                try:
                    count = recover_partial(partial)
                except Exception:  # one unreadable orphan must not stop the log
                    log.exception("feedback: could not recover %s", partial)
                    continue
                if count is not None:
                    log.info("feedback: recovered %d examples of %s", count, partial)

    def _write(self, sampled: _Sampled) -> None:
        try:
            record = self._to_example(sampled).SerializeToString()
            current = self._files.get(sampled.model) or self._open(sampled.model)
            current.writer.write(record)
        except Exception:  # a bad example or a full disk loses this example, not the server
            log.exception("feedback: could not log an example of %s", sampled.model)
            self._dropped.labels(sampled.model).inc()
            return
        current.unflushed.append(
            dataclasses.replace(sampled.logged, file=current.name, ordinal=current.count)
        )
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
        name = f"{LOG_PREFIX}{file_stamp(stamp_us)}-{os.getpid()}{LOG_SUFFIX}"
        partial_path = os.path.join(folder, name + PARTIAL_SUFFIX)
        lock_fd = None
        if self.indexed:
            # Locked before it has its .partial name, so that a logger starting meanwhile
            # never takes it for an orphan; the lock follows the file through the rename.
            hidden = os.path.join(folder, f".{name}.opening")
            lock_fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            os.rename(hidden, partial_path)
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        opened = _OpenFile(
            partial_path, tf.io.TFRecordWriter(partial_path, options), lock_fd, time.monotonic()
        )
        self._files[model] = opened
        return opened

    def _commit(self, model: str, current: _OpenFile) -> None:
        """Index rows of what was flushed (after the flush: a row never names a lost record)."""
        rows, current.unflushed = current.unflushed, []
        if not self.indexed or not rows:
            return
        try:
            self.index(model).add_logged(rows)
        except Exception:  # the examples stay in the file; only their rows are lost
            log.exception("feedback: could not index %d examples of %s", len(rows), model)

    def _flush_all(self) -> None:
        self._last_flush = time.monotonic()
        if not self.indexed:  # a flush on object storage uploads the whole file again
            return
        for model, current in list(self._files.items()):
            if not current.unflushed:
                continue
            try:
                current.writer.flush()
            except Exception:
                log.exception("feedback: could not flush %s", current.partial_path)
                continue
            self._commit(model, current)

    def _finish(self, model: str) -> None:
        current = self._files.pop(model)
        try:
            current.writer.close()
            self._commit(model, current)
            final = current.partial_path[: -len(PARTIAL_SUFFIX)]
            tf.io.gfile.rename(current.partial_path, final, overwrite=False)
        except Exception:  # the examples stay in the .partial file, for the next start
            log.exception("feedback: could not finish %s", current.partial_path)
        finally:
            if current.lock_fd is not None:
                os.close(current.lock_fd)

    def _rotate_old(self) -> None:
        now = time.monotonic()
        for model, current in list(self._files.items()):
            if now - current.opened_at >= self._rotate_s:
                self._finish(model)


def _as_bytes(value) -> bytes:
    return value if isinstance(value, bytes) else bytes(value)
