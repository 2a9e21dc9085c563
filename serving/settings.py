"""The settings of `dlwp serve`, in a module that imports neither TensorFlow nor the server, so
that the CLI refuses a bad flag at once (configuration flows one way: flags → these frozen
dataclasses, whose defaults are the CLI's → the parts that take them). Each `__post_init__`
raises ServeSettingsError naming the flag and the value."""

import dataclasses
import math
import os

from serving.errors import ServeSettingsError
from serving.traffic_split import check_splits


def _check_positive(
    settings: object, flags: dict[str, str] | None = None, zero_allowed: tuple[str, ...] = ()
) -> None:
    """Raises ServeSettingsError naming the flag (`--field-name`, or `flags[field]`) of the first
    field that is not positive (for a field in `zero_allowed`: that is negative)."""
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, field.name)
        flag = (flags or {}).get(field.name, "--" + field.name.replace("_", "-"))
        if field.name in zero_allowed:
            if value < 0:
                raise ServeSettingsError(f"{flag} must be 0 or more, got {value}")
        elif value <= 0:
            raise ServeSettingsError(f"{flag} must be positive, got {value}")


def available_cores(cgroup_cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (a
    container's CPU limit on Kubernetes; `os.cpu_count()` would count the node's cores)."""
    cores = len(os.sched_getaffinity(0))
    try:
        with open(cgroup_cpu_max) as limit:
            quota, period = limit.read().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters (`batching_parameters_file`)."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    max_enqueued_batches: int = 100
    num_batch_threads: int = 2

    def __post_init__(self) -> None:
        _check_positive(self, zero_allowed=("batch_timeout_micros",))


@dataclasses.dataclass(frozen=True)
class RestLimits:
    """What one request and one connection may cost (REST and gRPC; docs/serving.md, "Limits").

    Attributes:
      max_body_bytes: a larger body is refused (413; gRPC's message limit too).
      max_concurrent_requests: requests whose body is read and whose answer is being worked
        on; more are refused (429).
      request_timeout_s: the model's answer must come within this (504).
      max_batch_instances: examples one request may carry, with batching on or off (400);
        checked against the claimed shape before any array is built.
      header_timeout_s: a connection must send a request's headers within this (408).
      body_timeout_s: a request's body must arrive within this once its headers have (408).
      idle_timeout_s: an idle keep-alive connection is closed after this.
      max_connections: open REST connections; more are answered 503 and closed.
    """

    max_body_bytes: int = 32 * 1024 * 1024
    max_concurrent_requests: int = 256
    request_timeout_s: float = 30.0
    max_batch_instances: int = 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 15.0
    max_connections: int = 2048

    def __post_init__(self) -> None:
        _check_positive(self)


@dataclasses.dataclass(frozen=True)
class DriftSettings:
    """The window and the monitor's pace."""

    window_size: int = 500
    max_age_s: float = 3600.0
    min_samples: int = 100
    interval_s: float = 5.0
    queue_size: int = 10_000

    def __post_init__(self) -> None:
        flags = {
            "window_size": "--drift-window",
            "max_age_s": "--drift-max-age-s",
            "min_samples": "--drift-min-samples",
            "interval_s": "--drift-interval-s",
            "queue_size": "the drift queue_size",
        }
        _check_positive(self, flags)
        if self.min_samples > self.window_size:
            raise ServeSettingsError(
                f"--drift-min-samples {self.min_samples} must be at most the "
                f"--drift-window {self.window_size}"
            )


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """Everything `dlwp serve` takes (see `dlwp serve --help`)."""

    models_dir: str = ""
    model_config_file: str = ""
    # Loopback for a local run; the image sets DLWP_SERVE_HOST=0.0.0.0 (docs/serving.md).
    host: str = "127.0.0.1"
    port: int = 8501
    grpc_port: int = 8500
    poll_s: float = 2.0
    batching: BatchingOptions | None = None
    limits: RestLimits = RestLimits()
    grace_s: float = 20.0
    backend: str = "inprocess"
    tfserving_address: str = ""
    model_threads: int = 4
    # The browser demo (serving/demo.py): "" serves no exports, and the repository's web/.
    exports_dir: str = ""
    web_dir: str = ""
    # The version reports (serving/reports.py) under /reports/; "" serves none.
    reports_dir: str = ""
    # The drift monitor (serving/drift_monitor.py); None turns it off.
    drift: DriftSettings | None = DriftSettings()
    # The feedback log (serving/feedback.py): the fraction of examples logged, 0 for none.
    feedback_rate: float = 0.0
    # Uncertainty sampling (serving/sampling.py): a margin-0 example is logged at this rate;
    # None: every example at feedback_rate.
    feedback_hard_rate: float | None = None
    feedback_dir: str = ""
    # A file holding a bearer token every request but the probes must carry; "" for none.
    auth_token_file: str = ""
    # The traffic split (serving/traffic_split.py): (model, ((label, weight), ...)) per --split.
    split: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    # Server processes sharing the ports (serving/worker_pool.py); 1 runs everything in this
    # process. The CLI's default is `available_cores()`.
    workers: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ServeSettingsError(
                f"--workers is the number of server processes, 1 or more, got {self.workers}"
            )
        for flag, value in (("--port", self.port), ("--grpc-port", self.grpc_port)):
            if value <= 0:
                raise ServeSettingsError(f"{flag} must be positive, got {value}")
        if self.poll_s <= 0:
            raise ServeSettingsError(f"--poll-s must be positive, got {self.poll_s}")
        if self.backend not in ("inprocess", "tfserving"):
            raise ServeSettingsError(f"--backend is inprocess or tfserving, got {self.backend!r}")
        if not 0 <= self.feedback_rate <= 1:
            raise ServeSettingsError(
                "--feedback-rate is the fraction of examples logged: from 0 (off) to 1, "
                f"got {self.feedback_rate}"
            )
        check_splits(self.split)
        hard = self.feedback_hard_rate
        if hard is not None and not (0 < self.feedback_rate <= hard <= 1):
            raise ServeSettingsError(
                f"--feedback-hard-rate {hard} must be between --feedback-rate "
                f"({self.feedback_rate}; above 0, the rate of the surest examples) and 1"
            )
