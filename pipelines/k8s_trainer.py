"""The Trainer's executor on Kubernetes with `--workers N` (docs/kubernetes.md "Training on N
workers"): TFX's own Trainer executor, run by N pods of an indexed Job, in step.

It creates the headless Service and the indexed Job of `pipelines.trainer_pools`, waits for the
Job, and fails naming the workers that failed (by their index: 0 is the chief). The workers'
`components.trainer.run_fn` writes the model where TFX's Trainer would, on the home claim or in
object storage; this executor then checks that it is there, as TFX's Trainer does.

    Trainer(..., custom_executor_spec=executor_spec.ExecutorClassSpec(k8s_trainer.Executor))
"""

from __future__ import annotations

import datetime
import os
import secrets
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import json_utils, path_utils

from components.distribution import LostWorkerError
from pipelines import k8s_client
from pipelines.trainer_pools import (
    WORKER_POOLS_KEY,
    WorkerPools,
    executor_args,
    worker_job,
    worker_service,
)

# What to do when `dlwp run --workers N` finds no cluster to start its workers in.
NO_CLUSTER_REMEDY = (
    "the Trainer's --workers are pods of an indexed Job: run the pipeline inside the cluster "
    "(kubectl apply -k k8s/overlays/multi-worker, or dlwp k8s run DATASET -- --workers N), or "
    "leave out --workers to train in this process"
)


def worker_job_name(now: datetime.datetime | None = None) -> str:
    """`dlwp-train-<UTC time>-<4 hex>`: a DNS label, also the pods' subdomain."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return f"dlwp-train-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def failure_message(job: str, outcome: k8s_client.JobOutcome, workers: int) -> str:
    """Which of the `workers` failed, by index (0 is the chief), and how."""
    named = [
        f"worker {index} ({pod}, exit code {code})" if index is not None else f"pod {pod}"
        for pod, index, code in sorted(outcome.failed, key=lambda f: (f[1] is None, f[1], f[0]))
    ]
    who = ", ".join(named) if named else "no pod was reported failed"
    message = f"the Trainer's {workers} workers (job {job}) failed: {who}; {outcome.message}"
    if outcome.failed:
        message += f". Read its log: kubectl logs {outcome.failed[0][0]}"
    return message


class Executor(base_executor.BaseExecutor):
    """Runs TFX's Trainer executor on the worker pods of an indexed Job."""

    def Do(  # noqa: N802 (TFX's name)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        key = standard_component_specs.CUSTOM_CONFIG_KEY
        config = json_utils.loads(exec_properties[key])
        pools = WorkerPools.from_json(config.pop(WORKER_POOLS_KEY))
        properties = {**exec_properties, key: json_utils.dumps(config)}
        name = worker_job_name()
        job = worker_job(pools, name, executor_args(input_dict, output_dict, properties))
        api = k8s_client.connect(kubeconfig=os.environ.get("KUBECONFIG"), remedy=NO_CLUSTER_REMEDY)
        k8s_client.create_service(api, worker_service(pools, name))
        try:
            k8s_client.create_job(api, job)
            outcome = k8s_client.wait_for_job(api, pools.namespace, name)
        finally:
            k8s_client.delete_service(api, pools.namespace, name)
        if not outcome.succeeded:
            raise LostWorkerError(failure_message(name, outcome, pools.workers))
        model = artifact_utils.get_single_instance(output_dict[standard_component_specs.MODEL_KEY])
        serving_model_dir = path_utils.serving_model_dir(model.uri)
        if not fileio.exists(serving_model_dir):
            raise RuntimeError(f"the Trainer's workers wrote no model in {serving_model_dir}")
