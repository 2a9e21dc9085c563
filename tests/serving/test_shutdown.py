"""Graceful shutdown. SIGTERM on the real `dlwp serve` process: requests in flight finish,
readiness answers 503 while they do, and the process exits 0 within its grace period (one
process start, about 25 s, most of it importing TensorFlow). And the in-process stack drains
with a grace period under a second.
"""

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from saved_models import toy_scores
from server_probes import metric_value
from servers import free_port, running_server, settings_for, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRACE_S = 10
X = [[1.0, 2.0, 3.0]]
# About 1.5 s alone on one core; three at once take a few seconds, well inside GRACE_S.
SLOW = {"signature_name": "slow", "inputs": {"x": X, "iterations": 2000}}


def readiness_right_now(url: str) -> object:
    """`/readyz`'s status code on a new connection, or the name of the connection error."""
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code
    except httpx.TransportError as error:
        return type(error).__name__


def first_readiness_not_200(url: str) -> object:
    """The first `/readyz` answer that is not 200 (the signal is handled a moment after it
    is sent), polled for up to 5 s."""

    def not_ready():
        answer = readiness_right_now(url)
        return None if answer == 200 else answer

    return wait_for(not_ready, timeout_s=5, what="readiness to turn off")


def post(server, body: dict) -> httpx.Response:
    with server.client() as client:
        return client.post("/v1/models/toy:predict", json=body)


def test_sigterm_drains_in_flight_requests_and_exits_0(tmp_path, toy_models):
    port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "serve",
        "--model-base",
        toy_models,
        "--home",
        str(tmp_path / "home"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--grpc-port",
        str(grpc_port),
        "--grace-s",
        str(GRACE_S),
        "--poll-s",
        "0.2",
        "--workers",  # the default on a 2-core machine: the drain holds across workers
        "2",
    ]
    terminal = tmp_path / "terminal.txt"
    with open(terminal, "w") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:

            def available():
                assert process.poll() is None, f"dlwp serve exited: {terminal.read_text()}"
                try:
                    status = client.get("/v1/models/toy")
                except httpx.TransportError:
                    return False
                return status.json()["model_version_status"][0]["state"] == "AVAILABLE"

            wait_for(available, timeout_s=120, what="dlwp serve to load the toy model")
            wait_for(  # in every worker
                lambda: client.get("/readyz").status_code == 200, timeout_s=120, what="readiness"
            )
            answers: list[httpx.Response] = []

            def send_slow():
                with httpx.Client(base_url=url, timeout=30) as own:
                    answers.append(own.post("/v1/models/toy:predict", json=SLOW))

            senders = [threading.Thread(target=send_slow) for _ in range(3)]
            for sender in senders:
                sender.start()
            wait_for(
                lambda: metric_value(client, "dlwp_requests_in_flight") == 3,
                what="three slow requests in flight",
            )

            process.send_signal(signal.SIGTERM)
            readiness = first_readiness_not_200(url)
            with httpx.Client(base_url=url, timeout=5) as late:
                refused = late.post("/v1/models/toy:predict", json={"instances": X})
            still_draining = any(sender.is_alive() for sender in senders)
            exit_code = process.wait(timeout=GRACE_S)
            for sender in senders:
                sender.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    # While the slow requests drain, the REST port still answers: readiness 503 (Kubernetes
    # takes the pod out of the Service) and new model requests 503, to be retried elsewhere.
    assert still_draining, "the slow requests finished before the probes: nothing was drained"
    assert readiness == 503, readiness
    assert refused.status_code == 503
    assert "shutting down" in refused.json()["error"]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    for answer in answers:  # one output: TF Serving answers it unnamed
        np.testing.assert_allclose(answer.json()["outputs"], toy_scores(X, 1), rtol=1e-5)
    assert exit_code == 0, terminal.read_text()
    assert readiness_right_now(url) == "ConnectError"


def test_stopping_with_a_sub_second_grace_still_drains_in_flight_requests(toy_models):
    # About 0.3 s of work, inside a 0.9 s grace period.
    quick_slow = {"signature_name": "slow", "inputs": {"x": X, "iterations": 400}}
    settings = settings_for(workers=1, models_dir=toy_models, grace_s=0.9)
    with (
        running_server(settings) as server,
        server.client() as client,
        ThreadPoolExecutor(1) as pool,
    ):
        in_flight = pool.submit(post, server, quick_slow)
        wait_for(
            lambda: metric_value(client, "dlwp_requests_in_flight") == 1,
            what="the request to be in flight",
        )
        server.stack.http.should_exit = True
        answer = in_flight.result(timeout=30)
    assert answer.status_code == 200
    np.testing.assert_allclose(answer.json()["outputs"], toy_scores(X, 1), rtol=1e-5)
