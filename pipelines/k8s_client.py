"""Every call dlwp makes to a Kubernetes API server, through the official `kubernetes` client.

api = connect()                      # in-cluster config, else kubeconfig
check_prerequisites(api, job)        # the claim and service account of k8s/base
create_job(api, job)
code = follow_job(api, job, out)     # streams the pod's log, returns its exit code
running = unfinished_jobs(api, "dlwp", "dlwp.dev/retrain=houses")   # `dlwp retrain-receiver`
"""

import dataclasses
import time
from typing import Any, TextIO

from components.errors import DlwpError

POLL_S = 2.0


class ClusterError(DlwpError):
    """No cluster to talk to, or the cluster refused what dlwp asked (exit 2)."""


@dataclasses.dataclass
class KubernetesApi:
    """The two API groups a pipeline Job needs."""

    core: Any
    batch: Any


DRY_RUN_REMEDY = "set KUBECONFIG or run inside the cluster, or print the Job with --dry-run"


def connect(
    context: str | None = None, kubeconfig: str | None = None, remedy: str = DRY_RUN_REMEDY
) -> KubernetesApi:
    """The in-cluster service account when running in a pod, else the kubeconfig's context.

    Args:
        context: a kubeconfig context; None for the current one.
        kubeconfig: the kubeconfig file(s), as $KUBECONFIG spells them; None for ~/.kube/config.
            (The client reads $KUBECONFIG once, at import, so the caller passes it.)
        remedy: what the error says to do when there is no cluster to talk to.
    """
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config(config_file=kubeconfig, context=context)
        except (config.ConfigException, OSError) as error:
            raise ClusterError(f"no Kubernetes cluster configured ({error}); {remedy}") from None
    return KubernetesApi(client.CoreV1Api(), client.BatchV1Api())


def _api_error(action: str, error: Exception) -> ClusterError:
    status = getattr(error, "status", None)
    reason = getattr(error, "reason", None) or error
    body = getattr(error, "body", "") or ""
    return ClusterError(f"{action}: the API server answered {status} {reason} {body}".strip())


def check_prerequisites(api: KubernetesApi, job: dict[str, Any]) -> None:
    """The namespace's claim and service account exist, or an error says how to create them."""
    from kubernetes.client.rest import ApiException

    namespace = job["metadata"]["namespace"]
    pod = job["spec"]["template"]["spec"]
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    ]
    wanted = [
        ("persistentvolumeclaim", c, api.core.read_namespaced_persistent_volume_claim)
        for c in claims
    ]
    wanted.append(
        ("serviceaccount", pod["serviceAccountName"], api.core.read_namespaced_service_account)
    )
    for kind, name, read in wanted:
        try:
            read(name, namespace)
        except ApiException as error:
            if error.status == 404:
                raise ClusterError(
                    f"{kind} {name} does not exist in namespace {namespace}: apply the base "
                    "manifests first (kubectl apply -k k8s/base)"
                ) from None
            raise _api_error(f"reading {kind} {name}", error) from None


def create_job(api: KubernetesApi, job: dict[str, Any]) -> None:
    """Creates the Job; a refusal (quota, admission, name taken) becomes a ClusterError."""
    from kubernetes.client.rest import ApiException

    try:
        api.batch.create_namespaced_job(job["metadata"]["namespace"], job)
    except ApiException as error:
        raise _api_error(f"creating job {job['metadata']['name']}", error) from None


def unfinished_jobs(api: KubernetesApi, namespace: str, label_selector: str) -> list[str]:
    """The names of the namespace's Jobs with these labels that have neither completed nor
    failed (a Job just created, whose pod has not started, counts as unfinished)."""
    from kubernetes.client.rest import ApiException

    try:
        jobs = api.batch.list_namespaced_job(namespace, label_selector=label_selector).items
    except ApiException as error:
        raise _api_error(f"listing jobs {label_selector}", error) from None
    return [
        job.metadata.name
        for job in jobs
        if not any(
            c.type in ("Complete", "Failed") and c.status == "True"
            for c in (job.status.conditions if job.status else None) or []
        )
    ]


def _job_pod(api: KubernetesApi, namespace: str, name: str):
    pods = api.core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    return pods[0] if pods else None


def _exit_code(pod) -> int | None:
    for status in pod.status.container_statuses or []:
        if status.state and status.state.terminated:
            return status.state.terminated.exit_code
    return None


