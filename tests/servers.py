"""Real servers on loopback for tests: the same ServingStack as `dlwp serve`, in a thread."""

import asyncio
import contextlib
import dataclasses
import socket
import threading
import time
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
        host="127.0.0.1", port=free_port(), grpc_port=free_port(), poll_s=0.2, grace_s=5.0
    )
    values.update(overrides)
    return ServeSettings(**values)


@contextlib.contextmanager
def running_server(settings):
    """Starts a ServingStack in a thread; stops it (gracefully) on exit."""
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


def wait_for(condition, timeout_s: float = 30.0, what: str = "condition"):
    """Polls `condition()` until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
