"""`dlwp serve`: wires the backend, the REST and gRPC front ends, and shuts down gracefully.

On SIGTERM (or Ctrl-C) readiness turns unready at once (`/readyz` answers 503), both ports stop
taking new work, requests in flight finish, and the process exits 0 within the grace period.
"""

import contextlib
import logging
import posixpath
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import prometheus_client
import uvicorn

from serving.auth import BearerTokenInterceptor, BearerTokenMiddleware, read_token
from serving.backends import Backend, InProcessBackend, TFServingBackend
from serving.body_decoding import JsonBodyDecoder
from serving.drift_monitor import DriftMonitor
from serving.feedback import FeedbackLogger
from serving.feedback_api import feedback_routes
from serving.feedback_index import model_folders
from serving.grpc_service import grpc_server
from serving.http_protocol import guarded_http_protocol
from serving.hub_client import DriftForwarder, ForwardedLiveMetrics, HubDriftStatus
from serving.labelling import labelling_routes
from serving.live_metrics import LabelSink, LiveMetrics
from serving.manager import ModelManager
from serving.metrics import ServingMetrics
from serving.model_config import sources_from_config_file, sources_in_folder
from serving.observers import ObservingBackend, RequestObserver
from serving.ports import check_port_free
from serving.rest import RestApi, ServerState
from serving.settings import ServeSettings
from serving.stop_signals import handling_stop_signals
from serving.traffic_split import TrafficSplit, check_against_config
from serving.version_task import read_version_task

if TYPE_CHECKING:
    from serving.worker import WorkerContext

log = logging.getLogger("dlwp.serving")


def _list_sources(settings: ServeSettings):
    if settings.model_config_file:
        sources = sources_from_config_file(settings.model_config_file)
        return lambda: sources
    return lambda: sources_in_folder(settings.models_dir)


def build_observers(
    settings: ServeSettings, metrics: ServingMetrics, worker: "WorkerContext | None" = None
) -> list[RequestObserver]:
    """What watches the traffic (serving/observers.py), as the settings ask; a worker's drift
    intake goes to the hub (serving/worker_hub.py), which measures all the workers' calls."""
    observers: list[RequestObserver] = []
    if settings.drift is not None and worker is not None:
        observers.append(DriftForwarder(worker.hub, settings.drift, _version_dirs(settings)))
    elif settings.drift is not None:
        observers.append(DriftMonitor(settings.drift, metrics.registry, _version_dirs(settings)))
    if settings.feedback_rate > 0:
        observers.append(
            FeedbackLogger(
                settings.feedback_dir,
                settings.feedback_rate,
                registry=metrics.registry,
                hard_rate=settings.feedback_hard_rate,
                version_dir=_version_dirs(settings),
            )
        )
    return observers


def _version_dirs(settings: ServeSettings):
    """(model, version) -> the version's folder, where its drift reference is (in gateway mode
    too: TF Serving's model folders, mounted here)."""
    list_sources = _list_sources(settings)

    def version_dir(model: str, version: int) -> str | None:
        for source in list_sources():
            if source.name == model:
                return posixpath.join(source.base_path, str(version))
        return None

    return version_dir


def build_split(settings: ServeSettings, metrics: ServingMetrics) -> TrafficSplit | None:
    """The traffic split of `--split`, checked against the model config (None without one),
    its request counter's series made at 0 for every arm.

    Raises:
      SplitConfigError: no `--model-config-file`, or a model or label it lacks.
    """
    if not settings.split:
        return None
    labels_by_model = None
    if settings.model_config_file:
        labels_by_model = {
            source.name: [label for label, _ in source.labels]
            for source in sources_from_config_file(settings.model_config_file)
        }
    check_against_config(settings.split, labels_by_model)
    split = TrafficSplit(dict(settings.split))
    for model, labels in split.arms.items():
        for label in labels:
            metrics.split_requests.labels(model, label)
    return split


