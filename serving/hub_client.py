"""A worker's side of the hub (serving/worker_hub.py): the drift monitor's intake and the live
metrics, forwarded to the supervisor, and the hub's files, served from this worker."""

import collections
import logging
import os
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Client
from typing import Any

import numpy as np
import orjson

from serving.request_ids import Trace
from serving.settings import DriftSettings
from serving.worker_hub import AUTHKEY, DRIFT_FILE, METRICS_FILE, SOCKET

log = logging.getLogger("dlwp.serving")

# How often a worker sends its calls: well within the monitor's --drift-interval-s.
FORWARD_INTERVAL_S = 0.2


class HubClient:
    """The worker's connection to the hub; `send` is thread-safe and never raises (the hub is
    the supervisor: if it is gone, the worker is being stopped)."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        with open(os.path.join(run_dir, AUTHKEY), "rb") as key:
            authkey = key.read()
        self._connection = Client(os.path.join(run_dir, SOCKET), "AF_UNIX", authkey=authkey)
        self._lock = threading.Lock()
        self._failed = False

    def send(self, message: tuple) -> bool:
        with self._lock:
            if self._failed:
                return False
            try:
                self._connection.send(message)
                return True
            except (OSError, ValueError):
                self._failed = True
                log.exception("the hub is unreachable: drift and live metrics stop here")
                return False

    def close(self) -> None:
        with self._lock:
            self._failed = True
            self._connection.close()

    def metrics(self) -> bytes:
        """The hub's Prometheus series (drift, live metrics), to append to this worker's."""
        return _read(os.path.join(self.run_dir, METRICS_FILE)) or b""


class DriftForwarder:
    """The drift monitor's intake in a worker (a RequestObserver): `observe` appends to a
    bounded deque, as DriftMonitor's does; a thread sends what was observed to the hub every
    FORWARD_INTERVAL_S, with each version's folder (where its reference is)."""

    def __init__(
        self,
        hub: HubClient,
        settings: DriftSettings,
        version_dir: Callable[[str, int], str | None],
    ):
        self._hub, self._settings, self._version_dir = hub, settings, version_dir
        self._calls: collections.deque = collections.deque()
        self._dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drift-forward", daemon=True)
        self._thread.start()

    def observe(
        self,
        model: str,
        version: int,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
        trace: Trace | None = None,
    ) -> None:
        if len(self._calls) >= self._settings.queue_size:
            self._dropped += 1
            return
        self._calls.append((model, version, signature_name, inputs, outputs))

    def _loop(self) -> None:
        while not self._stop.wait(FORWARD_INTERVAL_S):
            self._forward()

    def _forward(self) -> None:
        calls = [self._calls.popleft() for _ in range(len(self._calls))]
        dropped, self._dropped = self._dropped, 0
        if not calls and not dropped:
            return
        keys = {(call[0], call[1]) for call in calls}
        self._hub.send(("calls", calls, {key: self._version_dir(*key) for key in keys}, dropped))

    def close(self) -> None:
        """Sends what is left and stops."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._forward()


class ForwardedLiveMetrics:
    """What serving/feedback_api.py joins labels into, in a worker: the labels go to the hub's
    LiveMetrics, which restored every model's labels before the workers started."""

    def __init__(self, hub: HubClient):
        self._hub = hub

    def restore(self, model: str, index: Any) -> int:
        return 0

    def add(self, logged: Any, label: Any, previous: Any = None) -> None:
        self._hub.send(("labels", [(logged, label, previous)]))


class HubDriftStatus:
    """`/monitoring/drift`'s answer in a worker: the hub's latest measurements."""

    def __init__(self, hub: HubClient):
        self._path = os.path.join(hub.run_dir, DRIFT_FILE)
        self._cached: tuple[int, dict] = (-1, {})

    def status(self) -> dict[str, dict[str, Any]]:
        try:
            changed = os.stat(self._path).st_mtime_ns
        except OSError:
            return {}
        if changed != self._cached[0]:
            content = _read(self._path)
            self._cached = (changed, orjson.loads(content) if content else {})
        return self._cached[1] or {}


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None
