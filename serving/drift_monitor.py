"""The drift monitor (book 6.3.3-6.3.4): production data against the training reference,
per model version, off the request path.

`observe` (a RequestObserver, on the model thread) only appends the call's inputs and outputs to
a bounded deque; a full one drops the call and counts it. A background thread turns each call
into the monitored series (serving/drift_reference.py) every `interval_s`, all the calls since
the last time in one batch, keeps a sliding window per model version (the last `window_size`
examples, none older than `max_age_s`) and measures each series against the reference
(serving/drift_measures.py) with a threshold calibrated for the window's size. Schema anomalies
(a missing value, a value out of the schema's domain) are counted in the same batches.

Metrics (DESIGN.md names; absent until a window has `min_samples` examples):
    dlwp_feature_drift{model,version,feature,measure}            distance to the reference
    dlwp_feature_drift_threshold{model,version,feature,measure}  its threshold at this size
    dlwp_prediction_drift{model,version,measure}, dlwp_prediction_drift_threshold{...}
    dlwp_drift_window_samples{model,version}                     examples in the window
    dlwp_schema_anomalies_total{model,version,feature,kind}      kind: missing | out_of_domain
    dlwp_drift_dropped_total                                     calls the full queue dropped
"""

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge

from serving import drift_reference as ref
from serving.drift_measures import Distribution
from serving.signatures import concatenate_batches

log = logging.getLogger("dlwp.serving")
THRESHOLD_STEP = 50  # thresholds are calibrated at sizes rounded down to this step
YIELD_EVERY = 32  # calls measured between two chances for request threads to run


@dataclasses.dataclass(frozen=True)
class DriftSettings:
    """The window and the monitor's pace."""

    window_size: int = 500
    max_age_s: float = 3600.0
    min_samples: int = 100
    interval_s: float = 5.0
    queue_size: int = 10_000


class VersionReference:
    """The parsed reference of one model version: a distribution per series."""

    def __init__(self, content: dict):
        self.problem_type = content["problem_type"]
        self.features = {
            name: (f["kind"], f.get("domain")) for name, f in content["features"].items()
        }
        self.series: dict[str, tuple[str, str, Distribution]] = {}
        for name, feature in content["features"].items():
            for summary, values in feature["series"].items():
                numeric = feature["kind"] != "categorical"
                distribution = (
                    Distribution.numeric(values) if numeric else Distribution.categorical(values)
                )
                self.series[ref.series_name(name, summary)] = (name, summary, distribution)
        predictions = content["predictions"]
        self.prediction = (
            Distribution.numeric(predictions)
            if self.problem_type == "regression"
            else Distribution.categorical(predictions)
        )


class _Window:
    """Recent examples of one model version: arrays of equal length per name, oldest first."""

    def __init__(self):
        self.entries: collections.deque = collections.deque()  # (time, n, {name: array})

    def add(self, when: float, arrays: dict[str, np.ndarray]) -> None:
        n = len(next(iter(arrays.values())))
        if n:
            self.entries.append((when, n, arrays))

    def trim(self, now: float, size: int, max_age_s: float) -> None:
        while self.entries and now - self.entries[0][0] > max_age_s:
            self.entries.popleft()
        excess = self.samples - size
        while excess > 0:
            when, n, arrays = self.entries.popleft()
            if n > excess:  # keep the newest part of the oldest entry
                self.entries.appendleft(
                    (when, n - excess, {k: v[excess:] for k, v in arrays.items()})
                )
            excess -= min(n, excess)

    @property
    def samples(self) -> int:
        return sum(entry[1] for entry in self.entries)

    def values(self, name: str) -> np.ndarray:
        parts = [arrays[name] for _, _, arrays in self.entries if name in arrays]
        return np.concatenate(parts) if parts else np.array([])


def _threshold_size(n: int) -> int:
    return max(THRESHOLD_STEP, n - n % THRESHOLD_STEP)


