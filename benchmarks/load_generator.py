"""Closed-loop load generator: client processes, each running threads that send one request at a
time over a persistent connection, with request bodies serialized once up front.

The clients share the machine's cores with the server, so they are kept cheap and identical for
every variant: `http.client` for REST, the official gRPC stub for gRPC.

    with ClientPool(processes=2) as pool:
        result = pool.run(target, concurrency=8, warmup_s=1.0, duration_s=8.0)
"""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
from dataclasses import dataclass, field

import numpy as np

# Parse and check the shape of one response in this many (and always the first).
CHECK_EVERY = 16
REQUEST_TIMEOUT_S = 10.0
# Threads connect, then all start sending at the same moment, this long after the plan is sent.
START_DELAY_S = 0.3
ERROR_SAMPLES_KEPT = 5


@dataclass(frozen=True)
class Target:
    """Where and what to send: `protocol` is "rest" or "grpc"; `body` is the serialized request
    (REST JSON, or a serialized `PredictRequest`); `expected_shape` is the prediction's shape."""

    protocol: str
    host: str
    port: int
    model: str
    body: bytes
    expected_shape: tuple[int, ...] = (1, 10)
    # gRPC: each client thread on its own channel (connection) instead of one per process.
    channel_per_client: bool = False


@dataclass
class ThreadResult:
    """What one client thread saw inside the measured window (warm-up not included)."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    bad_responses: int = 0
    checked: int = 0
    error_samples: list[str] = field(default_factory=list)

    def add_error(self, message: str) -> None:
        """Counts an error and keeps the first few messages."""
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES_KEPT:
            self.error_samples.append(message)


@dataclass(frozen=True)
class CellResult:
    """One benchmark cell: requests/s, latency percentiles (ms) and errors over the window."""

    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: int
    requests: int
    bad_responses: int = 0
    checked_responses: int = 0
    error_samples: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """JSON-ready fields."""
        return {
            "rps": round(self.rps, 1),
            "p50_ms": _rounded(self.p50_ms),
            "p99_ms": _rounded(self.p99_ms),
            "mean_ms": _rounded(self.mean_ms),
            "errors": self.errors,
            "requests": self.requests,
            "bad_responses": self.bad_responses,
            "checked_responses": self.checked_responses,
            "error_samples": list(self.error_samples),
        }


def _rounded(milliseconds: float) -> float | None:
    """Milliseconds to three decimals; None when nothing was measured (JSON has no NaN)."""
    return None if np.isnan(milliseconds) else round(milliseconds, 3)


def summarize(results: list[ThreadResult], duration_s: float, per_request: int = 1) -> CellResult:
    """Merges thread results into a cell; `per_request` instances count per completed request."""
    latencies = np.array([lat for result in results for lat in result.latencies_s])
    p50, p99 = (np.percentile(latencies, [50, 99]) * 1000.0) if latencies.size else (np.nan,) * 2
    return CellResult(
        rps=latencies.size * per_request / duration_s,
        p50_ms=float(p50),
        p99_ms=float(p99),
        mean_ms=float(latencies.mean() * 1000.0) if latencies.size else float("nan"),
        errors=sum(result.errors for result in results),
        requests=int(latencies.size),
        bad_responses=sum(result.bad_responses for result in results),
        checked_responses=sum(result.checked for result in results),
        error_samples=tuple(sample for result in results for sample in result.error_samples)[
            :ERROR_SAMPLES_KEPT
        ],
    )


class RestClient:
    """TF Serving REST predict over one keep-alive `http.client` connection."""

    def __init__(self, target: Target, timeout_s: float = REQUEST_TIMEOUT_S):
        self._target = target
        self._path = f"/v1/models/{target.model}:predict"
        self._headers = {"Content-Type": "application/json"}
        self._connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout_s)
        self._connection.connect()

    def send(self) -> tuple[str | None, bytes]:
        """Sends the request; returns (error or None, response body)."""
        try:
            self._connection.request("POST", self._path, self._target.body, self._headers)
            response = self._connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            # A broken connection is reopened by http.client on the next request.
            self._connection.close()
            return f"{type(error).__name__}: {error}", b""
        if response.status != 200:
            return f"HTTP {response.status}: {payload[:200]!r}", payload
        return None, payload

    def shape_of(self, payload: bytes) -> tuple[int, ...]:
        """Shape of `predictions` in a response body."""
        import orjson

        predictions = orjson.loads(payload)["predictions"]
        return (len(predictions), len(predictions[0]))

    def close(self) -> None:
        """Closes the connection."""
        self._connection.close()


class GrpcClient:
    """TF Serving gRPC Predict through the official stub, on a channel shared by the process."""

    _channels: dict[tuple[str, int], object] = {}
    _lock = threading.Lock()

    def __init__(self, target: Target, timeout_s: float = REQUEST_TIMEOUT_S):
        import grpc

        predict_pb2, prediction_service_pb2_grpc = import_serving_protos()
        address = f"{target.host}:{target.port}"
        self._own_channel = grpc.insecure_channel(address) if target.channel_per_client else None
        channel = self._own_channel
        if channel is None:
            with self._lock:
                key = (target.host, target.port)
                if key not in self._channels:
                    self._channels[key] = grpc.insecure_channel(address)
                channel = self._channels[key]
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        self._request = predict_pb2.PredictRequest.FromString(target.body)
        self._rpc_error = grpc.RpcError
        self._timeout_s = timeout_s

    def send(self) -> tuple[str | None, object]:
        """Sends the request; returns (error or None, response)."""
        try:
            return None, self._stub.Predict(self._request, timeout=self._timeout_s)
        except self._rpc_error as error:
            return f"gRPC {error.code().name}: {error.details()}", None

    def shape_of(self, response) -> tuple[int, ...]:
        """Shape of the `scores` output of a response."""
        return tuple(dim.size for dim in response.outputs["scores"].tensor_shape.dim)

    def close(self) -> None:
        """A shared channel stays open for the process's next cell."""
        if self._own_channel is not None:
            self._own_channel.close()


