"""A real Prometheus with dlwp's config and rules, scraping a static page of drift metrics."""

import pytest
from prometheus import metrics_page, running_prometheus
from servers import wait_for

LABELS = 'model="m",version="1",feature="f",measure="jensen_shannon"'
METRICS = (
    "# TYPE dlwp_feature_drift gauge\n"
    f"dlwp_feature_drift{{{LABELS}}} 0.5\n"
    "# TYPE dlwp_feature_drift_threshold gauge\n"
    f"dlwp_feature_drift_threshold{{{LABELS}}} 0.1\n"
).encode()


@pytest.fixture(scope="module")
def prometheus():
    with (
        metrics_page(METRICS, "/monitoring/prometheus/metrics") as target,
        running_prometheus(target) as running,
    ):
        yield running


def test_prometheus_scrapes_the_target(prometheus):
    found = wait_for(
        lambda: prometheus.query("dlwp_feature_drift"),
        timeout_s=15,
        what="a scrape of dlwp_feature_drift",
    )
    assert [(sample["metric"]["feature"], sample["value"][1]) for sample in found] == [("f", "0.5")]


def test_drift_above_its_threshold_is_pending_until_it_lasted_ten_minutes(prometheus):
    (alert,) = wait_for(
        lambda: [
            alert
            for alert in prometheus.alerts()
            if alert["labels"]["alertname"] == "DlwpFeatureDrift"
        ],
        timeout_s=15,
        what="the DlwpFeatureDrift alert",
    )
    assert alert["state"] == "pending"
    assert alert["labels"] == {
        "alertname": "DlwpFeatureDrift",
        "severity": "warning",
        "instance": alert["labels"]["instance"],
        "job": "dlwp",
        "model": "m",
        "version": "1",
        "feature": "f",
        "measure": "jensen_shannon",
    }
    assert "is 0.500, above its threshold 0.100" in alert["annotations"]["description"]
