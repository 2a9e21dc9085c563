"""The live metric of each served version (book 6.3.3, docs/monitoring.md, "Audits"): how it
does on the production examples people labelled, beside its test metric, as Prometheus series.

    live = LiveMetrics(metrics.registry, reports_dir="<home>/reports")
    live.restore("houses", index)                 # the labels already in the feedback index
    live.add(logged, label, previous)             # each new label (POST :feedback)

Series, one per (model, version, arm): `arm` is the traffic-split arm that routed the example,
or `unsplit`.
- `dlwp_live_metric{model,version,arm,metric}`: `accuracy`, `accuracy_lower`, `accuracy_upper`
  (classification) or `mae`, `mae_lower`, `mae_upper` (regression), the 95 % interval of
  serving/audit_stats.py: each labelled example weighs 1/p, p the probability it was logged with.
- `dlwp_labelled_examples_total{model,version,arm}`: labelled examples (a relabel counts once).
- `dlwp_test_metric{model,version,metric}`: the version's test accuracy or MAE from its
  `<reports_dir>/<model>/<version>/report.json`, read once per version; absent without one.

Each series keeps only its running sums (serving/audit_stats.WeightedSums), so memory does not
grow with the labels. A relabel removes the old observation and adds the new one; the sums are
additive, so labels of one example stored by concurrent requests end right in any order.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from contract.feedback_index import IndexReader, Label, LoggedExample
from contract.report_files import REPORT_JSON
from contract.versions import read_json
from serving.audit_stats import (
    LiveMetric,
    WeightedSums,
    live_metric,
    metric_name,
    observation,
    report_test_value,
)

UNSPLIT = "unsplit"  # the `arm` of examples no traffic split routed
_PROBLEM_TYPES = ("binary", "multiclass", "regression")


def series_arm(arm: str) -> str:
    """The `arm` label of an example's series: its split arm, or UNSPLIT."""
    return arm or UNSPLIT


def report_test_metric(reports_dir: str, model: str, version: int, metric: str) -> float | None:
    """The version's test value of `metric` from `<reports_dir>/<model>/<version>/report.json`
    (serving/audit_stats.report_test_value); None without a report."""
    if not reports_dir:
        return None
    report = read_json(os.path.join(reports_dir, model, str(version)), REPORT_JSON)
    return report_test_value(report, metric) if isinstance(report, dict) else None


class LabelSink(Protocol):
    """Where `:feedback` joins its labels: LiveMetrics, or a worker's forwarder to the hub's
    (serving/hub_client.py)."""

    def restore(self, model: str, index: IndexReader) -> int: ...

    def add(self, logged: LoggedExample, label: Label, previous: Label | None = None) -> None: ...


