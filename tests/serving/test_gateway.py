"""Gateway mode: the same REST API and metrics in front of a TF Serving reached over gRPC.

The official TF Serving binary cannot be installed here, so the backend under the gateway is
dlwp's own gRPC endpoint (the session's toy server), which speaks TF Serving's protos.
"""

import numpy as np
import pytest
from saved_models import toy_scores
from servers import running_server, settings_for

X = [[1.0, 2.0, 3.0], [0.0, 0.0, -0.5]]


@pytest.fixture(scope="module")
def gateway(toy_server):
    settings = settings_for(backend="tfserving", tfserving_address=toy_server.grpc_address)
    with running_server(settings) as server, server.client() as client:
        yield client


def test_gateway_predicts_like_the_backend(gateway, rest):
    body = {"instances": X}
    through_gateway = gateway.post("/v1/models/toy:predict", json=body)
    assert through_gateway.status_code == 200
    assert through_gateway.json() == rest.post("/v1/models/toy:predict", json=body).json()
    np.testing.assert_allclose(
        [p["scores"] for p in through_gateway.json()["predictions"]], toy_scores(X, 1), rtol=1e-5
    )


def test_gateway_status_metadata_and_classify(gateway, rest):
    for path in ("/v1/models/toy", "/v1/models/toy/versions/1/metadata"):
        assert gateway.get(path).json() == rest.get(path).json()
    body = {"examples": [{"x": x} for x in X]}
    assert (
        gateway.post("/v1/models/toy:classify", json=body).json()
        == rest.post("/v1/models/toy:classify", json=body).json()
    )


def test_gateway_passes_backend_errors_through(gateway):
    missing = gateway.post("/v1/models/nope:predict", json={"instances": X})
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    wrong = gateway.post("/v1/models/toy:predict", json={"instances": [[1.0]]})
    assert wrong.status_code == 400 and "[-1, 3]" in wrong.json()["error"]


def test_gateway_counts_its_requests(gateway):
    gateway.post("/v1/models/toy:predict", json={"instances": X})
    metrics = gateway.get("/metrics").text
    assert (
        'dlwp_request_count_total{api="predict",code="OK",model="toy",protocol="rest",'
        'version="1"}' in metrics
    )


def test_gateway_answers_503_when_tf_serving_is_down():
    from servers import free_port

    settings = settings_for(backend="tfserving", tfserving_address=f"127.0.0.1:{free_port()}")
    with running_server(settings) as server, server.client() as client:
        response = client.post("/v1/models/toy:predict", json={"instances": X})
        assert response.status_code == 503
        assert "TF Serving backend" in response.json()["error"]
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200


def test_the_gateway_reaches_a_tf_serving_that_comes_up_after_it(toy_server):
    """A gateway pod's TF Serving may start after it: once TF Serving listens, the gateway's
    calls go through within 3 s, after 4 s of refused connections. (gRPC's default backoff,
    which the gateway shortens to 1 s, reaches minutes only after longer outages than a test
    can wait for.)"""
    import socket
    import threading
    import time

    from servers import free_port

    from serving.backends import TFServingBackend
    from serving.errors import ServingError

    port = free_port()
    backend = TFServingBackend(f"127.0.0.1:{port}", timeout_s=2.0)
    try:
        refused_until = time.monotonic() + 4.0
        while time.monotonic() < refused_until:  # every call fails: nothing listens
            with pytest.raises(ServingError, match="TF Serving backend"):
                backend.status("toy", None, None)
            time.sleep(0.5)
        listener = socket.create_server(("127.0.0.1", port))
        threading.Thread(
            target=_forward_all, args=(listener, toy_server.grpc_address), daemon=True
        ).start()
        up = time.monotonic()
        while True:
            try:
                backend.status("toy", None, None)
                break
            except ServingError:
                assert time.monotonic() - up < 3.0, "still refused 3 s after TF Serving came up"
                time.sleep(0.05)
    finally:
        backend.close()


def _forward_all(listener, address: str) -> None:
    """A TCP relay from `listener` to `address` (the toy server's gRPC port), as TF Serving."""
    import socket
    import threading

    host, port = address.rsplit(":", 1)

    def pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection((host, int(port)))
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
