"""What protects the server: the concurrency limit (429), the request deadline (504) and
server-side batching with its bounded queue (429), on real servers and on the BatchScheduler.

Slow requests run the toy model's `slow` signature (256x256 matrix products in a loop; about
0.7 ms each on one CPU core).
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from saved_models import toy_scores
from server_probes import metric_value
from servers import running_server, settings_for, wait_for

from serving.batching import BatchScheduler
from serving.errors import InvalidArgument, ResourceExhausted
from serving.settings import BatchingOptions, RestLimits

PREDICT = {"instances": [[1.0, 2.0, 3.0]]}
# About 1.5 s alone on one core, longer when two run at once on a small machine.
SLOW = {"signature_name": "slow", "inputs": {"x": [[1.0, 2.0, 3.0]], "iterations": 2000}}


def post(server, path: str, body: dict):
    with server.client() as client:
        return client.post(path, json=body)


def test_requests_over_the_concurrency_limit_get_429_while_health_answers(toy_models):
    limits = RestLimits(max_concurrent_requests=2, request_timeout_s=30.0)
    # One worker: the limit holds per worker (docs/serving.md, "Workers"), and with two the
    # third request may reach the other one.
    settings = settings_for(models_dir=toy_models, limits=limits, workers=1)
    with (
        running_server(settings) as server,
        server.client() as client,
        ThreadPoolExecutor(2) as pool,
    ):
        slow = [pool.submit(post, server, "/v1/models/toy:predict", SLOW) for _ in range(2)]
        wait_for(
            lambda: metric_value(client, "dlwp_requests_in_flight") == 2,
            what="two slow requests in flight",
        )
        third = client.post("/v1/models/toy:predict", json=PREDICT)
        health = client.get("/healthz")
        assert not any(request.done() for request in slow), "the slow requests were too fast"
        assert third.status_code == 429
        assert set(third.json()) == {"error"}
        assert "the limit is 2" in third.json()["error"]
        assert health.status_code == 200
        assert [request.result().status_code for request in slow] == [200, 200]
        assert client.post("/v1/models/toy:predict", json=PREDICT).status_code == 200


def test_request_over_the_deadline_gets_504_and_the_server_keeps_answering(toy_models):
    limits = RestLimits(request_timeout_s=0.3)
    with (
        running_server(settings_for(models_dir=toy_models, limits=limits)) as server,
        server.client() as client,
    ):
        response = client.post("/v1/models/toy:predict", json=SLOW)
        assert response.status_code == 504
        assert set(response.json()) == {"error"}
        assert "within 0.3 s" in response.json()["error"]
        assert client.get("/v1/models/toy").status_code == 200
        answered = client.post("/v1/models/toy:predict", json=PREDICT)
        assert answered.status_code == 200
        assert answered.json()["predictions"][0]["version"] == 1


def test_batched_requests_each_get_their_own_rows(toy_models):
    batching = BatchingOptions(
        max_batch_size=8, batch_timeout_micros=50_000, max_enqueued_batches=4, num_batch_threads=1
    )
    # Sums from -0.8 to 0.7: every row has its own scores (none saturate the softmax).
    rows = [[[(i - 8) / 10, 0.0, 0.0]] for i in range(16)]
    with running_server(settings_for(models_dir=toy_models, batching=batching)) as server:
        start = threading.Barrier(len(rows))

        def send(x):
            with server.client() as client:
                start.wait(timeout=30)
                return client.post("/v1/models/toy:predict", json={"instances": x})

        with ThreadPoolExecutor(len(rows)) as pool:
            responses = list(pool.map(send, rows))
        for x, response in zip(rows, responses, strict=True):
            assert response.status_code == 200, response.text
            (prediction,) = response.json()["predictions"]
            np.testing.assert_allclose(prediction["scores"], toy_scores(x, 1)[0], rtol=1e-5)
        with server.client() as client:
            batches = metric_value(client, 'dlwp_batch_size_count{model="toy"}')
            batches_of_one = metric_value(client, 'dlwp_batch_size_bucket{le="1.0",model="toy"}')
            examples = metric_value(client, 'dlwp_batch_size_sum{model="toy"}')
    assert examples == len(rows)
    assert batches > batches_of_one, "no model call ran more than one request"


def test_full_batch_queue_answers_429_at_once(toy_models):
    # Three examples wait up to 1 s for a fourth; a queue holds one batch of four examples.
    batching = BatchingOptions(
        max_batch_size=4,
        batch_timeout_micros=1_000_000,
        max_enqueued_batches=1,
        num_batch_threads=1,
    )
    three = {"instances": [[1.0, 0.0, 0.0]] * 3}
    two = {"instances": [[0.0, 1.0, 0.0]] * 2}
    with (
        running_server(settings_for(workers=1, models_dir=toy_models, batching=batching)) as server,
        ThreadPoolExecutor(2) as pool,
    ):
        # Whichever arrives second does not fit next to the first: 3 + 2 > 4.
        requests = [pool.submit(post, server, "/v1/models/toy:predict", b) for b in (three, two)]
        responses = [request.result() for request in requests]
    assert sorted(r.status_code for r in responses) == [200, 429]
    (refused,) = [r for r in responses if r.status_code == 429]
    assert "batch queue is full" in refused.json()["error"]


# --- the BatchScheduler itself -----------------------------------------------------------------


def test_scheduler_refuses_work_beyond_its_enqueued_batches():
    running, release = threading.Event(), threading.Event()

    def blocking_run(batch):
        running.set()
        release.wait(timeout=30)
        return {"y": batch["x"] * 2}

    scheduler = BatchScheduler(
        BatchingOptions(
            max_batch_size=2, batch_timeout_micros=0, max_enqueued_batches=2, num_batch_threads=1
        )
    )
    try:
        first = scheduler.submit("toy", blocking_run, {"x": np.zeros([2, 1])})
        assert running.wait(timeout=10), "the first batch did not start"
        # The only batch thread is busy: the queue takes two batches of two examples.
        queued = [
            scheduler.submit("toy", blocking_run, {"x": np.full([1, 1], float(i))})
            for i in range(4)
        ]
        with pytest.raises(ResourceExhausted, match="queue is full"):
            scheduler.submit("toy", blocking_run, {"x": np.zeros([1, 1])})
    finally:
        release.set()
        scheduler.stop()
    assert first.result(timeout=10)["y"].tolist() == [[0.0], [0.0]]
    assert [q.result(timeout=10)["y"].tolist() for q in queued] == [
        [[0.0]],
        [[2.0]],
        [[4.0]],
        [[6.0]],
    ]


def test_scheduler_refuses_a_request_larger_than_a_batch():
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=4))
    try:
        with pytest.raises(InvalidArgument, match="5 examples, more than the maximum batch size 4"):
            scheduler.submit("toy", lambda batch: batch, {"x": np.zeros([5, 3])})
    finally:
        scheduler.stop()