def build_label_routes(
    settings: ServeSettings,
    metrics: ServingMetrics,
    feedback: FeedbackLogger | None,
    live: LabelSink,
    is_served,
) -> list:
    """`POST /v1/models/M:feedback` and the labelling page `/label/M/` (docs/monitoring.md,
    "Audits") over the feedback logger's own index of each model (one index per process);
    without a logger both answer that feedback is off."""
    version_dirs = _version_dirs(settings)

    def task_of(model: str, version: int):
        return read_version_task(version_dirs(model, version))

    model_index = feedback.index if feedback is not None else (lambda _model: None)
    return [
        *feedback_routes(
            model_index,
            task_of,
            live,
            sample_rate=settings.feedback_rate or None,
            metrics=metrics,
            is_served=is_served,
        ),
        *labelling_routes(model_index, task_of),
    ]


def restore_live_metrics(feedback: FeedbackLogger, live: LiveMetrics) -> None:
    """Sets the live metrics from the labels already in the feedback log, model by model (run
    in a thread at start: a large index takes seconds to read)."""
    try:
        for model in model_folders(feedback.folder):
            count = live.restore(model, feedback.index(model))
            log.info("live metrics of %s: %d labelled examples restored", model, count)
    except Exception:  # an unreadable index must not stop serving; :feedback says why
        log.exception("restoring the live metrics failed")


def build_backend(settings: ServeSettings, metrics: ServingMetrics) -> Backend:
    """The in-process backend (models loaded, polling started) or the TF Serving gateway."""
    if settings.backend == "tfserving":
        return TFServingBackend(settings.tfserving_address, settings.limits.request_timeout_s)
    manager = ModelManager(_list_sources(settings), metrics, settings.poll_s)
    manager.start()
    return InProcessBackend(manager, metrics, settings.batching, settings.model_threads)


class _Server(uvicorn.Server):
    """uvicorn, with our own signal handling: drain, then exit 0 (uvicorn re-raises the
    signal after shutting down, which would end the process with -SIGTERM).

    On the first signal `on_signal` turns readiness off, and the REST port keeps answering
    (`/readyz` 503, new model requests 503) until `drained()` or the grace period is over;
    only then does uvicorn stop listening and finish its connections. A second signal stops
    at once.

    A worker (`in_pool`) ignores SIGINT and drains on its first SIGTERM only: Ctrl-C reaches
    the whole process group, and the supervisor, which forwards it as SIGTERM, is the one
    that kills on a second signal (serving/worker_pool.py)."""

    def __init__(
        self, config: uvicorn.Config, on_signal, drained, grace_s: float, in_pool: bool = False
    ):
        super().__init__(config)
        self._on_signal, self._drained, self._grace_s = on_signal, drained, grace_s
        self._signalled = False
        self._in_pool = in_pool

    def _exit_when_drained(self) -> None:
        deadline = time.monotonic() + self._grace_s
        while not self._drained() and time.monotonic() < deadline:
            time.sleep(0.05)
        # uvicorn's own wait for open connections gets what is left of the grace period.
        self.config.timeout_graceful_shutdown = max(0.1, deadline - time.monotonic())  # type: ignore[assignment]
        self.should_exit = True

    @contextlib.contextmanager
    def capture_signals(self):
        def handle(signum, frame):
            if self._in_pool and (signum == signal.SIGINT or self._signalled):
                return
            if self._signalled:
                self.force_exit = True
                self.handle_exit(signum, frame)
                return
            self._signalled = True
            self._on_signal()
            threading.Thread(target=self._exit_when_drained, name="drain", daemon=True).start()

        with handling_stop_signals(handle):
            yield


