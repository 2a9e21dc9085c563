"""`dlwp serve --workers 2` (serving/worker_pool.py): two processes share the ports; metrics sum
over them; the drift window holds every worker's calls once; a version swap under load fails
no request; a killed worker is restarted while the other serves. (SIGTERM's drain through the
CLI: test_shutdown.py, which runs two workers.)"""

import os
import signal
import threading
import time

import httpx
import numpy as np
import pytest
from drift_models import COLORS, MODEL, predict_body, write_house_model
from prometheus_client.multiprocess import MultiProcessCollector
from saved_models import publish
from server_probes import metric_value
from servers import running_server, settings_for, wait_for

from serving.settings import DriftSettings

pytestmark = pytest.mark.xdist_group("serve_workers")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """Two workers serving houses/1, which has a drift reference."""
    root = str(tmp_path_factory.mktemp("worker-models"))
    write_house_model(root)
    settings = settings_for(
        workers=2,
        models_dir=root,
        drift=DriftSettings(window_size=300, min_samples=100, interval_s=0.1),
    )
    with running_server(settings) as server:
        wait_for(lambda: httpx.get(server.url + "/readyz").status_code == 200, 60, "readiness")
        yield server


def _predict_on_a_new_connection(url: str, body: str) -> httpx.Response:
    # A new connection each time: the kernel spreads connections, not requests, over workers.
    with httpx.Client(base_url=url, timeout=30) as client:
        return client.post(f"/v1/models/{MODEL}:predict", content=body)


def _requests_per_worker(server) -> dict[int, float]:
    """Each worker's own predict count, from its own multiprocess file."""
    folder = os.path.join(server.stack.run_dir, "prometheus")
    counts = {}
    for pid in server.stack.pids():
        files = [os.path.join(folder, f"counter_{pid}.db")]
        samples = [
            sample
            for family in MultiProcessCollector.merge(files, accumulate=False)
            for sample in family.samples
            if sample.name == "dlwp_request_count_total" and sample.labels["api"] == "predict"
        ]
        counts[pid] = sum(sample.value for sample in samples)
    return counts


def test_both_workers_answer_and_metrics_sum_over_them(pool):
    rng = np.random.default_rng(3)
    with pool.client() as client:
        ready = client.get("/readyz").json()
        assert ready == {"ready": True, "draining": False, "workers": {"ready": 2, "count": 2}}
        labels = 'api="predict",code="OK",model="houses",protocol="rest",version="1"'
        sample = "dlwp_request_count_total{" + labels + "}"
        before = metric_value(client, sample)
        for _ in range(40):
            body = predict_body(rng.normal(0, 1, 2), rng.choice(COLORS, 2))
            assert _predict_on_a_new_connection(pool.url, body).status_code == 200
        per_worker = _requests_per_worker(pool)
        assert metric_value(client, sample) == before + 40
        assert sum(per_worker.values()) == before + 40
        assert all(count > 0 for count in per_worker.values()), per_worker


def test_the_drift_window_holds_every_workers_calls_once(pool):
    rng = np.random.default_rng(4)
    for _ in range(10):  # 600 shifted rows on 10 connections: the window of 300 is theirs
        body = predict_body(rng.normal(1.0, 1, 60), ["red"] * 60)
        assert _predict_on_a_new_connection(pool.url, body).status_code == 200
    assert all(count > 0 for count in _requests_per_worker(pool).values())

    def drifted():
        status = httpx.get(pool.url + f"/monitoring/drift?model={MODEL}").json()
        version = status.get(MODEL, {}).get("1", {})
        features = version.get("features", {})
        recent = features.get("color", {}).get("recent")
        red_only = recent is not None and max(recent) == 1.0
        return version.get("samples") == 300 and red_only and features["rooms"]["drifted"]

    wait_for(drifted, 30, "the shifted rows of both workers to fill one window")
    text = httpx.get(pool.url + "/metrics").text
    windows = [line for line in text.splitlines() if line.startswith("dlwp_drift_window_samples")]
    assert windows == ['dlwp_drift_window_samples{model="houses",version="1"} 300.0']
    assert len([ln for ln in text.splitlines() if ln.startswith("dlwp_feature_drift{")]) == 2


def test_a_killed_worker_is_restarted_while_the_other_serves(pool):
    pids = pool.stack.pids()
    os.kill(pids[0], signal.SIGKILL)
    wait_for(lambda: pool.stack.pids()[0] != pids[0], 10, "the supervisor to start a new worker")
    body = predict_body([0.5], ["red"])
    # Until the new worker listens, every connection goes to the other one.
    answers = [_predict_on_a_new_connection(pool.url, body).status_code for _ in range(20)]
    assert answers == [200] * 20
    assert httpx.get(pool.url + "/readyz").status_code == 503  # the new one is still loading
    wait_for(lambda: httpx.get(pool.url + "/readyz").status_code == 200, 60, "both ready again")
    assert pool.stack.pids()[1] == pids[1]
    assert pool.stack.restarts == 1


def test_a_new_version_swaps_in_under_load_without_a_failed_request(tmp_path, toy_versions):
    base = str(tmp_path / "models" / "toy")
    publish(toy_versions[1], base, 1)
    stop = threading.Event()
    answers: list[list[object]] = [[] for _ in range(6)]

    def send(url, seen):
        with httpx.Client(base_url=url, timeout=30) as client:  # one worker per connection
            while not stop.is_set():
                response = client.post(
                    "/v1/models/toy:predict", json={"instances": [[1.0, 2.0, 3.0]]}
                )
                ok = response.status_code == 200
                seen.append(response.json()["predictions"][0]["version"] if ok else response.text)

    settings = settings_for(workers=2, models_dir=os.path.dirname(base), drift=None)
    with running_server(settings) as server:
        threads = [threading.Thread(target=send, args=(server.url, seen)) for seen in answers]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: all(answers), what="every client answered by version 1")
            publish(toy_versions[2], base, 2)
            wait_for(lambda: all(seen[-1] == 2 for seen in answers), 30, "version 2 everywhere")
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
    assert [a for seen in answers for a in seen if not isinstance(a, int)] == []
    for seen in answers:
        assert seen == sorted(seen), "a client saw the version go backwards"
