"""The audit dashboard and DlwpLiveMetricBelowTest in a real Prometheus (Debian's), scraping a
page of the live-metric, label, split and feedback series as `dlwp serve` names them
(docs/monitoring.md), written by prometheus_client.

Every panel of dlwp-audit.json returns the series it is meant to show, with the values put on
the page, and the alert is pending for exactly the versions whose interval is past the test
metric with 30 labelled examples or more.
"""

import json
import pathlib

import pytest
from prometheus import metrics_page, running_prometheus
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from servers import wait_for

DASHBOARD = (
    pathlib.Path(__file__).parents[2] / "monitoring" / "grafana" / "dashboards" / "dlwp-audit.json"
)
VARIABLES = {"$__rate_interval": "1m", "$model": ".*", "$version": ".*"}
# (model, version, arm): (metric, value, lower, upper, test metric, labelled examples)
VERSIONS = {
    ("fashion_mnist", "1", "stable"): ("accuracy", 0.90, 0.87, 0.93, 0.91, 200),
    ("fashion_mnist", "2", "canary"): ("accuracy", 0.82, 0.78, 0.86, 0.91, 100),
    ("imdb", "3", "unsplit"): ("accuracy", 0.40, 0.10, 0.50, 0.88, 12),
    ("boston_housing", "4", "unsplit"): ("mae", 3.6, 3.1, 4.2, 2.5, 45),
    ("boston_housing", "5", "unsplit"): ("mae", 2.4, 2.0, 3.0, 2.5, 45),
}
BELOW_TEST = {("fashion_mnist", "2", "canary"), ("boston_housing", "4", "unsplit")}
SPLIT = {("fashion_mnist", "stable"): 900, ("fashion_mnist", "canary"): 100}
FEEDBACK = {"fashion_mnist": (400, 3), "imdb": (50, 0), "boston_housing": (120, 0)}


def exposition() -> bytes:
    """The page: one registry with the series of VERSIONS, SPLIT and FEEDBACK."""
    registry = CollectorRegistry()
    live = Gauge("dlwp_live_metric", "", ["model", "version", "arm", "metric"], registry=registry)
    labelled = Counter("dlwp_labelled_examples", "", ["model", "version", "arm"], registry=registry)
    test = Gauge("dlwp_test_metric", "", ["model", "version", "metric"], registry=registry)
    for (model, version, arm), (metric, value, lower, upper, tested, count) in VERSIONS.items():
        for suffix, number in (("", value), ("_lower", lower), ("_upper", upper)):
            live.labels(model, version, arm, metric + suffix).set(number)
        test.labels(model, version, metric).set(tested)
        labelled.labels(model, version, arm).inc(count)
    split = Counter("dlwp_split_requests", "", ["model", "arm"], registry=registry)
    for (model, arm), count in SPLIT.items():
        split.labels(model, arm).inc(count)
    written = Counter("dlwp_feedback_examples", "", ["model"], registry=registry)
    dropped = Counter("dlwp_feedback_dropped", "", ["model"], registry=registry)
    for model, (count, lost) in FEEDBACK.items():
        written.labels(model).inc(count)
        dropped.labels(model).inc(lost)
    return generate_latest(registry)


@pytest.fixture(scope="module")
def prometheus():
    with metrics_page(exposition()) as target, running_prometheus(target) as running:
        wait_for(lambda: running.query("dlwp_live_metric"), 15, "a scrape of dlwp_live_metric")
        yield running


def panel(title: str) -> dict:
    (found,) = [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["title"] == title]
    return found


def query(prometheus, target: dict) -> dict[tuple, float]:
    """A panel target's instant result: (model, version, arm) (those it has) -> value."""
    expr = target["expr"]
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return {
        tuple(sample["metric"].get(key) for key in ("model", "version", "arm")): float(
            sample["value"][1]
        )
        for sample in prometheus.query(expr)
    }


def by_ref(target_list: list[dict]) -> dict[str, dict]:
    return {target["refId"]: target for target in target_list}


@pytest.mark.parametrize(
    "title, metric",
    [("Live accuracy against test accuracy", "accuracy"), ("Live MAE against test MAE", "mae")],
)
def test_live_metric_panel_shows_each_arm_its_interval_and_the_test_line(prometheus, title, metric):
    targets = by_ref(panel(title)["targets"])
    mine = {key: row for key, row in VERSIONS.items() if row[0] == metric}
    for ref, column in (("A", 1), ("B", 2), ("C", 3)):
        assert query(prometheus, targets[ref]) == {key: row[column] for key, row in mine.items()}
    assert query(prometheus, targets["D"]) == {
        (model, version, None): row[4] for (model, version, _), row in mine.items()
    }


def test_labelled_examples_panel_counts_every_version_and_arm(prometheus):
    (target,) = panel("Labelled examples")["targets"]
    assert query(prometheus, target) == {key: row[5] for key, row in VERSIONS.items()}


def test_split_and_feedback_panels_have_a_series_per_arm_and_model(prometheus):
    (split,) = panel("Split traffic per arm")["targets"]
    arms = wait_for(lambda: query(prometheus, split), 15, "a rate of dlwp_split_requests_total")
    assert set(arms) == {(model, None, arm) for model, arm in SPLIT}
    logged, dropped = panel("Feedback examples logged and dropped per second")["targets"]
    for target in (logged, dropped):
        rates = wait_for(lambda target=target: query(prometheus, target), 15, target["expr"])
        assert set(rates) == {(model, None, None) for model in FEEDBACK}
    (labels,) = panel("Labels per hour")["targets"]
    rates = wait_for(lambda: query(prometheus, labels), 15, labels["expr"])
    assert set(rates) == set(VERSIONS)


def live_alerts(prometheus) -> list[dict]:
    return [
        alert
        for alert in prometheus.alerts()
        if alert["labels"]["alertname"] == "DlwpLiveMetricBelowTest"
    ]


def test_alert_is_pending_for_the_versions_past_their_test_metric(prometheus):
    evaluated = prometheus.rule_evaluations()
    wait_for(lambda: prometheus.rule_evaluations() >= evaluated + 2, 30, "two rule evaluations")
    alerts = live_alerts(prometheus)
    assert {
        (a["labels"]["model"], a["labels"]["version"], a["labels"]["arm"]) for a in alerts
    } == BELOW_TEST
    assert {a["state"] for a in alerts} == {"pending"}  # for: 30m
    (canary,) = [a for a in alerts if a["labels"]["arm"] == "canary"]
    assert canary["labels"]["metric"] == "accuracy_upper"
    assert float(canary["value"]) == pytest.approx(0.86)
    assert (
        "is at most 0.860, the upper end of its 95% interval, below its test accuracy 0.910, "
        "with 100 labelled examples" in canary["annotations"]["description"]
    )
