"""Chooses the `tf.distribute` strategy for training (book ch. 13 "scaling up").

MultiWorkerMirroredStrategy when `TF_CONFIG` names a cluster of more than one worker (Vertex
AI's worker pools and Kubeflow's TFJob set it: docs/kubernetes.md "Training on N workers"),
TPUStrategy when a TPU is configured, MirroredStrategy over more than one GPU (or more than one
logical CPU device, as the tests make them), otherwise the default strategy (one GPU if there
is one, else the CPU). The global batch grows with the number of replicas of every worker, so
that each replica sees the book's batch size.

Every worker of a cluster runs the whole Trainer, in step: only the chief's outputs are kept.
`Distribution.output_path` gives the other workers a temporary folder beside each output, as
TensorFlow's multi-worker guide prescribes (saving may run collective ops, so every worker
saves), and `drop_worker_outputs` deletes them.
"""

import contextlib
import dataclasses
import json
import logging
import os
import re
from collections.abc import Iterator

import tensorflow as tf

from components.errors import DlwpError

TF_CONFIG = "TF_CONFIG"
# Beside an output, the folder a worker other than the chief writes its copy to.
WORKER_TEMP_PREFIX = "workertemp_"
# How TensorFlow names a task in a collective's error: /job:worker/replica:0/task:1.
_TASK_NAME = re.compile(r"/job:(\w+)/replica:\d+/task:(\d+)")
# The errors a collective raises when a peer died, hung or aborted the step.
_PEER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
    tf.errors.CancelledError,
)


class LostWorkerError(DlwpError):
    """A worker of the training cluster failed, so every worker's training stopped (exit 1)."""


