"""k8s/overlays/multi-worker: the pipeline run's Trainer starts its workers (an indexed Job and a
headless Service, pipelines/trainer_pools.py) with an account that may do no more than that, and
the network policies let the workers reach each other and nothing else new. The workers' Job is
the one `pipelines.k8s_trainer` creates at run time, built here and checked with the overlay's
objects (no cluster runs here)."""

import manifests
import pytest
from manifests import KUBERNETES_VERSIONS

from pipelines.cli import build_parser
from pipelines.trainer_pools import WORKER_PORT, WorkerPools, worker_job, worker_service

# What pipelines/k8s_client.py calls for the Trainer (create_service, create_job, wait_for_job,
# delete_service): (API group, resource, verb).
LAUNCHER_CALLS = {
    ("", "services", "create"),
    ("", "services", "delete"),
    ("batch", "jobs", "create"),
    ("batch", "jobs/status", "get"),
    ("", "pods", "list"),
}


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    done = manifests.build("multi-worker")
    assert done.returncode == 0, done.stderr
    return manifests.documents(done.stdout)


def only(objects, kind, name=None):
    (found,) = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def workers(objects):
    job = only(objects, "Job", "dlwp-run-fashion-mnist")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    parsed = build_parser().parse_args(args)
    pools = WorkerPools(workers=parsed.workers, image=parsed.worker_image)
    return (
        parsed,
        job,
        worker_job(pools, "dlwp-train-x", ["--inputs", "{}"]),
        worker_service(pools, "dlwp-train-x"),
    )


def test_the_run_asks_for_two_workers_of_its_own_image(objects):
    parsed, job, _, _ = workers(objects)
    assert (parsed.command, parsed.workers, parsed.gpus_per_worker) == ("run", 2, 0)
    assert parsed.worker_image == job["spec"]["template"]["spec"]["containers"][0]["image"]


def test_the_launcher_may_do_what_the_trainer_calls_and_no_more(objects):
    role = only(objects, "Role", "dlwp-trainer-launcher")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == LAUNCHER_CALLS
    binding = only(objects, "RoleBinding", "dlwp-trainer-launcher")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "dlwp-trainer-launcher", "namespace": "dlwp"}
    ]
    _, job, worker, _ = workers(objects)
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "dlwp-trainer-launcher"
    # The workers themselves get no token.
    pod = worker["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "dlwp-pipeline"
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_workers_job_and_service_validate_and_meet_the_restricted_profile(objects, version):
    _, _, worker, service = workers(objects)
    for obj in (worker, service):
        manifests.validate(obj, version)
    pod = worker["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["home"]["persistentVolumeClaim"]["claimName"] == "dlwp-home"


def test_network_policies_let_the_workers_reach_each_other_only(objects):
    _, _, worker, _ = workers(objects)
    labels = worker["spec"]["template"]["metadata"]["labels"]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    selecting = [
        p for p in policies if manifests.selector_matches(p["spec"]["podSelector"], labels)
    ]
    names = {p["metadata"]["name"] for p in selecting}
    assert {"default-deny", "trainer-workers"} <= names
    ingress = [rule for policy in selecting for rule in policy["spec"].get("ingress", [])]
    assert ingress and all(
        all(manifests.selector_matches(peer["podSelector"], labels) for peer in rule["from"])
        and rule["ports"] == [{"protocol": "TCP", "port": WORKER_PORT}]
        for rule in ingress
    )
    egress_ports = {
        port["port"]
        for policy in selecting
        for rule in policy["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }
    assert WORKER_PORT in egress_ports and 443 in egress_ports
