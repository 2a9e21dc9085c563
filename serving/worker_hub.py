"""What the workers of `dlwp serve --workers N` share, kept in the supervisor (which loads no
model): the drift monitor and the live metrics (docs/serving.md, "Workers").

Each worker sends the hub its completed model calls (in batches, serving/hub_client.py) and its
new labels, over a Unix socket in the server's run folder. The hub measures drift over the
calls of every worker together, so a window holds the server's last `--drift-window` examples
and its calibrated thresholds hold as with one process, and a feature drifts once, not once
per worker. It writes its Prometheus series and the drift status to files in the run folder,
which every worker serves (`/metrics`, `/monitoring/drift`).
"""

import logging
import os
import secrets
import threading
from multiprocessing.connection import Connection, Listener

import orjson
from prometheus_client import CollectorRegistry, generate_latest

from serving.drift_monitor import DriftMonitor
from serving.feedback_index import FeedbackIndex, model_folders
from serving.live_metrics import LiveMetrics
from serving.settings import ServeSettings

log = logging.getLogger("dlwp.serving")

# Names in the run folder.
SOCKET, AUTHKEY = "hub.sock", "hub.key"
METRICS_FILE, DRIFT_FILE = "hub-metrics.prom", "drift.json"
# How often the hub rewrites its files (the drift monitor measures every --drift-interval-s).
PUBLISH_INTERVAL_S = 0.25


class Hub:
    """The shared drift monitor and live metrics, listening for the workers' messages:

    ("calls", [(model, version, signature, inputs, outputs), ...], {(model, version):
        version folder}, calls dropped by the worker since its last message)
    ("labels", [(logged example, label, label replaced or None), ...])
    """

    def __init__(self, settings: ServeSettings, run_dir: str):
        self.run_dir = run_dir
        self.registry = CollectorRegistry()
        self._version_dirs: dict[tuple[str, int], str | None] = {}
        self.drift = (
            DriftMonitor(settings.drift, self.registry, self._version_dir)
            if settings.drift is not None
            else None
        )
        self.live = LiveMetrics(self.registry, settings.reports_dir)
        if settings.feedback_rate > 0 and settings.feedback_dir:
            # Before any worker starts, so that no label is counted twice (serving/feedback_api
            # restores a model before storing its labels; the workers' restore does nothing).
            for model, folder in model_folders(settings.feedback_dir).items():
                count = self.live.restore(model, FeedbackIndex(folder, writable=False))
                log.info("live metrics of %s: %d labelled examples restored", model, count)
        authkey = secrets.token_bytes(32)
        key_path = os.path.join(run_dir, AUTHKEY)
        with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as key:
            key.write(authkey)
        self._listener = Listener(os.path.join(run_dir, SOCKET), "AF_UNIX", authkey=authkey)
        self._stop = threading.Event()
        self._published: dict[str, bytes] = {}
        self._threads = [
            threading.Thread(target=self._accept, name="hub-accept", daemon=True),
            threading.Thread(target=self._publish_loop, name="hub-publish", daemon=True),
        ]
        self._publish()  # the files exist before the first worker serves
        for thread in self._threads:
            thread.start()

    def _version_dir(self, model: str, version: int) -> str | None:
        return self._version_dirs.get((model, version))

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection = self._listener.accept()
            except OSError:  # closed, or a client that failed the handshake
                if self._stop.is_set():
                    return
                log.warning("hub: a connection was refused", exc_info=True)
                continue
            threading.Thread(
                target=self._receive, args=(connection,), name="hub-worker", daemon=True
            ).start()

    def _receive(self, connection: Connection) -> None:
        with connection:
            while True:
                try:
                    message = connection.recv()
                except (EOFError, OSError):
                    return  # the worker exited
                try:
                    self.handle(message)
                except Exception:  # one bad message must not stop the worker's next ones
                    log.exception("hub: a message could not be handled")

    def handle(self, message: tuple) -> None:
        """Takes one worker message (the class docstring lists them)."""
        kind = message[0]
        if kind == "calls":
            _, calls, version_dirs, dropped = message
            if self.drift is None:
                return
            self._version_dirs.update(version_dirs)
            if dropped:
                self.drift.count_dropped(dropped)
            for model, version, signature, inputs, outputs in calls:
                self.drift.observe(model, version, signature, inputs, outputs)
        elif kind == "labels":
            for logged, label, previous in message[1]:
                self.live.add(logged, label, previous)
        else:
            log.error("hub: unknown message %r", kind)

    def _publish_loop(self) -> None:
        while not self._stop.wait(PUBLISH_INTERVAL_S):
            try:
                self._publish()
            except Exception:  # a full disk must not stop the next try
                log.exception("hub: publishing failed")

    def _publish(self) -> None:
        self._write(METRICS_FILE, generate_latest(self.registry))
        status = self.drift.status() if self.drift is not None else None
        self._write(DRIFT_FILE, orjson.dumps(status))

    def _write(self, name: str, content: bytes) -> None:
        if self._published.get(name) == content:
            return
        path = os.path.join(self.run_dir, name)
        with open(path + ".tmp", "wb") as file:
            file.write(content)
        os.replace(path + ".tmp", path)  # a reader sees the old file or the new, whole
        self._published[name] = content

    def close(self) -> None:
        """Stops listening and the drift monitor."""
        self._stop.set()
        self._listener.close()
        if self.drift is not None:
            self.drift.close(timeout_s=1.0)  # the workers are gone: nobody reads it any more
