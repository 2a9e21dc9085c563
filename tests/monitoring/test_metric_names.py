"""Rules, their tests and the dashboards use only the series `dlwp serve` exposes."""

import pathlib
import re

MONITORING_DIR = pathlib.Path(__file__).resolve().parents[2] / "monitoring"
# The contract: docs/serving.md "Metrics" and docs/monitoring.md.
COUNTERS_AND_GAUGES = {
    "dlwp_request_count_total",
    "dlwp_model_versions_loaded",
    "dlwp_model_load_failures_total",
    "dlwp_requests_in_flight",
    "dlwp_feature_drift",
    "dlwp_feature_drift_threshold",
    "dlwp_prediction_drift",
    "dlwp_prediction_drift_threshold",
    "dlwp_drift_window_samples",
    "dlwp_schema_anomalies_total",
}
HISTOGRAMS = {"dlwp_request_latency_seconds", "dlwp_batch_size"}
SERIES = (
    COUNTERS_AND_GAUGES
    | HISTOGRAMS
    | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
)


def test_rules_and_dashboards_use_only_the_served_series():
    files = [
        MONITORING_DIR / "prometheus" / "alerts.yml",
        MONITORING_DIR / "prometheus" / "alerts_test.yml",
        *sorted((MONITORING_DIR / "grafana" / "dashboards").glob("*.json")),
    ]
    used = {path.name: set(re.findall(r"dlwp_[a-z_]+", path.read_text())) for path in files}
    assert {name: names - SERIES for name, names in used.items()} == {
        path.name: set() for path in files
    }
    assert all(used.values())
