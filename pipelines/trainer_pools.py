"""The Trainer on N workers of a cluster (docs/kubernetes.md "Training on N workers").

Every worker runs TFX's own Trainer executor (`tfx.scripts.run_executor` with the
GenericExecutor) on the same inputs, with a `TF_CONFIG` naming the cluster; `components.trainer`
then trains with MultiWorkerMirroredStrategy and keeps the chief's outputs only. What launches
the workers is the platform's engine, never dlwp's:

- Vertex AI: TFX's Vertex Trainer extension starts a CustomJob of two worker pools (the chief,
  then N-1 workers); Vertex sets `TF_CONFIG` (`vertex_custom_config`).
- Kubernetes (Kubeflow Pipelines, or `dlwp k8s run`): `pipelines.k8s_trainer` creates an
  indexed Job of N pods and a headless Service that gives each pod a DNS name; each pod's
  `dlwp train-worker` derives `TF_CONFIG` from its completion index (`worker_job`,
  `worker_service`, `worker_addresses`, `tf_config`).

    pools = WorkerPools(workers=4, gpus_per_worker=1, image="REGISTRY/dlwp:0.1.0-gpu")
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from components.errors import SettingsError

# The Trainer's custom_config key that carries the pools to `pipelines.k8s_trainer`; the key is
# removed before the workers' executor (and `components.trainer.run_fn`) reads the config.
WORKER_POOLS_KEY = "dlwp_worker_pools"
WORKER_PORT = 2222  # where each worker's collective ops listen (TFJob's default port)
DEFAULT_MACHINE_TYPE = "n1-standard-8"
DEFAULT_VERTEX_GPU_TYPE = "NVIDIA_TESLA_T4"
COMPONENT = "trainer-worker"
# TFX's entry point for one executor run, as its Vertex extension starts it on every replica.
RUN_EXECUTOR = ("python", "-m", "tfx.scripts.run_executor")
TRAINER_EXECUTOR = "tfx.components.trainer.executor.GenericExecutor"


@dataclasses.dataclass(frozen=True)
class WorkerPools:
    """The Trainer's cluster: `workers` machines (the chief included), each with its GPUs.

    Attributes:
        workers: how many; 1 is the ordinary, single-machine Trainer.
        gpus_per_worker: GPUs on each (MirroredStrategy over them inside each worker).
        gpu_type: Vertex's accelerator name (NVIDIA_TESLA_T4, ...) or Kubernetes' resource.
        machine_type: Vertex's machine type of each worker.
        image: the workers' image ("" for the pipeline's).
        namespace: the Kubernetes namespace of the worker pods.
        project, region: the Vertex AI project and region of the CustomJob.
    """

    workers: int
    gpus_per_worker: int = 0
    gpu_type: str = ""
    machine_type: str = DEFAULT_MACHINE_TYPE
    image: str = ""
    namespace: str = "dlwp"
    project: str = ""
    region: str = ""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise SettingsError(f"--workers must be at least 1, got {self.workers}")
        if self.gpus_per_worker < 0:
            raise SettingsError(f"--gpus-per-worker must be 0 or more, got {self.gpus_per_worker}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, fields: dict[str, Any]) -> WorkerPools:
        return cls(**fields)


def vertex_custom_config(pools: WorkerPools, image: str) -> dict[str, Any]:
    """The custom_config entries of TFX's Vertex Trainer extension for `pools`: a CustomJob
    whose first pool is the chief and whose second holds the other N-1 workers.

    Raises:
        SettingsError: no project or region.
    """
    from tfx.extensions.google_cloud_ai_platform import constants
    from tfx.extensions.google_cloud_ai_platform.trainer import executor

    given = (("--project", pools.project), ("--region", pools.region))
    missing = [flag for flag, value in given if not value]
    if missing:
        raise SettingsError(
            f"--target vertex with --workers needs {' and '.join(missing)}: the Vertex AI "
            "project and region that run the Trainer's CustomJob"
        )
    machine: dict[str, Any] = {"machine_type": pools.machine_type}
    if pools.gpus_per_worker:
        machine["accelerator_type"] = pools.gpu_type or DEFAULT_VERTEX_GPU_TYPE
        machine["accelerator_count"] = pools.gpus_per_worker
    container = {"image_uri": pools.image or image}
    specs = [
        {"machine_spec": machine, "replica_count": count, "container_spec": container}
        for count in (1, pools.workers - 1)  # the chief's pool, then the other workers'
        if count
    ]
    return {
        constants.ENABLE_VERTEX_KEY: True,
        constants.VERTEX_REGION_KEY: pools.region,
        executor.TRAINING_ARGS_KEY: {
            "project": pools.project,
            "job_spec": {"worker_pool_specs": specs},
        },
    }


VERTEX, KUBERNETES = "vertex", "kubernetes"


@dataclasses.dataclass(frozen=True)
class TrainerLaunch:
    """How the pipeline's Trainer starts its workers: TFX executor class and the custom_config
    entries it reads (`pipelines.pipeline.create_pipeline(trainer_launch=...)`)."""

    executor_class: Any
    custom_config: dict[str, Any]


def trainer_launch(pools: WorkerPools, platform: str, image: str) -> TrainerLaunch:
    """The Trainer's launcher on `platform` (VERTEX: TFX's Vertex Trainer extension;
    KUBERNETES: `pipelines.k8s_trainer`'s indexed Job).

    Raises:
        SettingsError: Vertex without a project or region.
    """
    if platform == VERTEX:
        from tfx.extensions.google_cloud_ai_platform.trainer import executor

        return TrainerLaunch(executor.GenericExecutor, vertex_custom_config(pools, image))
    from pipelines import k8s_trainer

    pools = dataclasses.replace(pools, image=pools.image or image)
    return TrainerLaunch(k8s_trainer.Executor, {WORKER_POOLS_KEY: pools.to_json()})


def tf_config(addresses: list[str], index: int) -> str:
    """The `TF_CONFIG` of worker `index` of a cluster of workers at `addresses` (host:port),
    the first of them the chief."""
    if not 0 <= index < len(addresses):
        raise ValueError(f"worker index {index} is not in 0..{len(addresses) - 1}")
    return json.dumps(
        {"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}}
    )


def worker_addresses(workers: int, job: str, service: str, namespace: str) -> list[str]:
    """Where the pods of the indexed Job `job` listen: `<job>-<i>.<service>.<namespace>.svc`,
    the DNS names its headless Service gives them, at WORKER_PORT."""
    return [f"{job}-{i}.{service}.{namespace}.svc:{WORKER_PORT}" for i in range(workers)]


def _labels(job: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "dlwp",
        "app.kubernetes.io/part-of": "dlwp",
        "app.kubernetes.io/component": COMPONENT,
        "dlwp.dev/trainer-job": job,
    }


def worker_service(pools: WorkerPools, job: str) -> dict[str, Any]:
    """The headless Service that gives the pods of `worker_job(pools, job, ...)` DNS names."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": job, "namespace": pools.namespace, "labels": _labels(job)},
        "spec": {
            "clusterIP": "None",
            "selector": {"dlwp.dev/trainer-job": job},
            # The workers dial each other before they are ready: they are never "ready".
            "publishNotReadyAddresses": True,
            "ports": [{"name": "collective", "port": WORKER_PORT, "targetPort": WORKER_PORT}],
        },
    }


