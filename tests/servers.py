"""Real servers on loopback for tests: the same ServingStack as `dlwp serve`, in a thread, or
with `workers` > 1 the same supervisor and worker processes (serving/worker_pool.py).

DLWP_TEST_SERVE_WORKERS=2 runs every server of `settings_for` as two workers (how the serving
tests are run against `dlwp serve --workers 2`; docs/serving.md, "Workers"). A test that
reaches into the server's objects (`server.stack`) asks for `workers=1`."""

import asyncio
import contextlib
import dataclasses
import itertools
import os
import socket
import threading
import time
from typing import Any

import httpx

# Ports handed out come from a block of this process's own, below the kernel's ephemeral
# range (32768 and up on Linux): a port the kernel picked (bind to port 0) could be picked again
# for another xdist worker's server, or for any client connection, before the server binds it.
_BLOCK_PORTS = 1000
_FIRST_PORT = 20000
_next_port = itertools.count()
WORKERS = int(os.environ.get("DLWP_TEST_SERVE_WORKERS", "1"))


def _port_block() -> int:
    """xdist workers gw0, gw1, ... get blocks 0, 1, ...; a run without xdist one of the
    others, by its process id, so that two such runs at once rarely share a block."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        index = int(worker[2:]) % 4
    else:
        index = 4 + os.getpid() % 8
    return _FIRST_PORT + index * _BLOCK_PORTS


def free_port() -> int:
    """A TCP port nothing listens on now, from this test process's own block of ports."""
    block = _port_block()
    for _ in range(_BLOCK_PORTS):
        port = block + next(_next_port) % _BLOCK_PORTS
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # still in use, or in TIME_WAIT
            return port
    raise RuntimeError(f"no free port in {block}-{block + _BLOCK_PORTS - 1}")


@dataclasses.dataclass
class RunningServer:
    """A server under test: its REST base URL, gRPC address and the stack itself."""

    url: str
    grpc_address: str
    stack: object

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


def settings_for(**overrides):
    """ServeSettings on free loopback ports, polling fast."""
    from serving.settings import ServeSettings

    values: dict[str, Any] = dict(
        host="127.0.0.1",
        port=free_port(),
        grpc_port=free_port(),
        poll_s=0.2,
        grace_s=5.0,
        workers=WORKERS,
    )
    values.update(overrides)
    return ServeSettings(**values)


@contextlib.contextmanager
def running_server(settings):
    """Starts a ServingStack in a thread (or, with `settings.workers` > 1, a WorkerPool:
    `stack` is then the pool); stops it (gracefully) on exit."""
    if settings.workers > 1:
        with _running_pool(settings) as server:
            yield server
        return
    from serving.server import ServingStack

    stack = ServingStack(settings)
    thread = threading.Thread(target=lambda: asyncio.run(stack.http.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not stack.http.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield RunningServer(
            f"http://{settings.host}:{settings.port}",
            f"{settings.host}:{settings.grpc_port}",
            stack,
        )
    finally:
        stack.http.should_exit = True
        thread.join(timeout=30)
        stack.close()


@contextlib.contextmanager
def _running_pool(settings):
    from serving.worker_pool import WorkerPool

    pool = WorkerPool(settings, announce=lambda _line: None)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["exit_code"] = pool.run()
        except Exception as error:  # noqa: BLE001 (raised again in the test, below)
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not pool.started:
        if "error" in outcome:
            raise outcome["error"]
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the test server's workers did not start: {outcome}")
        time.sleep(0.05)
    try:
        yield RunningServer(
            f"http://{settings.host}:{settings.port}",
            f"{settings.host}:{settings.grpc_port}",
            pool,
        )
    finally:
        pool.stop()
        thread.join(timeout=60)
        if "error" in outcome:
            raise outcome["error"]


def wait_for(condition, timeout_s: float = 30.0, what: str = "condition"):
    """Polls `condition()` until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