def _raise_if_failed(api: KubernetesApi, namespace: str, name: str) -> None:
    """A Job that failed before its pod ran (admission refused it, deadline) says why."""
    job = api.batch.read_namespaced_job_status(name, namespace)
    for condition in job.status.conditions or []:
        if condition.type == "Failed" and condition.status == "True":
            raise ClusterError(f"job {name} failed: {condition.reason}: {condition.message}")


def _wait_for_pod(api: KubernetesApi, namespace: str, name: str, out: TextIO):
    """The Job's pod once it has started (or ended); prints why it waits, once per reason."""
    said = ""
    while True:
        _raise_if_failed(api, namespace, name)
        pod = _job_pod(api, namespace, name)
        if pod is not None and pod.status.phase != "Pending":
            return pod
        reason = "waiting for the Job's pod"
        if pod is not None:
            waiting = [
                s.state.waiting
                for s in pod.status.container_statuses or []
                if s.state and s.state.waiting
            ]
            conditions = [c for c in pod.status.conditions or [] if c.status == "False"]
            if waiting:
                reason = f"pod {pod.metadata.name}: {waiting[0].reason} {waiting[0].message or ''}"
            elif conditions:
                reason = (
                    f"pod {pod.metadata.name}: {conditions[0].reason} {conditions[0].message or ''}"
                )
            if waiting and waiting[0].reason in (
                "ErrImagePull",
                "ImagePullBackOff",
                "InvalidImageName",
                "CreateContainerConfigError",
            ):
                raise ClusterError(f"job {name} cannot start: {reason.strip()}")
        if reason != said:
            out.write(reason.strip() + "\n")
            said = reason
        time.sleep(POLL_S)


def follow_job(api: KubernetesApi, job: dict[str, Any], out: TextIO) -> int:
    """Streams the Job's log to `out` until it ends; returns the container's exit code."""
    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
    pod = _wait_for_pod(api, namespace, name, out)
    stream = api.core.read_namespaced_pod_log(
        pod.metadata.name, namespace, follow=True, _preload_content=False
    )
    for chunk in stream.stream():
        out.write(chunk.decode("utf-8", errors="replace"))
    stream.release_conn()
    while True:  # the log ends when the container does; its status follows shortly
        pod = api.core.read_namespaced_pod(pod.metadata.name, namespace)
        code = _exit_code(pod)
        if code is not None:
            return code
        if pod.status.phase in ("Succeeded", "Failed"):
            return 0 if pod.status.phase == "Succeeded" else 1
        time.sleep(POLL_S)


def create_service(api: KubernetesApi, service: dict[str, Any]) -> None:
    """Creates the Service; a refusal becomes a ClusterError."""
    from kubernetes.client.rest import ApiException

    try:
        api.core.create_namespaced_service(service["metadata"]["namespace"], service)
    except ApiException as error:
        raise _api_error(f"creating service {service['metadata']['name']}", error) from None


def delete_service(api: KubernetesApi, namespace: str, name: str) -> None:
    """Deletes the Service, if it is still there."""
    from kubernetes.client.rest import ApiException

    try:
        api.core.delete_namespaced_service(name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise _api_error(f"deleting service {name}", error) from None


@dataclasses.dataclass(frozen=True)
class JobOutcome:
    """How a Job ended: `failed` pods as (name, completion index or None, exit code or None)."""

    succeeded: bool
    message: str
    failed: tuple[tuple[str, int | None, int | None], ...] = ()


def wait_for_job(api: KubernetesApi, namespace: str, name: str) -> JobOutcome:
    """Waits until the Job has a Complete or Failed condition; on failure, names its failed pods
    (an indexed Job's by completion index) and their exit codes."""
    from kubernetes.client.rest import ApiException

    while True:
        try:
            job = api.batch.read_namespaced_job_status(name, namespace)
        except ApiException as error:
            raise _api_error(f"reading job {name}", error) from None
        for condition in (job.status.conditions if job.status else None) or []:
            if condition.status != "True" or condition.type not in ("Complete", "Failed"):
                continue
            if condition.type == "Complete":
                return JobOutcome(True, condition.message or "")
            pods = api.core.list_namespaced_pod(namespace, label_selector=f"job-name={name}")
            failed = tuple(
                (pod.metadata.name, _completion_index(pod), _exit_code(pod))
                for pod in pods.items
                if pod.status.phase == "Failed"
            )
            return JobOutcome(False, f"{condition.reason}: {condition.message}", failed)
        time.sleep(POLL_S)


def _completion_index(pod) -> int | None:
    index = (pod.metadata.annotations or {}).get("batch.kubernetes.io/job-completion-index")
    return int(index) if index is not None and index.isdigit() else None
