"""The drift monitor's Prometheus series (docs/monitoring.md; the alerts in
monitoring/prometheus/alerts.yml and the "dlwp drift" dashboard read them):

    dlwp_feature_drift{model,version,feature,measure}            distance to the reference
    dlwp_feature_drift_threshold{model,version,feature,measure}  its threshold at this size
    dlwp_prediction_drift{model,version,measure}, dlwp_prediction_drift_threshold{...}
    dlwp_drift_window_samples{model,version}                     examples in the window
    dlwp_schema_anomalies_total{model,version,feature,kind}      kind: missing | out_of_domain
    dlwp_drift_dropped_total                                     calls the full queue dropped

A gauge exists only while its series is measured: `publish` sets what a version's window
measured and removes what it published before and no longer does (a window below the minimum
size, a version without traffic), so a series is absent rather than stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge

from serving.drift_measures import Measurement

MISSING = "missing"  # schema anomaly kinds (the `kind` label)
OUT_OF_DOMAIN = "out_of_domain"


class _Published(NamedTuple):
    """Gauges set with the same label values, removed together."""

    gauges: tuple[Gauge, ...]
    labels: tuple[str, ...]


class DriftGauges:
    """The drift series of every monitored version, in `registry`."""

    def __init__(self, registry: CollectorRegistry):
        feature_labels = ("model", "version", "feature", "measure")
        self.feature_drift = Gauge(
            "dlwp_feature_drift",
            "Distance of the recent window of a feature to its training reference",
            feature_labels,
            registry=registry,
        )
        self.feature_threshold = Gauge(
            "dlwp_feature_drift_threshold",
            "Drift threshold of the feature at the window's size",
            feature_labels,
            registry=registry,
        )
        prediction_labels = ("model", "version", "measure")
        self.prediction_drift = Gauge(
            "dlwp_prediction_drift",
            "Distance of the recent predictions to the eval set's",
            prediction_labels,
            registry=registry,
        )
        self.prediction_threshold = Gauge(
            "dlwp_prediction_drift_threshold",
            "Drift threshold of the predictions",
            prediction_labels,
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
        self._published: dict[tuple[str, int], set[_Published]] = {}

    def count_anomalies(
        self, model: str, version: int, feature: str, kind: str, count: int
    ) -> None:
        """Adds `count` values of `feature` that break the schema (`kind`: MISSING or
        OUT_OF_DOMAIN)."""
        if count:
            self.anomalies.labels(model, str(version), feature, kind).inc(count)

    def publish(
        self,
        model: str,
        version: int,
        samples: int | None,
        features: Mapping[str, Measurement],
        prediction: Measurement | None,
    ) -> None:
        """Sets one version's series to its latest measurements and removes those it had
        before and not now.

        Args:
            model, version: the version.
            samples: the window's examples, None while below the minimum (no series then).
            features: feature series label -> its measurement.
            prediction: the predictions' measurement, if measured.
        """
        v = str(version)
        published: set[_Published] = set()
        if samples is not None:
            published.add(self._set((model, v), {self.window_samples: samples}))
        for series, measured in features.items():
            values = {
                self.feature_drift: measured.distance,
                self.feature_threshold: measured.threshold,
            }
            published.add(self._set((model, v, series, measured.measure), values))
        if prediction is not None:
            values = {
                self.prediction_drift: prediction.distance,
                self.prediction_threshold: prediction.threshold,
            }
            published.add(self._set((model, v, prediction.measure), values))
        for gone in self._published.pop((model, version), set()) - published:
            for gauge in gone.gauges:
                gauge.remove(*gone.labels)
        if published:
            self._published[(model, version)] = published

    @staticmethod
    def _set(labels: tuple[str, ...], values: Mapping[Gauge, float]) -> _Published:
        for gauge, value in values.items():
            gauge.labels(*labels).set(value)
        return _Published(tuple(values), labels)