class LiveMetrics:
    """The live metric series of every model (module docstring). Thread-safe.

    Args:
        registry: where the series are registered (the server's, or a test's own).
        reports_dir: the reports folder (`<home>/reports`), for the test metric; "" for none.
        confidence: of the intervals.
    """

    def __init__(
        self, registry: CollectorRegistry, reports_dir: str = "", confidence: float = 0.95
    ):
        self.reports_dir, self.confidence = reports_dir, confidence
        self._live = Gauge(
            "dlwp_live_metric",
            "The live metric of labelled production examples, weighted by 1/p (the sampling "
            "probability), with its 95 % interval: accuracy or mae, and _lower, _upper.",
            ["model", "version", "arm", "metric"],
            registry=registry,
        )
        self._labelled = Counter(
            "dlwp_labelled_examples",
            "Labelled production examples joined to their logged answer.",
            ["model", "version", "arm"],
            registry=registry,
        )
        self._test = Gauge(
            "dlwp_test_metric",
            "The version's test metric (accuracy or mae) from its report.json.",
            ["model", "version", "metric"],
            registry=registry,
        )
        self._lock = threading.Lock()
        self._restore_lock = threading.Lock()
        # (model, version, arm) -> (metric name, sums); one entry per series.
        self._sums: dict[tuple[str, int, str], tuple[str, WeightedSums]] = {}
        self._restored: set[str] = set()
        self._tested: set[tuple[str, int]] = set()

    def restored(self, model: str) -> bool:
        """Whether `restore` ran for `model`."""
        return model in self._restored

    def restore(self, model: str, index: IndexReader) -> int:
        """Sets `model`'s series from the labels in its feedback index (at start, or before its
        first `add`: serving/feedback_api.py restores a model before it stores its labels); a
        model already restored is left as it is.

        Returns:
            The labelled examples restored (0 when it was already restored).
        """
        with self._restore_lock:
            if model in self._restored:
                return 0
            pairs = index.labelled()
            fresh: dict[tuple[str, int, str], tuple[str, WeightedSums]] = {}
            for logged, label in pairs:
                found = _observed(logged, label)
                if found is None:
                    continue
                key, metric, y, w = found
                fresh[key] = (metric, fresh.get(key, (metric, WeightedSums()))[1].add(y, w))
            with self._lock:
                for key in [k for k in self._sums if k[0] == model]:
                    del self._sums[key]
                self._sums.update(fresh)
                for key, (_, sums) in fresh.items():
                    self._labelled.labels(key[0], str(key[1]), key[2]).inc(sums.count)
                    self._publish(key)
                self._restored.add(model)
            self._publish_tests({(key[0], key[1], metric) for key, (metric, _) in fresh.items()})
            return sum(sums.count for _, sums in fresh.values())

    def add(self, logged: LoggedExample, label: Label, previous: Label | None = None) -> None:
        """Joins a new label of `logged` (`previous`: the label it replaces, or None) into the
        example's series. An example whose problem type or prediction is unknown, or whose
        probability is not in (0, 1], is left out (no metric can use it)."""
        found = _observed(logged, label)
        if found is None:
            return
        key, metric, y, w = found
        old = _observed(logged, previous) if previous is not None else None
        with self._lock:
            sums = self._sums.get(key, (metric, WeightedSums()))[1]
            if old is not None:
                sums = sums.add(old[2], old[3], sign=-1)
            self._sums[key] = (metric, sums.add(y, w))
            if previous is None:
                self._labelled.labels(key[0], str(key[1]), key[2]).inc()
            self._publish(key)
        self._publish_tests({(key[0], key[1], metric)})

    def metric(self, model: str, version: int, arm: str = "") -> LiveMetric | None:
        """The live metric of a series (`arm` "" for unsplit), or None without labels."""
        with self._lock:
            found = self._sums.get((model, int(version), series_arm(arm)))
        if found is None or found[1].count <= 0:
            return None
        return live_metric(found[0], found[1], self.confidence)

    def _publish(self, key: tuple[str, int, str]) -> None:
        """Sets the gauges of one series (under the lock)."""
        metric, sums = self._sums[key]
        model, version, arm = key[0], str(key[1]), key[2]
        names = (metric, f"{metric}_lower", f"{metric}_upper")
        if sums.count <= 0:
            for name in names:
                self._live.remove(model, version, arm, name)
            return
        found = live_metric(metric, sums, self.confidence)
        for name, value in zip(names, (found.value, found.lower, found.upper), strict=True):
            self._live.labels(model, version, arm, name).set(value)

    def _publish_tests(self, versions: Iterable[tuple[str, int, str]]) -> None:
        """Sets the test metric of each (model, version, metric) not seen before; a version's
        report is read once (a published version never changes)."""
        for model, version, metric in versions:
            with self._lock:
                if (model, version) in self._tested:
                    continue
                self._tested.add((model, version))
            value = report_test_metric(self.reports_dir, model, version, metric)
            if value is not None and math.isfinite(value):
                self._test.labels(model, str(version), metric).set(value)


def _observed(
    logged: LoggedExample, label: Label
) -> tuple[tuple[str, int, str], str, float, float] | None:
    """(series key, metric name, observation y, weight 1/p) of a labelled example, or None
    when it cannot count (unknown problem type or prediction, a probability not in (0, 1])."""
    if logged.problem_type not in _PROBLEM_TYPES or not math.isfinite(logged.prediction):
        return None
    if not 0 < logged.probability <= 1 or not math.isfinite(label.value):
        return None
    key = (logged.model, int(logged.version), series_arm(logged.arm))
    y = observation(logged.problem_type, logged.prediction, label.value)
    return key, metric_name(logged.problem_type), y, 1.0 / logged.probability
