"""`dlwp serve --workers N`: N server processes sharing the REST and gRPC ports, under a
supervisor that loads no model (docs/serving.md, "Workers").

The supervisor checks the ports, writes the run folder (the settings, the shared readiness,
the Prometheus multiprocess files), starts the hub (serving/worker_hub.py: the drift monitor
and the live metrics of all workers), then starts each worker (serving/worker.py) as its own
Python process, which loads its own copy of the models and listens on both ports with
SO_REUSEPORT: the kernel spreads new connections over the workers.

- A worker that exits is restarted (after 0.5 s, doubling up to 30 s while it keeps failing
  within 30 s of its start); the others keep serving. A worker that cannot start (a
  StartupError: a bad flag, a bad config) stops the server with its message.
- SIGTERM or SIGINT: `/readyz` answers 503 in every worker at once, each worker drains (its
  requests in flight finish, within --grace-s) and exits; the supervisor exits 0 once all
  did. A second signal kills the workers at once.
"""

import contextlib
import dataclasses
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import prometheus_client
from prometheus_client import multiprocess

from serving.errors import StartupError
from serving.ports import check_port_free
from serving.settings import ServeSettings
from serving.stop_signals import handling_stop_signals
from serving.worker import (
    PROMETHEUS_DIR,
    READINESS_FILE,
    SETTINGS_FILE,
    startup_error_file,
)
from serving.worker_hub import Hub
from serving.worker_readiness import SharedReadiness

log = logging.getLogger("dlwp.serving")

FIRST_RESTART_DELAY_S, MAX_RESTART_DELAY_S = 0.5, 30.0
# A worker that ran this long before it exited is restarted after the first delay again.
HEALTHY_AFTER_S = 30.0
# Beyond --grace-s, how long the workers get to exit before they are killed.
EXIT_MARGIN_S = 5.0
_POLL_S = 0.05


class WorkerStartupError(StartupError):
    """A worker could not start (its own StartupError's message)."""


@dataclasses.dataclass
class _Worker:
    index: int
    process: subprocess.Popen
    started_s: float
    restart_delay_s: float = FIRST_RESTART_DELAY_S
    restart_at: float | None = None  # set while it waits to be restarted


class WorkerPool:
    """The supervisor. `run()` blocks until stopped (a signal, or `stop()` from another
    thread) and returns the exit code.

    Usage:
        pool = WorkerPool(settings)   # settings.workers > 1
        sys.exit(pool.run())
    """

    def __init__(self, settings: ServeSettings, announce=print):
        self.settings, self._announce = settings, announce
        self._stopping = threading.Event()
        self._killing = False
        self._workers: list[_Worker] = []
        self.readiness: SharedReadiness | None = None
        self.run_dir = ""
        self.restarts = 0

    @property
    def started(self) -> bool:
        """Whether every worker listens on the ports."""
        return self.readiness is not None and self.readiness.all_listening()

    def pids(self) -> list[int]:
        """The workers' process ids, in worker order."""
        return [worker.process.pid for worker in self._workers]

    def stop(self) -> None:
        """Drains and stops the workers (what SIGTERM does)."""
        self._stopping.set()

    def run(self) -> int:
        settings = self.settings
        prometheus_client.disable_created_metrics()  # as one process does (serving/server.py)
        check_port_free(settings.host, settings.port, "REST")
        check_port_free(settings.host, settings.grpc_port, "gRPC")
        self.run_dir = tempfile.mkdtemp(prefix="dlwp-serve-")
        hub = None
        try:
            os.mkdir(os.path.join(self.run_dir, PROMETHEUS_DIR))
            with open(os.path.join(self.run_dir, SETTINGS_FILE), "wb") as file:
                pickle.dump(settings, file)
            self.readiness = SharedReadiness.create(
                os.path.join(self.run_dir, READINESS_FILE), settings.workers
            )
            hub = Hub(settings, self.run_dir)
            with self._signals():
                self._workers = [self._start(index) for index in range(settings.workers)]
                self._announce(
                    f"dlwp serve: REST on {settings.host}:{settings.port}, gRPC on "
                    f"{settings.host}:{settings.grpc_port} ({settings.backend}, "
                    f"{settings.workers} workers); Ctrl-C stops"
                )
                try:
                    self._supervise()
                finally:
                    exit_code = self._stop_workers()
            return exit_code
        finally:
            if hub is not None:
                hub.close()
            if self.readiness is not None:
                self.readiness.close()
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _start(self, index: int) -> _Worker:
        environment = dict(
            os.environ, PROMETHEUS_MULTIPROC_DIR=os.path.join(self.run_dir, PROMETHEUS_DIR)
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "serving.worker", self.run_dir, str(index)], env=environment
        )
        log.info("worker %d started (pid %d)", index, process.pid)
        return _Worker(index, process, time.monotonic())

    def _supervise(self) -> None:
        while not self._stopping.wait(_POLL_S):
            now = time.monotonic()
            for worker in self._workers:
                if worker.restart_at is not None:
                    if now >= worker.restart_at:
                        self._restart(worker)
                elif worker.process.poll() is not None:
                    self._exited(worker, now)

    def _exited(self, worker: _Worker, now: float) -> None:
        assert self.readiness is not None
        index, code = worker.index, worker.process.returncode
        self.readiness.set_ready(index, False)
        self.readiness.set_listening(index, False)
        multiprocess.mark_process_dead(
            worker.process.pid, os.path.join(self.run_dir, PROMETHEUS_DIR)
        )
        error_file = startup_error_file(self.run_dir, index)
        if os.path.exists(error_file):
            with open(error_file) as file:
                raise WorkerStartupError(file.read())
        if now - worker.started_s >= HEALTHY_AFTER_S:
            worker.restart_delay_s = FIRST_RESTART_DELAY_S
        how = f"signal {-code}" if code < 0 else f"code {code}"
        log.error(
            "worker %d (pid %d) exited with %s; restarting it in %.1f s",
            index,
            worker.process.pid,
            how,
            worker.restart_delay_s,
        )
        worker.restart_at = now + worker.restart_delay_s

    def _restart(self, worker: _Worker) -> None:
        started = self._start(worker.index)
        worker.process, worker.started_s = started.process, started.started_s
        worker.restart_at = None
        worker.restart_delay_s = min(2 * worker.restart_delay_s, MAX_RESTART_DELAY_S)
        self.restarts += 1

    def _stop_workers(self) -> int:
        """Drains every worker (SIGTERM), kills what is left after the grace period; 0 when
        every worker exited 0."""
        assert self.readiness is not None
        self.readiness.draining = True
        running = [w for w in self._workers if w.restart_at is None and w.process.poll() is None]
        for worker in running:
            worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.grace_s + EXIT_MARGIN_S
        while any(w.process.poll() is None for w in running):
            if self._killing or time.monotonic() > deadline:
                for worker in running:
                    with contextlib.suppress(ProcessLookupError):
                        worker.process.kill()
            time.sleep(_POLL_S)
        codes = [worker.process.returncode for worker in running]
        return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1

    def _signals(self):
        def handle(signum, frame):
            if self._stopping.is_set():
                self._killing = True  # a second signal: no more waiting
            self._stopping.set()

        return handling_stop_signals(handle)
