"""A real Prometheus (Debian's /usr/bin/prometheus) on loopback, scraping a test target.

Usage:
    with running_prometheus("127.0.0.1:8501") as prometheus:
        wait_for(lambda: prometheus.query("dlwp_requests_in_flight"))
        evaluated = prometheus.rule_evaluations()
        wait_for(lambda: prometheus.rule_evaluations() > evaluated)
        alerts = prometheus.alerts()
"""

import contextlib
import dataclasses
import http.server
import pathlib
import subprocess
import tempfile
import threading
import time

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port

PROMETHEUS = "/usr/bin/prometheus"
MONITORING_DIR = pathlib.Path(__file__).resolve().parents[1] / "monitoring"
CONFIG = MONITORING_DIR / "prometheus" / "prometheus.yml"


@dataclasses.dataclass
class RunningPrometheus:
    """A Prometheus under test: its base URL and its HTTP API."""

    url: str

    def _get(self, path: str, **params) -> dict:
        answer = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]

    def query(self, expr: str) -> list:
        """The instant vector of `expr` now: [{"metric": {...}, "value": [time, "value"]}]."""
        return self._get("/api/v1/query", query=expr)["result"]

    def alerts(self) -> list:
        """Pending and firing alerts: [{"labels", "annotations", "state", "activeAt", "value"}]."""
        return self._get("/api/v1/alerts")["alerts"]

    def rule_evaluations(self, group: str = "dlwp") -> int:
        """How many times Prometheus has evaluated the rule group `group` so far (its own
        `prometheus_rule_group_iterations_total`), to wait for evaluations before asserting
        that an alert is not pending."""
        answer = httpx.get(f"{self.url}/metrics", timeout=10)
        answer.raise_for_status()
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                if sample.name == "prometheus_rule_group_iterations_total" and sample.labels[
                    "rule_group"
                ].endswith(f";{group}"):
                    return int(sample.value)
        return 0


def config_for(target: str, rules: bool, scrape_interval: str, evaluation_interval: str) -> dict:
    """monitoring/prometheus/prometheus.yml with `target`, the intervals and absolute rule paths."""
    config = yaml.safe_load(CONFIG.read_text())
    config["global"].update(
        scrape_interval=scrape_interval, evaluation_interval=evaluation_interval
    )
    # The copy lives in a temporary folder: rule paths relative to the original must be absolute.
    config["rule_files"] = [str(CONFIG.parent / path) for path in config["rule_files"] if rules]
    for job in config["scrape_configs"]:
        job["scrape_interval"] = scrape_interval
        job["static_configs"] = [{"targets": [target]}]
    return config


@contextlib.contextmanager
def running_prometheus(
    target: str,
    rules: bool = True,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    timeout_s: float = 30.0,
):
    """Starts Prometheus scraping `target` with dlwp's config and rules; stops it on exit.

    Raises:
        RuntimeError: Prometheus is not installed (`make debian-packages`), or did not become
            ready within `timeout_s` (the message holds the end of its log).
    """
    if not pathlib.Path(PROMETHEUS).exists():
        raise RuntimeError(
            f"{PROMETHEUS} not found: run `make debian-packages` (Debian's prometheus)"
        )
    with tempfile.TemporaryDirectory(prefix="dlwp-prometheus-") as temporary:
        folder = pathlib.Path(temporary)
        config = folder / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(config_for(target, rules, scrape_interval, evaluation_interval))
        )
        address = f"127.0.0.1:{free_port()}"
        log_path = folder / "prometheus.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={folder / 'tsdb'}",
                    f"--web.listen-address={address}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            url = f"http://{address}"
            _wait_until_ready(url, process, log_path, timeout_s)
            yield RunningPrometheus(url)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(
    url: str, process: subprocess.Popen, log_path: pathlib.Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"Prometheus at {url} did not become ready:\n{tail}")


@contextlib.contextmanager
def metrics_page(body: bytes, path: str | None = None):
    """Serves `body` as a Prometheus text page on a loopback port, at `path` (any path when
    None; 404 elsewhere); yields its host:port, a scrape target."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if path is not None and self.path != path:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
