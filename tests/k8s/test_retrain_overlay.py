"""k8s/overlays/retrain: the nightly CronJob runs the retrain Job of pipelines/k8s_job.py, the
kustomization sets its model in one place, and Alertmanager reaches `dlwp retrain-receiver`,
whose account may do no more than start those Jobs."""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse

import manifests
import pytest
import yaml
from kubernetes.config import incluster_config
from manifests import REPO

from pipelines import k8s_job
from pipelines.cli import build_parser


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    done = manifests.build("retrain")
    assert done.returncode == 0, done.stderr
    return manifests.documents(done.stdout)


def only(objects: list[dict], kind: str, name: str | None = None) -> dict:
    (found,) = [
        obj for obj in objects if obj["kind"] == kind and name in (None, obj["metadata"]["name"])
    ]
    return found


def job_template(model: str, image: str) -> dict:
    job = k8s_job.retrain_job(k8s_job.JobSettings(dataset=model, image=image))
    return {"metadata": {"labels": job["metadata"]["labels"]}, "spec": job["spec"]}


def receiver_container(objects: list[dict]) -> dict:
    deployment = only(objects, "Deployment", "dlwp-retrain-receiver")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_cron_job_runs_the_retrain_job_nightly(objects):
    cron = only(objects, "CronJob", "dlwp-retrain")
    assert cron["spec"]["jobTemplate"] == job_template("fashion_mnist", "dlwp:0.1.0")
    assert (cron["spec"]["schedule"], cron["spec"]["timeZone"]) == ("0 3 * * *", "Etc/UTC")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    parsed = build_parser().parse_args(args[: args.index("--")])
    assert (parsed.command, parsed.model, parsed.home) == (
        "retrain",
        "fashion_mnist",
        "/var/lib/dlwp",
    )


def test_the_kustomization_sets_the_model_and_the_image_everywhere(tmp_path):
    shutil.copytree(REPO / "k8s", tmp_path / "k8s")
    overlay = tmp_path / "k8s" / "overlays" / "retrain"
    kustomization = overlay / "kustomization.yaml"
    text = kustomization.read_text()
    assert text.count("value: fashion_mnist") == 4
    text = text.replace("value: fashion_mnist", "value: imdb")
    text = text.replace(
        "  - name: dlwp\n    newTag: 0.1.0",
        "  - name: dlwp\n    newName: registry.invalid/dlwp\n    newTag: 2.0.0",
    )
    kustomization.write_text(text)
    done = subprocess.run(
        [manifests.kubectl(), "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    objects = manifests.documents(done.stdout)
    image = "registry.invalid/dlwp:2.0.0"
    assert only(objects, "CronJob")["spec"]["jobTemplate"] == job_template("imdb", image)
    container = receiver_container(objects)
    parsed = build_parser().parse_args(container["args"])
    assert (parsed.models, parsed.image, container["image"]) == ("imdb", image, image)


def test_receiver_runs_dlwp_retrain_receiver_behind_its_service(objects):
    container = receiver_container(objects)
    parsed = build_parser().parse_args(container["args"])
    assert parsed.command == "retrain-receiver"
    assert (parsed.models, parsed.image, parsed.namespace) == (
        "fashion_mnist",
        "dlwp:0.1.0",
        "dlwp",
    )
    assert parsed.host == "0.0.0.0"
    (port,) = container["ports"]
    assert port["containerPort"] == parsed.port == 9095
    service = only(objects, "Service", "dlwp-retrain-receiver")
    pod = only(objects, "Deployment", "dlwp-retrain-receiver")["spec"]["template"]
    assert manifests.selector_matches(
        {"matchLabels": service["spec"]["selector"]}, pod["metadata"]["labels"]
    )
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    assert only(objects, "Deployment", "dlwp-retrain-receiver")["spec"]["replicas"] == 1


def test_alertmanager_sends_the_live_metric_alert_to_the_receiver(objects):
    config = only(objects, "AlertmanagerConfig")["spec"]
    alerts = yaml.safe_load((REPO / "monitoring" / "prometheus" / "alerts.yml").read_text())
    names = {rule.get("alert") for group in alerts["groups"] for rule in group["rules"]}
    (matcher,) = config["route"]["matchers"]
    assert matcher["name"] == "alertname" and matcher["value"] in names
    assert matcher["value"] == "DlwpLiveMetricBelowTest"
    assert config["route"]["groupBy"] == ["model"]
    (receiver,) = config["receivers"]
    assert receiver["name"] == config["route"]["receiver"]
    (webhook,) = receiver["webhookConfigs"]
    url = urllib.parse.urlsplit(webhook["url"])
    service = only(objects, "Service", "dlwp-retrain-receiver")
    assert url.hostname == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert (url.port, url.path) == (service["spec"]["ports"][0]["port"], "/alerts")


def test_receiver_account_may_only_start_and_list_jobs_in_the_namespace(objects):
    assert not [obj for obj in objects if obj["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = only(objects, "Role", "dlwp-retrain-receiver")
    grants = {
        (group, resource, verb, tuple(rule.get("resourceNames", ())))
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert grants == {
        ("batch", "jobs", "create", ()),
        ("batch", "jobs", "list", ()),
        ("", "persistentvolumeclaims", "get", ("dlwp-home",)),
        ("", "serviceaccounts", "get", ("dlwp-pipeline",)),
    }
    binding = only(objects, "RoleBinding", "dlwp-retrain-receiver")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    pod = only(objects, "Deployment", "dlwp-retrain-receiver")["spec"]["template"]["spec"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": "dlwp"}
    ]


def test_receiver_pod_has_the_token_where_the_kubernetes_client_reads_it(objects):
    pod = only(objects, "Deployment", "dlwp-retrain-receiver")["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in receiver_container(objects)["volumeMounts"]}
    (volume,) = [v for v in pod["volumes"] if "projected" in v]
    mount = mounts[volume["name"]]
    files = {}
    for source in volume["projected"]["sources"]:
        if "serviceAccountToken" in source:
            files[source["serviceAccountToken"]["path"]] = "token"
        for item in source.get("configMap", {}).get("items", []):
            files[item["path"]] = "ca"
    folder = mount["mountPath"]
    assert mount["readOnly"] is True
    assert files[incluster_config.SERVICE_TOKEN_FILENAME.removeprefix(folder + "/")] == "token"
    assert files[incluster_config.SERVICE_CERT_FILENAME.removeprefix(folder + "/")] == "ca"


def test_only_the_monitoring_namespace_reaches_the_receiver(objects):
    pod = only(objects, "Deployment", "dlwp-retrain-receiver")["spec"]["template"]
    ingress = [
        policy
        for policy in objects
        if policy["kind"] == "NetworkPolicy"
        and "Ingress" in policy["spec"].get("policyTypes", [])
        and policy["spec"].get("ingress")
        and manifests.selector_matches(policy["spec"]["podSelector"], pod["metadata"]["labels"])
    ]
    (policy,) = ingress
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 9095}]
