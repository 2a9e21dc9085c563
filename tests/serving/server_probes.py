"""Reading a running server's state: its version states and metric samples over REST, and
how many polls its model manager has done."""

from collections.abc import Callable

import httpx
import pytest


def version_states(client: httpx.Client, model: str = "toy") -> dict[int, str]:
    """The model's versions and their states from the status API (version -> state)."""
    response = client.get(f"/v1/models/{model}")
    if response.status_code != 200:
        return {}
    return {int(s["version"]): s["state"] for s in response.json()["model_version_status"]}


def version_status(client: httpx.Client, version: int, model: str = "toy") -> dict:
    """One version's entry of the status API ({} when the server does not list it)."""
    response = client.get(f"/v1/models/{model}")
    if response.status_code != 200:
        return {}
    for status in response.json()["model_version_status"]:
        if int(status["version"]) == version:
            return status
    return {}


def metric_value(client: httpx.Client, sample: str) -> float:
    """The value of one /metrics sample, named with its labels as Prometheus prints them,
    e.g. `dlwp_batch_size_count{model="toy"}`; 0 when the server has not exported it."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def count_polls(monkeypatch: pytest.MonkeyPatch, manager) -> Callable[[], int]:
    """Counts the polls `manager` (a serving.manager.ModelManager) completes from now on.

    The manager has no poll counter of its own: this wraps its `poll`, which its background
    thread calls on every cycle. Returns a function that gives the count so far, for
    `wait_for(lambda: polls() >= n)` before asserting that a poll did not do something.
    """
    poll, done = manager.poll, [0]

    def counted_poll() -> None:
        poll()
        done[0] += 1  # only the manager's thread writes it

    monkeypatch.setattr(manager, "poll", counted_poll)
    return lambda: done[0]
