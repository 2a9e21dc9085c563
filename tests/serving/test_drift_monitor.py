"""The drift monitor in a real `dlwp serve` stack: reference-like traffic stays below the
thresholds, drifted traffic crosses them, anomalies are counted, series appear only with enough
samples, and requests never wait for it; and, on its own, what it does with a version whose
reference it cannot read, and how `flush` and its gauges behave."""

import logging
import os
import shutil

import numpy as np
import pytest
from drift_models import COLORS, MODEL, predict_body, write_drift_assets, write_house_model
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from servers import running_server, settings_for

from contract.version_assets import ASSETS_EXTRA, REFERENCE_FILE
from serving.drift_gauges import DriftGauges
from serving.drift_measures import Distribution, measure_window
from serving.drift_monitor import DriftMonitor
from serving.settings import DriftSettings


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """houses/1 with a drift reference (tests/drift_models.py)."""
    root = str(tmp_path_factory.mktemp("drift-models"))
    write_house_model(root)
    return root


@pytest.fixture
def server(models_dir):
    settings = settings_for(
        workers=1,
        models_dir=models_dir,
        drift=DriftSettings(window_size=300, min_samples=100, interval_s=0.1),
    )
    with running_server(settings) as running:
        yield running


def _predict(client, rooms, colors):
    response = client.post(f"/v1/models/{MODEL}:predict", content=predict_body(rooms, colors))
    assert response.status_code == 200, response.text
    return response.json()


def _series(client, name: str) -> dict[tuple, float]:
    """{label values (without model, version): value} of one metric family."""
    text = client.get("/metrics").text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                labels = {k: v for k, v in sample.labels.items() if k not in ("model", "version")}
                found[tuple(sorted(labels.values()))] = sample.value
    return found


def _flush(server):
    monitor = server.stack.api.drift
    monitor.flush()
    return monitor


def test_series_appear_with_enough_samples_and_stay_below_threshold_for_clean_traffic(server):
    rng = np.random.default_rng(1)
    with server.client() as client:
        _predict(client, rng.normal(0, 1, 60), rng.choice(COLORS, 60))
        _flush(server)
        assert _series(client, "dlwp_feature_drift") == {}  # 60 < min_samples
        for _ in range(4):
            _predict(client, rng.normal(0, 1, 60), rng.choice(COLORS, 60))
        _flush(server)
        drift = _series(client, "dlwp_feature_drift")
        thresholds = _series(client, "dlwp_feature_drift_threshold")
        assert set(drift) == {("jensen_shannon", "rooms"), ("color", "l_infinity")}
        for key, value in drift.items():
            assert 0 <= value < thresholds[key], key
        assert _series(client, "dlwp_drift_window_samples") == {(): 300.0}
        prediction = _series(client, "dlwp_prediction_drift")[("l_infinity",)]
        assert prediction < _series(client, "dlwp_prediction_drift_threshold")[("l_infinity",)]


def test_drifted_traffic_crosses_the_thresholds_and_the_status_says_which(server):
    rng = np.random.default_rng(2)
    with server.client() as client:
        for _ in range(5):  # the window of 300 fills with shifted rooms and red houses only
            _predict(client, rng.normal(1.0, 1, 60), ["red"] * 60)
        _flush(server)
        drift = _series(client, "dlwp_feature_drift")
        thresholds = _series(client, "dlwp_feature_drift_threshold")
        assert all(drift[key] > thresholds[key] for key in drift)
        assert (
            _series(client, "dlwp_prediction_drift")[("l_infinity",)]
            > _series(client, "dlwp_prediction_drift_threshold")[("l_infinity",)]
        )
        status = client.get(f"/monitoring/drift?model={MODEL}").json()[MODEL]["1"]
        assert status["samples"] == 300
        assert status["features"]["color"]["drifted"] and status["features"]["rooms"]["drifted"]
        assert (
            status["features"]["color"]["recent"][status["features"]["color"]["bins"].index("red")]
            == 1.0
        )
        assert client.get("/monitoring/drift?model=nope").status_code == 404


def test_missing_and_out_of_domain_values_are_counted(server):
    with server.client() as client:
        _predict(client, [np.nan] * 5 + [1.0] * 3, ["green"] * 3 + ["red"] * 5)
        _flush(server)
        anomalies = _series(client, "dlwp_schema_anomalies_total")
    assert anomalies[("missing", "rooms")] == 5
    assert anomalies[("color", "out_of_domain")] == 3


