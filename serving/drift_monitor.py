"""The drift monitor (book 6.3.3-6.3.4): production data against the training reference,
per model version, off the request path (docs/monitoring.md).

`observe` (a RequestObserver, on the model thread) only appends the call to a bounded deque; a
full one drops the call and counts it. A background thread, every `interval_s`, takes all the
calls since the last time and, in one batch per model version:
- turns them into the monitored series (contract/drift_series.py) and counts their schema
  anomalies (a missing value, a value out of the schema's domain);
- adds them to the version's window, the last `window_size` examples, none older than
  `max_age_s` (serving/drift_window.py);
- measures each series against the version's reference (serving/drift_version_reference.py)
  with a threshold calibrated for the window's size (serving/drift_measures.py);
- publishes the measurements: the Prometheus series (serving/drift_gauges.py, absent until a
  window has `min_samples` examples) and `status()` for `GET /monitoring/drift`.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
from prometheus_client import CollectorRegistry

from contract.drift_reference import DriftReferenceError
from contract.drift_series import (
    PREDICTION_SERIES,
    feature_series,
    missing_mask,
    out_of_domain,
    predicted,
    series_name,
)
from contract.raw_inputs import concatenate_batches
from contract.version_assets import REFERENCE_FILE
from serving.drift_gauges import MISSING, OUT_OF_DOMAIN, DriftGauges
from serving.drift_measures import Measurement, measure_window
from serving.drift_version_reference import (
    MonitoredFeature,
    VersionReference,
    read_version_reference,
)
from serving.drift_window import VersionWindows
from serving.request_ids import Trace
from serving.settings import DriftSettings

log = logging.getLogger("dlwp.serving")
YIELD_EVERY = 32  # calls measured between two chances for request threads to run

VersionKey = tuple[str, int]  # (model, version)


@dataclasses.dataclass(slots=True)
class ObservedCall:
    """A completed model call, as `observe` queues it. (A slotted dataclass: the cheapest named
    type to build on the request path, about 0.25 µs where a NamedTuple takes 0.4 µs.)"""

    model: str
    version: int
    inputs: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class FlushMarker:
    """Queued by `flush`: `done` is set once every call queued before it is measured."""

    done: threading.Event = dataclasses.field(default_factory=threading.Event)


class PendingCall(NamedTuple):
    """A call of a monitored version, waiting for the next update to be measured with the
    others: its raw features (None when it did not carry them all, e.g. classify) and its
    prediction series (None when its outputs have none)."""

    features: dict[str, np.ndarray] | None
    predictions: np.ndarray | None


class DriftMonitor:
    """Watches the traffic of every model version that has a reference.

    Args:
        settings: the window and the monitor's pace.
        registry: where the drift series are registered.
        version_dir: (model, version) -> the version's folder (where its reference is), or None.
    """

    def __init__(
        self,
        settings: DriftSettings,
        registry: CollectorRegistry,
        version_dir: Callable[[str, int], str | None],
    ):
        self.settings = settings
        self._version_dir = version_dir
        self._gauges = DriftGauges(registry)
        # A deque, not a queue.Queue: appending takes no lock and wakes no thread, so a request
        # pays a few hundred nanoseconds and the monitor's thread runs once per interval.
        self._calls: collections.deque[ObservedCall | FlushMarker] = collections.deque()
        self._wake = threading.Event()
        self._references: dict[VersionKey, VersionReference | None] = {}
        # Calls wait here until the next update measures them all at once (numpy per call
        # would cost the server's GIL more than the measurement itself).
        self._pending: collections.defaultdict[VersionKey, list[PendingCall]] = (
            collections.defaultdict(list)
        )
        self._windows: dict[VersionKey, VersionWindows] = {}
        self._snapshot: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drift", daemon=True)
        self._thread.start()

    # The request path: hand over and return.
    def observe(
        self,
        model: str,
        version: int,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
        trace: Trace | None = None,
    ) -> None:
        """Queues a completed call for the next update, or drops it when the queue is full
        (the trace is not used: drift is measured per version, whatever the arm)."""
        if len(self._calls) >= self.settings.queue_size:
            self._gauges.dropped.inc()
            return
        self._calls.append(ObservedCall(model, version, inputs, outputs))

    def count_dropped(self, count: int) -> None:
        """Counts calls dropped before they reached `observe` (a worker's full queue:
        serving/hub_client.py)."""
        self._gauges.dropped.inc(count)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stops the background thread (what is still queued is not measured), waiting up to
        `timeout_s` for a measurement under way."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=timeout_s)

    def status(self) -> dict[str, dict[str, Any]]:
        """The latest measurements: {model: {version: {...}}} (for `/monitoring/drift`)."""
        return self._snapshot

    def flush(self, timeout_s: float = 10.0) -> None:
        """Measures every call observed so far, now, and waits for it (tests, benchmarks).

        Raises:
            TimeoutError: the monitor did not finish within `timeout_s` (a long backlog, or a
                closed monitor); what it has not measured yet stays queued.
        """
        marker = FlushMarker()
        self._calls.append(marker)
        self._wake.set()
        if not marker.done.wait(timeout_s):
            raise TimeoutError(
                f"the drift monitor did not measure the observed calls within {timeout_s} s"
                + ("" if self._thread.is_alive() else " (it is closed)")
            )

    # The background thread: once per interval, or when flushed.
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.interval_s)
            self._wake.clear()
            flushed: list[FlushMarker] = []
            try:
                taken = 0
                while self._calls:
                    call = self._calls.popleft()
                    if isinstance(call, FlushMarker):
                        flushed.append(call)
                    else:
                        self._add_safely(call)
                    taken += 1
                    if taken % YIELD_EVERY == 0:
                        time.sleep(0)  # let request threads have the GIL between chunks
                self._update()
            except Exception:  # the monitor must outlive a bad reference
                log.exception("drift monitor: the update failed")
            for marker in flushed:
                marker.done.set()

    def _add_safely(self, call: ObservedCall) -> None:
        try:
            self._add(call)
        except Exception:  # one bad call must not stop the others from being measured
            log.exception("drift monitor: a call could not be measured")

    def _reference(self, key: VersionKey) -> VersionReference | None:
        if key not in self._references:
            self._references[key] = self._read_reference(*key)
        return self._references[key]

    def _read_reference(self, model: str, version: int) -> VersionReference | None:
        folder = self._version_dir(model, version)
        try:
            reference = read_version_reference(folder) if folder else None
        except DriftReferenceError as error:  # the version is served all the same
            log.error("drift: %s version %d is not monitored: %s", model, version, error)
            return None
        if reference is None:
            log.info(
                "drift: %s version %d has no %s; not monitored", model, version, REFERENCE_FILE
            )
        return reference

    def _add(self, call: ObservedCall) -> None:
        key = (call.model, call.version)
        reference = self._reference(key)
        if reference is None:
            return
        features = None
        if all(name in call.inputs for name in reference.features):
            features = {name: np.asarray(call.inputs[name]) for name in reference.features}
        predictions = predicted(reference.problem_type, call.outputs)
        self._pending[key].append(PendingCall(features, predictions))

    def _take_pending(self, now: float) -> None:
        """Adds the calls since the last update to the windows, one batch per model version."""
        pending, self._pending = self._pending, collections.defaultdict(list)
        for key, calls in pending.items():
            reference = self._references[key]
            if reference is None:  # only calls of monitored versions are pending
                continue
            windows = self._windows.setdefault(key, VersionWindows())
            with_features = [call.features for call in calls if call.features is not None]
            if with_features:
                windows.features.add(now, self._series(key, reference, with_features))
            predictions = [call.predictions for call in calls if call.predictions is not None]
            if predictions:
                windows.predictions.add(now, {PREDICTION_SERIES: np.concatenate(predictions)})

    def _series(
        self,
        key: VersionKey,
        reference: VersionReference,
        calls: list[dict[str, np.ndarray]],
    ) -> dict[str, np.ndarray]:
        """The monitored series of the calls' raw features, as one batch; counts the
        batch's schema anomalies."""
        series = {}
        for name, feature in reference.features.items():
            values = concatenate_batches([inputs[name] for inputs in calls])
            self._count_anomalies(key, name, feature, values)
            for summary, computed in feature_series(feature.kind, values, feature.domain).items():
                series[series_name(name, summary)] = computed
        return series

    def _count_anomalies(
        self, key: VersionKey, name: str, feature: MonitoredFeature, values: np.ndarray
    ) -> None:
        for anomaly, mask in (
            (MISSING, missing_mask(feature.kind, values)),
            (OUT_OF_DOMAIN, out_of_domain(feature.kind, values, feature.domain)),
        ):
            count = int(np.sum(mask)) if mask is not None else 0
            self._gauges.count_anomalies(*key, name, anomaly, count)

    def _update(self) -> None:
        now = time.monotonic()
        self._take_pending(now)
        snapshot: dict[str, dict[str, Any]] = {}
        for key, windows in list(self._windows.items()):
            windows.trim(now, self.settings.window_size, self.settings.max_age_s)
            reference = self._references[key]
            if reference is None:  # windows exist only for monitored versions
                continue
            status = self._measure(key, windows, reference)
            if windows.empty:
                del self._windows[key]
            else:
                model, version = key
                snapshot.setdefault(model, {})[str(version)] = status
        self._snapshot = snapshot

    def _measure(
        self, key: VersionKey, windows: VersionWindows, reference: VersionReference
    ) -> dict[str, Any]:
        """Measures one version's windows, publishes the measurements and returns its status
        (`/monitoring/drift`'s answer for the version)."""
        min_samples = self.settings.min_samples
        samples = windows.samples
        features: dict[str, Measurement] = {}
        prediction = None
        if samples >= min_samples:
            for label, distribution in reference.series.items():
                values = windows.features.values(label)
                if len(values) < min_samples:
                    continue
                features[label] = measure_window(distribution, values)
                time.sleep(0)  # let request threads have the GIL between series
            predictions = windows.predictions.values(PREDICTION_SERIES)
            if len(predictions) >= min_samples:
                prediction = measure_window(reference.prediction, predictions)
        published_samples = samples if samples >= min_samples else None
        self._gauges.publish(*key, published_samples, features, prediction)
        return {
            "samples": samples,
            "features": {label: measured.as_json() for label, measured in features.items()},
            "prediction": prediction.as_json() if prediction is not None else None,
        }