class ServingStack:
    """The backend and both front ends, built from settings.

    Usage (what `serve` does):
        stack = ServingStack(settings)
        stack.http.run()   # until SIGTERM
        stack.close()
    """

    def __init__(self, settings: ServeSettings, worker: "WorkerContext | None" = None):
        """`worker`: this stack is one of `dlwp serve --workers N`'s (serving/worker.py); its
        supervisor checked the ports, which the workers share."""
        if worker is None:
            check_port_free(settings.host, settings.port, "REST")
            check_port_free(settings.host, settings.grpc_port, "gRPC")
        self.settings = settings
        token = read_token(settings.auth_token_file) if settings.auth_token_file else None
        self.metrics = ServingMetrics(
            hub_metrics=worker.hub.metrics if worker is not None else None
        )
        self.split = build_split(settings, self.metrics)  # before any model loads
        self.state = ServerState(
            settings.limits.max_concurrent_requests,
            peers=worker.readiness if worker is not None else None,
        )
        self.decoder = JsonBodyDecoder()
        self.backend = ObservingBackend(
            build_backend(settings, self.metrics), build_observers(settings, self.metrics, worker)
        )
        feedback = next((o for o in self.backend.observers if isinstance(o, FeedbackLogger)), None)
        self.live: LiveMetrics | ForwardedLiveMetrics
        drift: DriftMonitor | HubDriftStatus | None
        if worker is not None:  # the hub keeps both for every worker (serving/worker_hub.py)
            self.live = ForwardedLiveMetrics(worker.hub)
            drift = HubDriftStatus(worker.hub) if settings.drift is not None else None
        else:
            self.live = LiveMetrics(self.metrics.registry, settings.reports_dir)
            drift = next((o for o in self.backend.observers if isinstance(o, DriftMonitor)), None)
        if feedback is not None and feedback.indexed and isinstance(self.live, LiveMetrics):
            threading.Thread(
                target=restore_live_metrics, args=(feedback, self.live), daemon=True
            ).start()
        limits = settings.limits
        self.grpc = grpc_server(
            self.backend,
            self.metrics,
            f"{settings.host}:{settings.grpc_port}",
            limits.request_timeout_s,
            limits.max_concurrent_requests,
            limits.max_body_bytes,
            limits.max_batch_instances,
            interceptors=[BearerTokenInterceptor(token)] if token is not None else [],
            split=self.split,
            reuse_port=worker is not None,
        )
        self.api = RestApi(
            self.backend,
            self.metrics,
            limits,
            self.state,
            resolve_blocks=settings.backend == "tfserving",
            web_dir=settings.web_dir,
            exports_dir=settings.exports_dir,
            reports_dir=settings.reports_dir,
            drift=drift,
            decoder=self.decoder,
            split=self.split,
            extra_routes=build_label_routes(
                settings, self.metrics, feedback, self.live, self.backend.is_served
            ),
        )
        # The grace period stays a float: int() made a sub-second grace 0, and uvicorn then
        # cancels every request in flight at once (uvicorn only waits, with asyncio.wait_for).
        app: Any = self.api.app()
        if token is not None:
            app = BearerTokenMiddleware(app, token)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            # uvicorn waits with asyncio, which takes fractions of a second too.
            timeout_graceful_shutdown=settings.grace_s,  # type: ignore[arg-type]
            lifespan="off",
            loop="uvloop",
            # httptools, with the connection limits (serving/http_protocol.py).
            http=guarded_http_protocol(limits, self.metrics),
            timeout_keep_alive=limits.idle_timeout_s,  # type: ignore[arg-type]
        )
        self.http = _Server(
            config,
            self.drain,
            lambda: self.state.slots.taken == 0,
            settings.grace_s,
            in_pool=worker is not None,
        )

    def drain(self) -> None:
        """Readiness off; gRPC refuses new calls and lets running ones finish."""
        self.state.draining = True
        self.grpc.stop(self.settings.grace_s)

    def close(self) -> None:
        """After the HTTP server returned: finish gRPC calls, stop polling and batching."""
        self.drain()
        self.grpc.stop(self.settings.grace_s).wait(self.settings.grace_s)
        self.backend.close()
        self.decoder.close()


def serve(settings: ServeSettings, announce=print) -> int:
    """Serves in this process until SIGTERM / SIGINT; returns the exit code (`dlwp serve
    --workers N` runs serving/worker_pool.py instead)."""
    # `_created` series double every counter; TF Serving and dashboards do not use them.
    prometheus_client.disable_created_metrics()
    stack = ServingStack(settings)
    announce(
        f"dlwp serve: REST on {settings.host}:{settings.port}, gRPC on "
        f"{settings.host}:{settings.grpc_port} ({settings.backend}); Ctrl-C stops"
    )
    try:
        stack.http.run()  # uvicorn's run applies the uvloop event loop; asyncio.run would not
    finally:
        stack.close()
    sys.stdout.flush()
    return 0 if stack.http.started else 1