def worker_job(pools: WorkerPools, job: str, executor_args: list[str]) -> dict[str, Any]:
    """The indexed Job of the Trainer's N workers: each pod runs `dlwp train-worker`, which sets
    its `TF_CONFIG` and runs TFX's Trainer executor with `executor_args`.

    The pods mount the home claim as the pipeline Job does (its artifacts live there when the
    pipeline root is not object storage), with the same security baseline.
    """
    from pipelines import k8s_job

    settings = k8s_job.JobSettings(
        dataset="trainer",
        image=pools.image or k8s_job.DEFAULT_IMAGE,
        namespace=pools.namespace,
        gpus=pools.gpus_per_worker,
    )
    args = [
        "train-worker",
        "--workers",
        str(pools.workers),
        "--job",
        job,
        "--service",
        job,
        "--namespace",
        pools.namespace,
        "--",
        *executor_args,
    ]
    manifest = k8s_job.job_manifest(settings, job, {}, args)
    labels = _labels(job)
    manifest["metadata"]["labels"] = labels
    spec = manifest["spec"]
    spec.update(
        {
            "completionMode": "Indexed",
            "completions": pools.workers,
            "parallelism": pools.workers,
            # One lost worker stops them all (their collectives fail): no retry of a pod alone.
            "backoffLimit": 0,
        }
    )
    spec["template"]["metadata"]["labels"] = dict(labels)
    pod = spec["template"]["spec"]
    pod["subdomain"] = job
    pod["containers"][0]["ports"] = [{"name": "collective", "containerPort": WORKER_PORT}]
    return manifest


def executor_args(
    input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict
) -> list[str]:
    """TFX's `run_executor` flags for the Trainer's GenericExecutor on these artifacts, as its
    Vertex extension passes them to every replica."""
    from tfx.types import artifact_utils

    return [
        "--executor_class_path",
        TRAINER_EXECUTOR,
        "--inputs",
        artifact_utils.jsonify_artifact_dict(input_dict),
        "--outputs",
        artifact_utils.jsonify_artifact_dict(output_dict),
        "--exec-properties",
        json.dumps(exec_properties, sort_keys=True),
    ]


def run_worker(workers: int, job: str, service: str, namespace: str, args: list[str]) -> None:
    """`dlwp train-worker`: this pod's `TF_CONFIG` from its Job completion index, then TFX's
    executor run in this process.

    Raises:
        SettingsError: not in an indexed Job's pod.
    """
    index = os.environ.get("JOB_COMPLETION_INDEX")
    if index is None or not index.isdigit():
        raise SettingsError(
            "dlwp train-worker runs in a pod of an indexed Job (JOB_COMPLETION_INDEX is unset); "
            "it is started by the Trainer of `dlwp run --workers N`, not by hand"
        )
    addresses = worker_addresses(workers, job, service, namespace)
    os.environ["TF_CONFIG"] = tf_config(addresses, int(index))
    from tfx.scripts import run_executor

    run_executor.main(run_executor.parse_flags(args))