class DriftMonitor:
    """Watches the traffic of every model version that has a reference."""

    def __init__(
        self,
        settings: DriftSettings,
        registry: CollectorRegistry,
        version_dir: Callable[[str, int], str | None],
    ):
        self.settings = settings
        self._version_dir = version_dir
        # A deque, not a queue.Queue: appending takes no lock and wakes no thread, so a request
        # pays a few hundred nanoseconds and the monitor's thread runs once per interval.
        self._calls: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._references: dict[tuple[str, int], VersionReference | None] = {}
        # Calls wait here until the next update measures them all at once (numpy per call
        # would cost the server's GIL more than the measurement itself).
        self._pending: dict[tuple[str, int], list] = collections.defaultdict(list)
        self._windows: dict[tuple[str, int], tuple[_Window, _Window]] = {}
        self._snapshot: dict = {}
        labels = ("model", "version", "feature", "measure")
        self.feature_drift = Gauge(
            "dlwp_feature_drift",
            "Distance of the recent window of a feature to its training reference",
            labels,
            registry=registry,
        )
        self.feature_threshold = Gauge(
            "dlwp_feature_drift_threshold",
            "Drift threshold of the feature at the window's size",
            labels,
            registry=registry,
        )
        labels = ("model", "version", "measure")
        self.prediction_drift = Gauge(
            "dlwp_prediction_drift",
            "Distance of the recent predictions to the eval set's",
            labels,
            registry=registry,
        )
        self.prediction_threshold = Gauge(
            "dlwp_prediction_drift_threshold",
            "Drift threshold of the predictions",
            labels,
            registry=registry,
        )
        self.window_samples = Gauge(
            "dlwp_drift_window_samples",
            "Examples in the drift window",
            ("model", "version"),
            registry=registry,
        )
        self.anomalies = Counter(
            "dlwp_schema_anomalies",
            "Request values that break the training schema",
            ("model", "version", "feature", "kind"),
            registry=registry,
        )
        self.dropped = Counter(
            "dlwp_drift_dropped",
            "Model calls the drift monitor skipped because its queue was full",
            registry=registry,
        )
        self._published: dict[tuple[str, int], set] = {}
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
    ) -> None:
        if len(self._calls) >= self.settings.queue_size:
            self.dropped.inc()
            return
        self._calls.append((time.monotonic(), model, version, inputs, outputs))

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def status(self) -> dict:
        """The latest measurements: {model: {version: {...}}} (for `/monitoring/drift`)."""
        return self._snapshot

    def flush(self, timeout_s: float = 10.0) -> None:
        """Measures every call observed so far now (for tests and benchmarks)."""
        done = threading.Event()
        self._calls.append((None, done))
        self._wake.set()
        done.wait(timeout_s)

    # The background thread: once per interval, or when flushed.
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.interval_s)
            self._wake.clear()
            flushed = []
            try:
                taken = 0
                while self._calls:
                    call = self._calls.popleft()
                    if call[0] is None:
                        flushed.append(call[1])
                    else:
                        self._add_safely(*call)
                    taken += 1
                    if taken % YIELD_EVERY == 0:
                        time.sleep(0)  # let request threads have the GIL between chunks
                self._update()
            except Exception:  # the monitor must outlive a bad reference
                log.exception("drift monitor: the update failed")
            for done in flushed:
                done.set()

    def _add_safely(self, *call) -> None:
        try:
            self._add(*call)
        except Exception:  # one bad call must not stop the others from being measured
            log.exception("drift monitor: a call could not be measured")

    def _reference(self, model: str, version: int) -> VersionReference | None:
        key = (model, version)
        if key not in self._references:
            folder = self._version_dir(model, version)
            content = ref.read_reference(folder) if folder else None
            if content is None:
                log.info(
                    "drift: %s version %d has no %s; not monitored",
                    model,
                    version,
                    ref.REFERENCE_FILE,
                )
            self._references[key] = VersionReference(content) if content else None
        return self._references[key]

    def _add(self, when: float, model: str, version: int, inputs, outputs) -> None:
        reference = self._reference(model, version)
        if reference is None:
            return
        features = None
        if all(name in inputs for name in reference.features):
            features = {name: np.asarray(inputs[name]) for name in reference.features}
        predictions = ref.predicted(reference.problem_type, outputs)
        self._pending[(model, version)].append((when, features, predictions))

    def _take_pending(self, now: float) -> None:
        """Measures the calls since the last update as one batch per model version."""
        pending, self._pending = self._pending, collections.defaultdict(list)
        for (model, version), calls in pending.items():
            reference = self._references[(model, version)]
            features, predictions = self._windows.setdefault(
                (model, version), (_Window(), _Window())
            )
            with_features = [call[1] for call in calls if call[1] is not None]
            if with_features:
                series = {}
                for name, (kind, domain) in reference.features.items():
                    values = concatenate_batches([f[name] for f in with_features])
                    self._count_anomalies(model, version, name, kind, domain, values)
                    for summary, computed in ref.feature_series(kind, values, domain).items():
                        series[ref.series_name(name, summary)] = computed
                features.add(now, series)
            classes = [call[2] for call in calls if call[2] is not None]
            if classes:
                predictions.add(now, {"predictions": np.concatenate(classes)})

    def _count_anomalies(self, model, version, name, kind, domain, values) -> None:
        for anomaly, mask in (
            ("missing", ref.missing_mask(kind, values)),
            ("out_of_domain", ref.out_of_domain(kind, values, domain)),
        ):
            count = int(np.sum(mask)) if mask is not None else 0
            if count:
                self.anomalies.labels(model, str(version), name, anomaly).inc(count)

    def _update(self) -> None:
        now = time.monotonic()
        self._take_pending(now)
        snapshot: dict = {}
        for (model, version), windows in list(self._windows.items()):
            for window in windows:
                window.trim(now, self.settings.window_size, self.settings.max_age_s)
            published = self._publish(model, version, *windows, self._references[(model, version)])
            if published is None:
                del self._windows[(model, version)]
            else:
                snapshot.setdefault(model, {})[str(version)] = published
        self._snapshot = snapshot

    def _measure(self, distribution: Distribution, values: np.ndarray) -> dict:
        n = len(values)
        distance = distribution.distance(values)
        threshold = distribution.threshold(_threshold_size(n))
        recent = distribution.histogram(values)
        return {
            "measure": distribution.measure,
            "samples": n,
            "distance": distance,
            "threshold": threshold,
            "drifted": distance > threshold,
            "bins": (
                distribution.edges.tolist()
                if distribution.edges is not None
                else [str(c) for c in distribution.categories]
            ),
            "reference": distribution.probabilities.tolist(),
            "recent": recent.tolist(),
        }

    def _publish(
        self, model: str, version: int, features: _Window, predicted: _Window, reference
    ) -> dict | None:
        """Sets the gauges of one version; None once its windows are empty."""
        key, v = (model, version), str(version)
        before = self._published.get(key, set())
        now_published: set = set()
        samples = max(features.samples, predicted.samples)
        result: dict = {"samples": samples, "features": {}, "prediction": None}
        if samples >= self.settings.min_samples:
            self.window_samples.labels(model, v).set(samples)
            now_published.add(("samples",))
            for series_label, (_, _, distribution) in reference.series.items():
                values = features.values(series_label)
                if len(values) < self.settings.min_samples:
                    continue
                measured = self._measure(distribution, values)
                time.sleep(0)  # the same, between series
                result["features"][series_label] = measured
                labels = (model, v, series_label, distribution.measure)
                self.feature_drift.labels(*labels).set(measured["distance"])
                self.feature_threshold.labels(*labels).set(measured["threshold"])
                now_published.add(("feature", *labels))
            predictions = predicted.values("predictions")
            if len(predictions) >= self.settings.min_samples:
                measured = self._measure(reference.prediction, predictions)
                result["prediction"] = measured
                labels = (model, v, reference.prediction.measure)
                self.prediction_drift.labels(*labels).set(measured["distance"])
                self.prediction_threshold.labels(*labels).set(measured["threshold"])
                now_published.add(("prediction", *labels))
        for gone in before - now_published:  # absent again, rather than stale
            if gone[0] == "samples":
                self.window_samples.remove(model, v)
            elif gone[0] == "feature":
                self.feature_drift.remove(*gone[1:])
                self.feature_threshold.remove(*gone[1:])
            else:
                self.prediction_drift.remove(*gone[1:])
                self.prediction_threshold.remove(*gone[1:])
        self._published[key] = now_published
        return result if features.entries or predicted.entries else None