def import_serving_protos():
    """Imports `predict_pb2` and its gRPC stub without running TensorFlow's `__init__`.

    The protos import `tensorflow.core.framework.tensor_pb2`, which would first import all of
    TensorFlow (20 s and a lot of memory per client process). In a process where TensorFlow is not
    loaded, an empty package pointing at TensorFlow's folder lets only the proto modules load.
    """
    import importlib.util
    import sys
    import types

    if "tensorflow" not in sys.modules:
        spec = importlib.util.find_spec("tensorflow")
        package = types.ModuleType("tensorflow")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["tensorflow"] = package
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    return predict_pb2, prediction_service_pb2_grpc


CLIENTS = {"rest": RestClient, "grpc": GrpcClient}


def send_once(target: Target, timeout_s: float) -> str | None:
    """Sends one request (from this process) and returns the error, or None when it answered
    with the expected shape; used to warm a server up before it is measured."""
    client = CLIENTS[target.protocol](target, timeout_s)
    try:
        error, response = client.send()
        if error is None and client.shape_of(response) != target.expected_shape:
            error = f"unexpected prediction shape {client.shape_of(response)}"
        return error
    finally:
        client.close()


def run_client_thread(
    target: Target, measure_from: float, measure_until: float, connected: threading.Barrier
) -> ThreadResult:
    """Sends requests back to back until `measure_until` (a `time.monotonic()` value, which is
    system-wide on Linux so processes agree); keeps those that end inside the window."""
    result = ThreadResult()
    client = CLIENTS[target.protocol](target)
    connected.wait()
    try:
        while True:
            started = time.monotonic()
            if started >= measure_until:
                break
            error, response = client.send()
            ended = time.monotonic()
            if ended < measure_from or ended > measure_until:
                continue
            if error is not None:
                result.add_error(error)
                continue
            result.latencies_s.append(ended - started)
            if len(result.latencies_s) % CHECK_EVERY == 1:
                result.checked += 1
                if client.shape_of(response) != target.expected_shape:
                    result.bad_responses += 1
    finally:
        client.close()
    return result


def run_threads(
    target: Target, threads: int, start_at: float, warmup_s: float, duration_s: float
) -> list[ThreadResult]:
    """Runs `threads` client threads that start sending at `start_at` and returns their results."""
    measure_from = start_at + warmup_s
    measure_until = measure_from + duration_s
    connected = threading.Barrier(threads, action=lambda: _sleep_until(start_at))
    results: list[ThreadResult] = [ThreadResult() for _ in range(threads)]
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = run_client_thread(target, measure_from, measure_until, connected)
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            failures.append(error)
            connected.abort()

    workers = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    return results


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def _worker_loop(connection) -> None:
    """A client process: runs each plan it receives and sends back the thread results."""
    while True:
        plan = connection.recv()
        if plan is None:
            return
        try:
            connection.send(("ok", run_threads(**plan)))
        except Exception as error:  # noqa: BLE001 - re-raised in the parent
            connection.send(("error", f"{type(error).__name__}: {error}"))


class ClientPool:
    """Client processes started once (spawned, so none inherits TensorFlow's threads)."""

    def __init__(self, processes: int = 2):
        self.processes = processes
        self._connections = []
        self._workers = []

    def __enter__(self) -> ClientPool:
        context = multiprocessing.get_context("spawn")
        for _ in range(self.processes):
            parent_end, child_end = context.Pipe()
            worker = context.Process(target=_worker_loop, args=(child_end,), daemon=True)
            worker.start()
            self._connections.append(parent_end)
            self._workers.append(worker)
        return self

    @property
    def pids(self) -> list[int]:
        """The client processes' ids."""
        return [worker.pid for worker in self._workers]

    def __exit__(self, *exc_info) -> None:
        for connection in self._connections:
            connection.send(None)
        for worker in self._workers:
            worker.join(timeout=10)

    def run(
        self, target: Target, concurrency: int, warmup_s: float, duration_s: float
    ) -> CellResult:
        """Keeps `concurrency` requests in flight for `warmup_s + duration_s` seconds, split over
        the processes, and summarizes the last `duration_s` seconds."""
        start_at = time.monotonic() + START_DELAY_S
        shares = [len(range(index, concurrency, self.processes)) for index in range(self.processes)]
        busy = [
            (connection, share)
            for connection, share in zip(self._connections, shares, strict=True)
            if share
        ]
        for connection, share in busy:
            connection.send(
                dict(
                    target=target,
                    threads=share,
                    start_at=start_at,
                    warmup_s=warmup_s,
                    duration_s=duration_s,
                )
            )
        results: list[ThreadResult] = []
        for connection, _ in busy:
            status, payload = connection.recv()
            if status != "ok":
                raise RuntimeError(f"client process failed: {payload}")
            results.extend(payload)
        return summarize(results, duration_s)
