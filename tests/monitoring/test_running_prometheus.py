"""A real Prometheus with dlwp's config and rules, scraping a static page of drift metrics."""

import contextlib
import http.server
import threading

import pytest
from prometheus import running_prometheus
from servers import wait_for

LABELS = 'model="m",version="1",feature="f",measure="jensen_shannon"'
METRICS = (
    "# TYPE dlwp_feature_drift gauge\n"
    f"dlwp_feature_drift{{{LABELS}}} 0.5\n"
    "# TYPE dlwp_feature_drift_threshold gauge\n"
    f"dlwp_feature_drift_threshold{{{LABELS}}} 0.1\n"
).encode()


class MetricsPage(http.server.BaseHTTPRequestHandler):
    """Answers TF Serving's metrics path with METRICS, anything else with 404."""

    def do_GET(self):
        if self.path != "/monitoring/prometheus/metrics":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(METRICS)))
        self.end_headers()
        self.wfile.write(METRICS)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def metrics_page():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MetricsPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def prometheus():
    with metrics_page() as target, running_prometheus(target) as running:
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
