"""The server's Prometheus metrics, declared in one place (docs/serving.md, docs/monitoring.md).

Labels are bounded: `model` is a served model's name (requests for unknown names count under
UNKNOWN_MODEL), `version` a loaded version, `api` one of API_NAMES, `protocol` rest or grpc,
`code` TF Serving's status name (OK, INVALID_ARGUMENT, NOT_FOUND, ...), `arm` one of a
`--split` model's version labels.
"""

import time
from collections.abc import Callable
from concurrent.futures import Future

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from serving.request_slots import Slot

UNKNOWN_MODEL = "_unknown"
API_NAMES = ("predict", "classify", "regress", "metadata", "status", "feedback")
# The requests `dlwp serve --split` may route (serving/traffic_split.py): status and metadata
# are never split.
INFERENCE_APIS = ("predict", "classify", "regress")

_LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServingMetrics:
    """All serving metrics, registered in `registry` (a fresh one per server and per test).

    In a worker of `dlwp serve --workers N` (`hub_metrics` given), prometheus_client's
    multiprocess mode holds the values (PROMETHEUS_MULTIPROC_DIR, set by the supervisor):
    `exposition()` sums every worker's, dead ones' counters included, and appends the hub's
    series (drift, live metrics: serving/worker_hub.py). A gauge is the sum (in flight) or the
    minimum (versions loaded: in every worker) over the live workers.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        hub_metrics: Callable[[], bytes] | None = None,
    ):
        self.registry = registry or CollectorRegistry()
        self._hub_metrics = hub_metrics
        self._workers_registry: CollectorRegistry | None = None
        if hub_metrics is not None:
            self._workers_registry = CollectorRegistry()
            MultiProcessCollector(self._workers_registry)
        self.request_count = Counter(
            "dlwp_request_count",
            "Requests answered, by model, version, api, protocol and code.",
            ["model", "version", "api", "protocol", "code"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "dlwp_request_latency_seconds",
            "Time from receiving a request to answering it.",
            ["model", "api", "protocol"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "dlwp_batch_size",
            "Examples per model call when server-side batching is on.",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.versions_loaded = Gauge(
            "dlwp_model_versions_loaded",
            "Versions of a model loaded and serving.",
            ["model"],
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.load_failures = Counter(
            "dlwp_model_load_failures",
            "Versions refused because they failed to load or warm up.",
            ["model"],
            registry=self.registry,
        )
        self.requests_in_flight = Gauge(
            "dlwp_requests_in_flight",
            "Model requests being answered now, and model calls still running for requests "
            "already answered (the client left, or the deadline passed).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.split_requests = Counter(
            "dlwp_split_requests",
            "Unpinned requests of a --split model, by the arm (version label) they were sent to.",
            ["model", "arm"],
            registry=self.registry,
        )
        self.connections_closed = Counter(
            "dlwp_connections_closed",
            "REST connections the server closed: by a timeout (header_timeout, body_timeout, "
            "idle), for headers over 64 KiB (headers_too_large), or refused over "
            "--max-connections (limit).",
            ["reason"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The Prometheus text of every series (of every worker, and the hub's)."""
        if self._hub_metrics is None or self._workers_registry is None:
            return generate_latest(self.registry)
        return generate_latest(self._workers_registry) + self._hub_metrics()

    def observe_request(
        self, model: str, version: str, api: str, protocol: str, code: str, latency_s: float
    ) -> None:
        """Counts one answered request and its latency."""
        self.request_count.labels(model, version, api, protocol, code).inc()
        self.request_latency.labels(model, api, protocol).observe(latency_s)

    def observe(
        self, api: str, protocol: str, model: str, is_served: Callable[[str], bool]
    ) -> "RequestObservation":
        """A context manager that times and counts one request (see RequestObservation)."""
        return RequestObservation(self, api, protocol, model, is_served)


class RequestObservation:
    """One request being answered: fill in `version` and `code`; counted on exit.

    Usage:
        with metrics.observe("predict", "rest", model, backend.is_served) as seen:
            seen.version = str(target.version)
            seen.hold_until_done(model_future)   # in flight until the model call is done too
    """

    def __init__(
        self,
        metrics: ServingMetrics,
        api: str,
        protocol: str,
        model: str,
        is_served: Callable[[str], bool],
    ):
        self._metrics, self._api, self._protocol = metrics, api, protocol
        self._model, self._is_served = model, is_served
        self.version, self.code = "", "OK"

    def hold_until_done(self, future: Future) -> None:
        """Counts the request in flight until `future` (its model call) is done as well."""
        self._in_flight.hold_until_done(future)

    def __enter__(self) -> "RequestObservation":
        self._start = time.perf_counter()
        self._metrics.requests_in_flight.inc()
        self._in_flight = Slot(self._metrics.requests_in_flight.dec)
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        self._in_flight.release()
        if error is not None and self.code == "OK":
            self.code = getattr(getattr(error, "grpc_code", None), "name", "INTERNAL")
        model = self._model if self._is_served(self._model) else UNKNOWN_MODEL
        self._metrics.observe_request(
            model,
            self.version if model != UNKNOWN_MODEL else "",
            self._api,
            self._protocol,
            self.code,
            time.perf_counter() - self._start,
        )