@dataclasses.dataclass(frozen=True)
class Distribution:
    """The chosen strategy and what to record about it."""

    strategy: tf.distribute.Strategy
    name: str
    devices: tuple[str, ...]
    mixed_precision: bool
    task: "ClusterTask" = dataclasses.field(default_factory=lambda: ClusterTask())

    @property
    def replicas(self) -> int:
        """The replicas in sync, over every worker."""
        return self.strategy.num_replicas_in_sync

    @property
    def is_chief(self) -> bool:
        return self.task.is_chief

    def output_path(self, path: str) -> str:
        """`path` on the chief; on another worker, the same name in a temporary folder beside it
        (`<parent>/workertemp_<task index>/<name>`), which `drop_worker_outputs` deletes."""
        if self.is_chief:
            return path
        parent, name = os.path.split(path.rstrip("/"))
        return os.path.join(parent, f"{WORKER_TEMP_PREFIX}{self.task.index}", name)

    @contextlib.contextmanager
    def naming_lost_workers(self) -> Iterator[None]:
        """Turns a collective's failure, when another worker died or hung (TensorFlow's
        heartbeat finds it within seconds), into a `LostWorkerError` naming that worker."""
        if self.task.workers == 1:
            yield
            return
        try:
            yield
        except _PEER_ERRORS as error:
            raise LostWorkerError(lost_worker_message(str(error), self.task)) from error

    def drop_worker_outputs(self, *paths: str) -> None:
        """Deletes this worker's temporary copies of `paths` (nothing on the chief)."""
        if self.is_chief:
            return
        for path in paths:
            folder = os.path.dirname(self.output_path(path))
            if tf.io.gfile.exists(folder):
                tf.io.gfile.rmtree(folder)

    def global_batch_size(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def describe(self) -> dict:
        return {
            "strategy": self.name,
            "workers": self.task.workers,
            "replicas": self.replicas,
            "replicas_per_worker": self.replicas // self.task.workers,
            "devices": list(self.devices),
            "mixed_precision": self.mixed_precision,
        }


@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """This process's place in a training cluster (`TF_CONFIG`): one worker by default.

    Attributes:
        workers: the cluster's workers, the chief included.
        type: the task type (`chief`, `worker`; None outside a cluster).
        index: the task's index among those of its type.
        has_chief: the cluster has a `chief` task (Vertex AI's first worker pool, a TFJob's
            Chief replica), else worker 0 is the chief.
    """

    workers: int = 1
    type: str | None = None
    index: int = 0
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """The task that keeps its outputs: `chief`, or worker 0 of a cluster without one."""
        if self.type in (None, "chief"):
            return True
        return self.type == "worker" and self.index == 0 and not self.has_chief

    @property
    def name(self) -> str:
        """`/job:worker/task:1`, as TensorFlow names the task in its errors."""
        return f"/job:{self.type}/task:{self.index}" if self.type else "the local process"


def lost_worker_message(error: str, task: ClusterTask) -> str:
    """What stopped training on `task`, naming the other worker in TensorFlow's `error`."""
    others = [
        f"/job:{kind}/task:{index}"
        for kind, index in _TASK_NAME.findall(error)
        if (kind, int(index)) != (task.type, task.index)
    ]
    lost = others[0] if others else "another worker"
    first_line = error.strip().splitlines()[0] if error.strip() else ""
    return (
        f"training stopped on {task.name}: {lost} of the {task.workers} workers failed or "
        f"stopped answering ({first_line[:300]}). See that worker's log; rerun the Trainer to "
        "resume every worker from the chief's last backup"
    )


def cluster_task(tf_config: str | None = None) -> ClusterTask:
    """This process's task in `TF_CONFIG` (default: the environment's), counting chief and
    worker tasks as workers; parameter servers and evaluators do not train in sync.

    Raises:
        ValueError: TF_CONFIG is not JSON, or its task is not in its cluster.
    """
    text = os.environ.get(TF_CONFIG, "") if tf_config is None else tf_config
    if not text.strip():
        return ClusterTask()
    try:
        config = json.loads(text)
        cluster = config.get("cluster") or {}
        task = config.get("task") or {}
        workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
        kind, index = task.get("type"), int(task.get("index", 0))
    except (ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"{TF_CONFIG} is not a cluster spec ({error}): {text[:200]}") from None
    if workers <= 1:
        return ClusterTask()
    if kind not in ("chief", "worker") or index >= len(cluster.get(kind, [])):
        raise ValueError(
            f"{TF_CONFIG}'s task {task} is not a chief or worker of its cluster {cluster}"
        )
    return ClusterTask(workers=workers, type=kind, index=index, has_chief="chief" in cluster)


def _listed(device_type: str) -> tuple[str, ...]:
    return tuple(device.name for device in tf.config.list_logical_devices(device_type))


def choose_distribution(tpu: str = "", mixed_precision: bool = False) -> Distribution:
    """Picks multi-worker, TPU, multi-GPU or default; mixed precision only where a GPU trains.

    Args:
        tpu: the TPU's name or address (the CLI passes `--tpu` or `$TPU_NAME`); "" for none.
        mixed_precision: use float16 compute on GPU (ignored on CPU, where it is slower).
    """
    from tensorflow_transform.keras_lib import tf_keras

    task = cluster_task()
    # Devices are listed after a cluster or TPU strategy is made: listing starts TensorFlow's
    # context, which those strategies configure.
    if task.workers > 1:
        # Collectives over gRPC between the workers; each mirrors its own GPUs, if any.
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        name, devices = "MultiWorkerMirroredStrategy", _listed("GPU") or _listed("CPU")
    elif tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
        name, devices = "TPUStrategy", _listed("TPU")
    else:
        gpus, cpus = _listed("GPU"), _listed("CPU")
        if len(gpus) > 1:
            strategy, name, devices = tf.distribute.MirroredStrategy(), "MirroredStrategy", gpus
        elif not gpus and len(cpus) > 1:
            # Logical CPU devices exist only where a process asked for them.
            strategy, name, devices = tf.distribute.MirroredStrategy(cpus), "MirroredStrategy", cpus
        else:
            strategy, name, devices = tf.distribute.get_strategy(), "default", gpus or cpus
    on_gpu = any("GPU" in device for device in devices)
    use_mixed = mixed_precision and on_gpu
    if use_mixed:
        tf_keras.mixed_precision.set_global_policy("mixed_float16")
    logging.info(
        "Training with %s on %s, %s of %d workers (mixed precision: %s)",
        name,
        devices,
        task.name,
        task.workers,
        use_mixed,
    )
    return Distribution(strategy, name, devices, use_mixed, task)
