"""The Kubernetes Jobs that run `dlwp run` in a cluster without Kubeflow (`dlwp k8s run`), and
`dlwp retrain` (the retrain CronJob and `dlwp retrain-receiver`, docs/kubernetes.md).

Plain dicts in the API's shape, built without a cluster, so that `--dry-run` prints exactly what
would be created and tests validate it against the Kubernetes OpenAPI schemas. This is the one
spelling of the pipeline Job: `k8s/base/pipeline-job.yaml`, the kustomize base's, is generated
from it by `k8s/sync.py` (`make k8s-sync`), and tests/k8s fail while that file is out of date.

    job = pipeline_job(JobSettings(dataset="fashion_mnist", image="REGISTRY/dlwp:0.1.0"))
    job = retrain_job(JobSettings(dataset="houses"))   # `dlwp retrain houses`, same pod

The retrain Job differs from the pipeline Job only in its name, its `dlwp.dev/retrain` label
and its arguments; `k8s/overlays/retrain/retrain-cronjob.yaml`'s jobTemplate is generated from it.
"""

import dataclasses
import datetime
import re
from collections.abc import Sequence
from typing import Any

from components.errors import DlwpError

NAMESPACE = "dlwp"
SERVICE_ACCOUNT = "dlwp-pipeline"
HOME_CLAIM = "dlwp-home"  # the PersistentVolumeClaim of k8s/base: models, reports, datasets
CONTAINER_HOME = "/var/lib/dlwp"
DEFAULT_IMAGE = "dlwp:0.1.0"
USER_ID = 10001  # the image's non-root user
GPU_RESOURCE = "nvidia.com/gpu"
PART_OF = "dlwp"
COMPONENT = "pipeline-run"
DATASET_LABEL = "dlwp.dev/dataset"
# The model a retrain Job retrains: `dlwp retrain-receiver` finds a model's running ones by it.
RETRAIN_LABEL = "dlwp.dev/retrain"


class JobSettingsError(DlwpError):
    """A `dlwp k8s run` flag that would make an invalid Job (exit 2)."""


@dataclasses.dataclass(frozen=True)
class JobSettings:
    """What varies between pipeline Jobs; the rest is the security baseline of the manifests."""

    dataset: str  # the book's dataset; for retrain_job, the model (a dataset or a CSV's name)
    image: str = DEFAULT_IMAGE
    namespace: str = NAMESPACE
    gpus: int = 0
    # Further `dlwp run` flags (--epochs 5, --max-examples N); retrain_job passes them on too.
    run_args: tuple[str, ...] = ()
    cpu_request: str = "2"
    memory_request: str = "8Gi"
    cpu_limit: str = "4"
    memory_limit: str = "16Gi"
    deadline_s: int = 6 * 3600


def job_name(dataset: str, now: datetime.datetime, kind: str = "run") -> str:
    """`dlwp-<kind>-<dataset>-<UTC time>`: a DNS label, unique per second."""
    stem = re.sub(r"[^a-z0-9-]+", "-", dataset.lower()).strip("-")[:30]
    return f"dlwp-{kind}-{stem}-{now.strftime('%Y%m%d-%H%M%S')}"


def label_value(name: str) -> str:
    """A dataset or model name as a label value (at most 63 of [A-Za-z0-9_.-])."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:63]


def _check(settings: JobSettings) -> None:
    if settings.gpus < 0:
        raise JobSettingsError(f"--gpus must be 0 or more, got {settings.gpus}")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", settings.namespace):
        raise JobSettingsError(
            f"--namespace {settings.namespace!r} is not a Kubernetes namespace name (lower-case "
            "letters, digits and '-', at most 63)"
        )
    if not settings.image or any(c.isspace() for c in settings.image):
        raise JobSettingsError(f"--image {settings.image!r} is not an image reference")


def pipeline_job(settings: JobSettings, now: datetime.datetime | None = None) -> dict[str, Any]:
    """The batch/v1 Job running `dlwp run DATASET` on the `dlwp-home` claim.

    Raises:
        JobSettingsError: a setting Kubernetes would refuse, named.
    """
    args = [
        "run",
        settings.dataset,
        "--home",
        CONTAINER_HOME,
        "--data-dir",
        f"{CONTAINER_HOME}/datasets",
        *settings.run_args,
    ]
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return job_manifest(
        settings,
        job_name(settings.dataset, now),
        {DATASET_LABEL: label_value(settings.dataset)},
        args,
    )


def retrain_job(settings: JobSettings, now: datetime.datetime | None = None) -> dict[str, Any]:
    """The Job running `dlwp retrain MODEL` (MODEL: `settings.dataset`) on the `dlwp-home`
    claim: the pipeline Job's pod with other arguments. The model's last run is read from the
    claim, its feedback from the claim's `feedback/` (retrain's default, `<home>/feedback`);
    `--data-dir` goes to the `dlwp run` that retrain starts.

    Raises:
        JobSettingsError: a setting Kubernetes would refuse, named.
    """
    args = [
        "retrain",
        settings.dataset,
        "--home",
        CONTAINER_HOME,
        "--",
        "--data-dir",
        f"{CONTAINER_HOME}/datasets",
        *settings.run_args,
    ]
    now = now or datetime.datetime.now(datetime.timezone.utc)
    name = job_name(settings.dataset, now, kind="retrain")
    return job_manifest(settings, name, {RETRAIN_LABEL: label_value(settings.dataset)}, args)


def job_manifest(
    settings: JobSettings, name: str, extra_labels: dict[str, str], args: list[str]
) -> dict[str, Any]:
    _check(settings)
    labels = {
        "app.kubernetes.io/name": "dlwp",
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": COMPONENT,
        **extra_labels,
    }
    limits = {"cpu": settings.cpu_limit, "memory": settings.memory_limit}
    if settings.gpus:
        limits[GPU_RESOURCE] = str(settings.gpus)
    pod_spec: dict[str, Any] = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "fsGroup": USER_ID,
            # Relabel the claim once, not on every start (it holds every model and dataset).
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "dlwp",
                "image": settings.image,
                "imagePullPolicy": "Always",  # a re-pushed tag is run, not a stale copy
                "args": args,
                "resources": {
                    "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
                    "limits": limits,
                },
                "securityContext": {
                    "runAsNonRoot": True,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [
                    {"name": "home", "mountPath": CONTAINER_HOME},
                    {"name": "tmp", "mountPath": "/tmp"},
                    {"name": "user-home", "mountPath": "/home/dlwp"},
                ],
            }
        ],
        "volumes": [
            {"name": "home", "persistentVolumeClaim": {"claimName": HOME_CLAIM}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "8Gi"}},
            {"name": "user-home", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    }
    if settings.gpus:
        pod_spec["tolerations"] = [
            {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": labels,
        },
        "spec": {
            "backoffLimit": 0,  # a failed run is reported, not retried on the same input
            "ttlSecondsAfterFinished": 86400,
            "activeDeadlineSeconds": settings.deadline_s,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def run_args_from(values: Sequence[str]) -> tuple[str, ...]:
    """Extra `dlwp run` flags for the Job; the Job owns --home and --data-dir."""
    for value in values:
        if value.split("=", 1)[0] in ("--home", "--data-dir"):
            raise JobSettingsError(
                f"{value.split('=', 1)[0]} is set by the Job ({CONTAINER_HOME} on the "
                f"{HOME_CLAIM} claim); leave it out"
            )
    return tuple(values)
