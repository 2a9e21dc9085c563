"""The series `dlwp serve` exposes, read from its own registries, are the ones the docs name and
the only ones the alert rules, their tests and the dashboards use.

The registries are built as the server builds them: `ServingMetrics` (serving/metrics.py) and
the request observers of `serving.server.build_observers` (the drift monitor, the feedback log)
and the live metrics of labelled feedback (serving/live_metrics.py, which every server has), all
in the same registry that /metrics serves.
"""

import pathlib
import re

import pytest
from prometheus_client import CollectorRegistry

from serving.live_metrics import LiveMetrics
from serving.metrics import ServingMetrics
from serving.server import build_observers
from serving.settings import DriftSettings, ServeSettings

ROOT = pathlib.Path(__file__).resolve().parents[2]
MONITORING_DIR = ROOT / "monitoring"
DOCS_DIR = ROOT / "docs"
# A metric as the docs name it (a counter with `_total`, a histogram by its base name), and the
# series Prometheus scrapes of it. The server turns `_created` series off (serving/server.py).
DOCUMENTED_SUFFIX = {"counter": "_total", "gauge": "", "histogram": ""}
SCRAPED_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
}
DOCUMENTED_NAME = re.compile(r"`(dlwp_[a-z_]+)")


def documented_names(registry: CollectorRegistry) -> set[str]:
    """The registry's metrics as the docs name them."""
    return {family.name + DOCUMENTED_SUFFIX[family.type] for family in registry.collect()}


def scraped_series(registry: CollectorRegistry) -> set[str]:
    """The series names Prometheus scrapes from the registry."""
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in SCRAPED_SUFFIXES[family.type]
    }


@pytest.fixture(scope="module")
def registries(tmp_path_factory) -> dict[str, CollectorRegistry]:
    """The registry of a server with every observer on, and what each part adds to it."""
    feedback_dir = str(tmp_path_factory.mktemp("feedback"))
    served = {
        "serving": ServeSettings(drift=None),
        "drift": ServeSettings(drift=DriftSettings()),
        "feedback": ServeSettings(drift=None, feedback_rate=1.0, feedback_dir=feedback_dir),
        "live": ServeSettings(drift=None),
        "server": ServeSettings(
            drift=DriftSettings(), feedback_rate=1.0, feedback_dir=feedback_dir
        ),
    }
    found, observers = {}, []
    try:
        for part, settings in served.items():
            metrics = ServingMetrics()
            observers += build_observers(settings, metrics)
            if part in ("live", "server"):
                LiveMetrics(metrics.registry)
            found[part] = metrics.registry
    finally:
        for observer in observers:
            observer.close()
    return found


def part_names(registries, part: str) -> set[str]:
    """What `part` (drift, feedback) adds to the server's own metrics."""
    return documented_names(registries[part]) - documented_names(registries["serving"])


def metrics_table() -> set[str]:
    """The names in docs/serving.md's "Metrics" table."""
    text = (DOCS_DIR / "serving.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return {name for row in rows for name in DOCUMENTED_NAME.findall(row.split("|")[1])}


def test_every_part_of_the_server_registers_series(registries):
    assert documented_names(registries["serving"])
    assert part_names(registries, "drift")
    assert part_names(registries, "feedback")
    assert part_names(registries, "live")


def test_the_serving_docs_metrics_table_lists_exactly_the_served_metrics(registries):
    assert metrics_table() == documented_names(registries["server"])


def test_the_monitoring_docs_name_every_drift_feedback_and_live_metric_and_no_other(registries):
    named = set(DOCUMENTED_NAME.findall((DOCS_DIR / "monitoring.md").read_text()))
    assert named - documented_names(registries["server"]) == set()
    assert part_names(registries, "drift") - named == set()
    assert part_names(registries, "feedback") - named == set()
    assert part_names(registries, "live") - named == set()


def test_rules_and_dashboards_use_only_the_served_series(registries):
    served = scraped_series(registries["server"]) | documented_names(registries["server"])
    files = [
        MONITORING_DIR / "prometheus" / "alerts.yml",
        MONITORING_DIR / "prometheus" / "alerts_test.yml",
        *sorted((MONITORING_DIR / "grafana" / "dashboards").glob("*.json")),
    ]
    used = {path.name: set(re.findall(r"dlwp_[a-z_]+", path.read_text())) for path in files}
    assert {name: names - served for name, names in used.items()} == {
        path.name: set() for path in files
    }
    assert all(used.values())
