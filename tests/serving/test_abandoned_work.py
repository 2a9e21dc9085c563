"""Work whose REST client left, or whose deadline passed, is abandoned: a model call still
queued never runs, and one already running keeps its in-flight slot and the in-flight gauge
until it ends (docs/serving.md, "Limits").

The server runs one model thread, so calls run in the order they were submitted: a recorder
observer (what the drift monitor sees) lists the calls that ran.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from server_probes import metric_value
from servers import running_server, settings_for, wait_for

from serving.settings import RestLimits

X = [[1.0, 2.0, 3.0]]
# About 1.5 s alone on one core: long enough for the other requests to queue behind it.
SLOW = {"signature_name": "slow", "inputs": {"x": X, "iterations": 2000}}
QUEUED = {"signature_name": "slow", "inputs": {"x": [[7.0, 7.0, 7.0]], "iterations": 10}}
QUICK = {"instances": [[3.0, 3.0, 3.0]]}


class Recorder:
    """An observer that records each model call that completed: (signature, first x)."""

    def __init__(self):
        self.calls: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def observe(self, model, version, signature_name, inputs, outputs, trace=None):
        with self._lock:
            self.calls.append((signature_name, float(inputs["x"][0][0])))

    def close(self):
        pass


@pytest.fixture
def one_thread_server(toy_models):
    limits = RestLimits(request_timeout_s=30.0)
    settings = settings_for(
        workers=1, models_dir=toy_models, limits=limits, model_threads=1, drift=None
    )
    with running_server(settings) as server:
        recorder = Recorder()
        server.stack.backend.observers.append(recorder)
        yield server, recorder


def post(server, body: dict, timeout_s: float = 30.0) -> httpx.Response | str:
    try:
        with server.client() as client:
            return client.post("/v1/models/toy:predict", json=body, timeout=timeout_s)
    except httpx.TimeoutException:
        return "client gave up"


def count(client, code: str) -> float:
    return metric_value(
        client,
        f'dlwp_request_count_total{{api="predict",code="{code}",model="toy",'
        f'protocol="rest",version="1"}}',
    )


def test_a_queued_call_whose_client_left_never_runs(one_thread_server):
    server, recorder = one_thread_server
    with server.client() as client, ThreadPoolExecutor(2) as pool:
        slow = pool.submit(post, server, SLOW)
        wait_for(lambda: metric_value(client, "dlwp_requests_in_flight") == 1, what="slow call")
        assert post(server, QUEUED, timeout_s=0.5) == "client gave up"
        wait_for(lambda: count(client, "CANCELLED") == 1, what="the left request counted")
        assert slow.result().status_code == 200
        assert client.post("/v1/models/toy:predict", json=QUICK).status_code == 200
    # FIFO on one thread: had the queued call not been cancelled, it would have run before QUICK.
    assert recorder.calls == [("slow", 1.0), ("serving_default", 3.0)]


def test_a_queued_call_past_its_deadline_never_runs(toy_models):
    limits = RestLimits(request_timeout_s=0.5)
    settings = settings_for(
        workers=1, models_dir=toy_models, limits=limits, model_threads=1, drift=None
    )
    with (
        running_server(settings) as server,
        server.client() as client,
        ThreadPoolExecutor(2) as pool,
    ):
        recorder = Recorder()
        server.stack.backend.observers.append(recorder)
        slow = pool.submit(post, server, SLOW)
        wait_for(lambda: metric_value(client, "dlwp_requests_in_flight") == 1, what="slow call")
        queued = post(server, QUEUED)
        assert queued.status_code == 504
        assert slow.result().status_code == 504  # its own deadline passed too, while it ran
        wait_for(lambda: metric_value(client, "dlwp_requests_in_flight") == 0, what="the end")
        assert client.post("/v1/models/toy:predict", json=QUICK).status_code == 200
    assert recorder.calls == [("slow", 1.0), ("serving_default", 3.0)]


def test_a_running_call_whose_client_left_stays_in_flight_until_it_ends(one_thread_server):
    server, recorder = one_thread_server
    with server.client() as client:
        assert post(server, SLOW, timeout_s=0.5) == "client gave up"
        wait_for(lambda: count(client, "CANCELLED") == 1, what="the left request counted")
        # Answered (CANCELLED), but the model is still at it: it counts, and holds its slot.
        assert metric_value(client, "dlwp_requests_in_flight") == 1
        assert server.stack.state.slots.taken == 1
        wait_for(lambda: recorder.calls, what="the slow call to end")
        wait_for(lambda: metric_value(client, "dlwp_requests_in_flight") == 0, what="gauge at 0")
        assert server.stack.state.slots.taken == 0
    assert recorder.calls == [("slow", 1.0)]