def test_a_full_queue_drops_calls_instead_of_blocking_requests(models_dir):
    settings = settings_for(
        workers=1, models_dir=models_dir, drift=DriftSettings(queue_size=1, interval_s=60)
    )
    with running_server(settings) as running, running.client() as client:
        for _ in range(20):  # the monitor measures once a minute: its queue stays full
            _predict(client, [0.5], ["red"])
        dropped = _series(client, "dlwp_drift_dropped_total")
    assert dropped[()] == 19


def test_a_version_without_reference_is_served_and_not_monitored(models_dir, tmp_path):
    shutil.copytree(os.path.join(models_dir, MODEL, "1"), tmp_path / MODEL / "1")
    os.remove(tmp_path / MODEL / "1" / ASSETS_EXTRA / REFERENCE_FILE)
    settings = settings_for(
        workers=1, models_dir=str(tmp_path), drift=DriftSettings(min_samples=1, interval_s=0.1)
    )
    with running_server(settings) as running, running.client() as client:
        _predict(client, [0.5] * 10, ["red"] * 10)
        _flush(running)
        assert _series(client, "dlwp_feature_drift") == {}
        assert _series(client, "dlwp_drift_window_samples") == {}


def test_dlwp_drift_prints_the_table_and_plots_what_drifted(server, tmp_path, capsys):
    from pipelines import cli

    rng = np.random.default_rng(3)
    with server.client() as client:
        for _ in range(5):
            _predict(client, rng.normal(1.0, 1, 60), ["red"] * 60)
    _flush(server)
    code = cli.main(["drift", MODEL, "--url", server.url, "--plots", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1  # drift found
    assert any(line.split()[1:2] == ["rooms"] and line.endswith("YES") for line in out.splitlines())
    plots = sorted(os.listdir(tmp_path))
    assert plots == [
        f"{MODEL}-v1-color.png",
        f"{MODEL}-v1-predictions.png",
        f"{MODEL}-v1-rooms.png",
    ]
    assert all(os.path.getsize(tmp_path / name) > 1000 for name in plots)


def test_dlwp_drift_without_a_server_says_where_it_looked(capsys):
    from servers import free_port

    from pipelines import cli

    url = f"http://127.0.0.1:{free_port()}"
    assert cli.main(["drift", MODEL, "--url", url]) == 2
    assert f"no dlwp serve answers at {url}" in capsys.readouterr().err


def test_a_gateway_in_front_of_tf_serving_monitors_drift_too(models_dir):
    """The gateway sees the same calls (forwarded over gRPC) and reads the references from the
    model folders that TF Serving serves."""
    backend = settings_for(workers=1, models_dir=models_dir, drift=None)
    with running_server(backend) as tf_serving:
        settings = settings_for(
            workers=1,
            backend="tfserving",
            tfserving_address=tf_serving.grpc_address,
            models_dir=models_dir,
            drift=DriftSettings(window_size=300, min_samples=100, interval_s=0.1),
        )
        with running_server(settings) as gateway, gateway.client() as client:
            for _ in range(5):
                _predict(client, np.random.default_rng(4).normal(1.0, 1, 60), ["red"] * 60)
            _flush(gateway)
            drift = _series(client, "dlwp_feature_drift")
            thresholds = _series(client, "dlwp_feature_drift_threshold")
    assert set(drift) == {("jensen_shannon", "rooms"), ("color", "l_infinity")}
    assert all(drift[key] > thresholds[key] for key in drift)


def test_a_version_with_a_broken_reference_is_served_and_the_log_names_the_file(
    models_dir, tmp_path, caplog
):
    shutil.copytree(os.path.join(models_dir, MODEL, "1"), tmp_path / MODEL / "1")
    path = tmp_path / MODEL / "1" / ASSETS_EXTRA / REFERENCE_FILE
    path.write_text('{"format_version": 1, "features": ')
    settings = settings_for(
        workers=1, models_dir=str(tmp_path), drift=DriftSettings(min_samples=1, interval_s=0.1)
    )
    with (
        caplog.at_level(logging.ERROR, "dlwp.serving"),
        running_server(settings) as running,
        running.client() as client,
    ):
        _predict(client, [0.5] * 10, ["red"] * 10)
        _flush(running)
        _predict(client, [0.5] * 10, ["red"] * 10)  # the server keeps serving
        assert _series(client, "dlwp_drift_window_samples") == {}
    (message,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert message.startswith(f"drift: {MODEL} version 1 is not monitored: {path} is not JSON")


def _monitor(version_dir: str) -> DriftMonitor:
    """A monitor of one version, `m` 1, whose files are in `version_dir`."""
    return DriftMonitor(
        DriftSettings(window_size=300, min_samples=100, interval_s=60),
        CollectorRegistry(),
        lambda model, version: version_dir if (model, version) == ("m", 1) else None,
    )


def _observe(monitor: DriftMonitor, n: int, rooms_mean: float = 0.0) -> None:
    rooms = np.random.default_rng(5).normal(rooms_mean, 1, n)
    inputs = {"rooms": rooms, "color": np.array(["red"] * n, dtype=object)}
    outputs = {"class_ids": (rooms > 0).astype(np.int64)}
    monitor.observe("m", 1, "serving_default", inputs, outputs)


def test_a_reference_of_an_unknown_format_is_logged_and_not_monitored(tmp_path, caplog):
    write_drift_assets(str(tmp_path))
    path = tmp_path / ASSETS_EXTRA / REFERENCE_FILE
    path.write_text(path.read_text().replace('"format_version": 1', '"format_version": 99'))
    monitor = _monitor(str(tmp_path))
    try:
        with caplog.at_level(logging.ERROR, "dlwp.serving"):
            _observe(monitor, 200)
            monitor.flush()
    finally:
        monitor.close()
    assert monitor.status() == {}
    (message,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert message.startswith(f"drift: m version 1 is not monitored: {path} has format_version 99")


def test_the_monitor_measures_a_version_read_from_its_files(tmp_path):
    write_drift_assets(str(tmp_path))
    monitor = _monitor(str(tmp_path))
    try:
        _observe(monitor, 200)
        monitor.flush()
    finally:
        monitor.close()
    status = monitor.status()["m"]["1"]
    assert status["samples"] == 200
    assert set(status["features"]) == {"rooms", "color"}
    assert status["features"]["color"]["bins"] == ["blue", "red"]  # the reference's categories
    assert status["prediction"]["measure"] == "l_infinity"


def test_flush_raises_when_the_monitor_does_not_finish_in_time(tmp_path):
    monitor = _monitor(str(tmp_path))
    monitor.close()  # nothing measures the calls any more
    _observe(monitor, 10)
    with pytest.raises(TimeoutError, match=r"within 0.05 s \(it is closed\)"):
        monitor.flush(timeout_s=0.05)


def test_gauges_of_series_no_longer_measured_are_removed_not_left_stale():
    registry = CollectorRegistry()
    gauges = DriftGauges(registry)
    rng = np.random.default_rng(0)
    rooms = measure_window(Distribution.numeric(rng.normal(0, 1, 1000)), rng.normal(0, 1, 200))
    classes = measure_window(Distribution.categorical([0, 1] * 500), np.array([0, 1] * 100))
    labels = {"model": "m", "version": "1"}
    feature = {**labels, "feature": "rooms", "measure": "jensen_shannon"}
    prediction = {**labels, "measure": "l_infinity"}

    gauges.publish("m", 1, 200, {"rooms": rooms}, classes)
    assert registry.get_sample_value("dlwp_drift_window_samples", labels) == 200
    assert registry.get_sample_value("dlwp_feature_drift", feature) == rooms.distance
    assert registry.get_sample_value("dlwp_feature_drift_threshold", feature) == rooms.threshold
    assert registry.get_sample_value("dlwp_prediction_drift", prediction) == classes.distance

    gauges.publish("m", 1, 200, {}, classes)  # rooms no longer measured
    assert registry.get_sample_value("dlwp_feature_drift", feature) is None
    assert registry.get_sample_value("dlwp_feature_drift_threshold", feature) is None
    assert registry.get_sample_value("dlwp_prediction_drift", prediction) == classes.distance

    gauges.publish("m", 1, None, {}, None)  # the window fell below the minimum
    assert registry.get_sample_value("dlwp_drift_window_samples", labels) is None
    assert registry.get_sample_value("dlwp_prediction_drift_threshold", prediction) is None
