"""The whole monitoring path with real parts: `dlwp serve` (a model with a drift reference),
Debian's Prometheus scraping it with dlwp's rules, and every Grafana panel's query.

Reference-like traffic first: the drift series reach Prometheus and no drift alert is pending.
Then drifted traffic (rooms + 1 standard deviation, red houses only): DlwpFeatureDrift is
pending for exactly the drifted features. Finally every panel of both dashboards returns data.
"""

import json
import pathlib

import numpy as np
import pytest
from drift_models import COLORS, MODEL, predict_body, write_house_model
from prometheus import running_prometheus
from servers import running_server, settings_for, wait_for

from serving.settings import BatchingOptions, DriftSettings, RestLimits

DASHBOARDS = pathlib.Path(__file__).parents[2] / "monitoring" / "grafana" / "dashboards"
# The audit dashboard's series need labelled feedback: test_audit_dashboard.py checks its panels.
SERVED_DASHBOARDS = ("dlwp-drift.json", "dlwp-serving.json")
# Grafana's variables, as a person looking at every model would set them.
VARIABLES = {"$__rate_interval": "1m", "$model": ".*", "$version": ".*", "$feature": ".*"}


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of the served dashboards, variables filled in."""
    queries = []
    for path in (DASHBOARDS / name for name in SERVED_DASHBOARDS):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for name, value in VARIABLES.items():
                    expr = expr.replace(name, value)
                queries.append((f"{path.stem}: {panel.get('title')}", expr))
    return queries


def drift_alerts(prometheus) -> list[dict]:
    return [
        alert
        for alert in prometheus.alerts()
        if alert["labels"]["alertname"] == "DlwpFeatureDrift"
        and alert["state"] in ("pending", "firing")
    ]


@pytest.fixture
def served(tmp_path):
    models = tmp_path / "models"
    write_house_model(str(models))
    (models / "broken" / "1").mkdir(parents=True)  # a version that fails to load
    (models / "broken" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    settings = settings_for(
        models_dir=str(models),
        drift=DriftSettings(window_size=300, min_samples=100, interval_s=0.2),
        batching=BatchingOptions(max_batch_size=64, num_batch_threads=2),
        limits=RestLimits(request_timeout_s=1.0),
    )
    with running_server(settings) as server:
        yield server


def test_prometheus_sees_every_panel_and_the_drift_alert_of_the_drifted_features(served):
    rng = np.random.default_rng(0)
    with served.client() as client, running_prometheus(served.url.split("//")[1]) as prometheus:

        def send(rooms, colors):
            response = client.post(
                f"/v1/models/{MODEL}:predict", content=predict_body(rooms, colors)
            )
            assert response.status_code == 200, response.text

        for _ in range(5):
            send(rng.normal(0, 1, 60), rng.choice(COLORS, 60))
        wait_for(
            lambda: prometheus.query(f'dlwp_feature_drift{{model="{MODEL}"}}'),
            30,
            "the drift series in Prometheus",
        )
        # The evaluation under way may predate the series: two more evaluate the clean window.
        evaluated = prometheus.rule_evaluations()
        wait_for(
            lambda: prometheus.rule_evaluations() >= evaluated + 1 + 2,
            30,
            "two rule evaluations over the clean window",
        )
        assert drift_alerts(prometheus) == []
        ratios = prometheus.query("dlwp_feature_drift / dlwp_feature_drift_threshold")
        assert ratios and all(float(r["value"][1]) < 1 for r in ratios)

        for _ in range(5):
            send(rng.normal(1.0, 1, 60), ["red"] * 60)
        pending = wait_for(lambda: drift_alerts(prometheus), 30, "DlwpFeatureDrift")
        assert {alert["labels"]["feature"] for alert in pending} == {"rooms", "color"}

        # The rarer events that some panels show: a client error, a missing value, and a call
        # past the deadline (a server-side error).
        assert (
            client.post(
                f"/v1/models/{MODEL}:predict", json={"inputs": {"rooms": ["x"], "color": ["red"]}}
            ).status_code
            == 400
        )
        send([float("nan")], ["red"])
        slow = client.post(
            f"/v1/models/{MODEL}:predict",
            json={"signature_name": "slow", "inputs": {"iterations": [2_000_000]}},
        )  # seconds
        assert slow.status_code == 504, slow.text
        for title, expr in panel_queries():
            wait_for(lambda expr=expr: prometheus.query(expr), 30, f"data for {title}: {expr}")
