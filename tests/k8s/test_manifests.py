"""The Kubernetes manifests (k8s/): every kustomization builds, validates strictly, passes
checkov, meets the "restricted" Pod Security Standard with probes and a clean shutdown, admits
only the traffic it needs, and stays generated from monitoring/."""

from __future__ import annotations

import copy
import re
import shutil

import jsonschema
import kubernetes_validate
import manifests
import pytest
import yaml
from manifests import KUBERNETES_VERSIONS, KUSTOMIZATIONS, REPO, containers, object_name

from pipelines.cli import build_parser, serve_settings

NAMES = list(KUSTOMIZATIONS)
COMMON_LABELS = {"app.kubernetes.io/part-of": "dlwp", "app.kubernetes.io/name": "dlwp"}
# Pods that serve until they are stopped, as opposed to Jobs that run to completion.
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}
# Volume types the restricted profile allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
STARTUP_S = 300
UID = 10001
PIPELINE_ARGS = [
    "run",
    "fashion_mnist",
    "--home",
    "/var/lib/dlwp",
    "--data-dir",
    "/var/lib/dlwp/datasets",
]


@pytest.fixture(scope="session")
def builds() -> dict:
    """`kubectl kustomize` of every kustomization, once per session."""
    return {name: manifests.build(name) for name in NAMES}


def built(builds: dict, name: str) -> list[dict]:
    done = builds[name]
    assert done.returncode == 0, f"kubectl kustomize {KUSTOMIZATIONS[name]}: {done.stderr}"
    return manifests.documents(done.stdout)


def only(objects: list[dict], kind: str, name: str | None = None) -> dict:
    (found,) = [
        obj for obj in objects if obj["kind"] == kind and name in (None, obj["metadata"]["name"])
    ]
    return found


def container(pod_spec: dict, name: str) -> dict:
    (found,) = [c for c in pod_spec["containers"] if c["name"] == name]
    return found


# 1. Builds


@pytest.mark.parametrize("name", NAMES)
def test_kustomization_builds(builds, name):
    done = builds[name]
    assert done.returncode == 0, done.stderr
    assert manifests.documents(done.stdout)


# 2. Schemas


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", NAMES)
def test_built_objects_validate_strictly(builds, name, version):
    errors = []
    for obj in built(builds, name):
        try:
            manifests.validate(obj, version)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as error:
            path = ".".join(str(part) for part in error.path)
            errors.append(f"{object_name(obj)}: {path}: {error.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("kind", sorted(manifests.CUSTOM_RESOURCE_SCHEMAS))
def test_kubernetes_validate_has_no_schema_for_the_operator_kinds(builds, kind):
    # If this fails, kubernetes-validate knows the kind now: drop our schema and use its.
    obj = only(built(builds, "retrain"), kind)  # the retrain overlay holds the monitoring one
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize(
    "kind, path",
    [
        ("Deployment", ("spec", "template", "spec", "containers", 0)),
        ("ServiceMonitor", ("spec", "endpoints", 0)),
        ("PrometheusRule", ("spec", "groups", 0, "rules", 0)),
        ("AlertmanagerConfig", ("spec", "route")),
        ("AlertmanagerConfig", ("spec", "receivers", 0, "webhookConfigs", 0)),
    ],
)
def test_validation_refuses_a_misspelt_field(builds, kind, path):
    # The retrain overlay holds every kind (two Deployments: the serving one is checked).
    name = "dlwp-serving" if kind == "Deployment" else None
    obj = copy.deepcopy(only(built(builds, "retrain"), kind, name))
    node = obj
    for part in path:
        node = node[part]
    node["intervall"] = "15s"
    with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)):
        manifests.validate(obj, KUBERNETES_VERSIONS[-1])


# 3. checkov


@pytest.fixture(scope="session")
def checkov_report(builds, tmp_path_factory) -> dict:
    """One checkov run over all the builds (it takes ~15 s to start); file names tell them
    apart."""
    files = {f"{name}.yaml": builds[name].stdout for name in NAMES if builds[name].returncode == 0}
    assert len(files) == len(NAMES), "a kustomization does not build (see its test)"
    return manifests.run_checkov(files, tmp_path_factory.mktemp("checkov"))


def test_checkov_finds_no_failed_check(checkov_report):
    failed = checkov_report["results"]["failed_checks"]
    assert checkov_report["summary"]["failed"] == 0 and not failed, "\n".join(
        f"{check['check_id']} ({check['check_name']}): {check['resource']} in "
        f"{check['file_path'].lstrip('/')}"
        for check in failed
    )


def test_checkov_read_every_build(checkov_report):
    assert not checkov_report["results"]["parsing_errors"]
    passed = checkov_report["results"]["passed_checks"]
    scanned = {check["file_path"].lstrip("/") for check in passed}
    assert scanned == {f"{name}.yaml" for name in NAMES}


def test_every_checkov_skip_gives_its_reason(checkov_report):
    for check in checkov_report["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= 8, f"{check['check_id']} on {check['resource']}: {reason!r}"


# 4. Pods: restricted profile, resources, probes, shutdown


def restricted_problems(owner: dict, template: dict) -> list[str]:
    """Every way a pod template falls short of the restricted profile and our rules."""
    where = object_name(owner)
    spec = template["spec"]
    problems = []
    pod_context = spec.get("securityContext", {})
    expected_pod = {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for field, value in expected_pod.items():
        if pod_context.get(field) != value:
            problems.append(f"{where}: securityContext.{field} is {pod_context.get(field)!r}")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken is not false")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{where}: {field}")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"{where}: volume {volume['name']} is {sorted(kinds)}")
    for c in containers(spec):
        at = f"{where} container {c['name']}"
        context = c.get("securityContext", {})
        expected = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
        for field, value in expected.items():
            if context.get(field) != value:
                problems.append(f"{at}: securityContext.{field} is {context.get(field)!r}")
        if context.get("privileged"):
            problems.append(f"{at}: privileged")
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in c.get("resources", {}).get(bound, {}):
                    problems.append(f"{at}: no {resource} in resources.{bound}")
    return problems


@pytest.mark.parametrize("name", NAMES)
def test_pods_meet_the_restricted_profile(builds, name):
    templates = manifests.pod_templates(built(builds, name))
    kinds = {"Deployment", "Job"} | ({"CronJob"} if name == "retrain" else set())
    assert {owner["kind"] for owner, _ in templates} == kinds
    problems = [p for owner, template in templates for p in restricted_problems(owner, template)]
    assert not problems, "\n".join(problems)


def writable_mounts(c: dict) -> set[str]:
    return {m["mountPath"] for m in c.get("volumeMounts", []) if not m.get("readOnly")}


@pytest.mark.parametrize("name", NAMES)
def test_read_only_root_filesystems_have_their_writable_folders(builds, name):
    # The dlwp image writes to /tmp and $HOME; TF Serving to /tmp at most.
    needs = {"dlwp": {"/tmp", "/home/dlwp"}, "tensorflow/serving": {"/tmp"}}
    problems = []
    for owner, template in manifests.pod_templates(built(builds, name)):
        for c in containers(template["spec"]):
            repository = c["image"].split(":")[0].split("@")[0]
            missing = needs[repository] - writable_mounts(c)
            if missing:
                problems.append(f"{object_name(owner)} container {c['name']}: {sorted(missing)}")
    assert not problems, "\n".join(problems)


def long_running_containers(objects: list[dict]):
    """(where, pod spec, container) for each container of a Deployment-like object."""
    for owner, template in manifests.pod_templates(objects):
        if owner["kind"] in LONG_RUNNING:
            for c in containers(template["spec"]):
                yield f"{object_name(owner)} container {c['name']}", template["spec"], c


def window_s(probe: dict) -> int:
    return probe.get("failureThreshold", 3) * probe.get("periodSeconds", 10)


@pytest.mark.parametrize("name", NAMES)
def test_serving_containers_have_distinct_probes_and_time_to_load(builds, name):
    problems = []
    for at, _, c in long_running_containers(built(builds, name)):
        probes = {kind: c.get(kind) for kind in ("readinessProbe", "livenessProbe", "startupProbe")}
        problems += [f"{at}: no {kind}" for kind, probe in probes.items() if not probe]
        if probes["readinessProbe"] and probes["readinessProbe"] == probes["livenessProbe"]:
            problems.append(f"{at}: readiness and liveness probes are the same")
        if probes["startupProbe"] and window_s(probes["startupProbe"]) < STARTUP_S:
            problems.append(f"{at}: startupProbe allows {window_s(probes['startupProbe'])} s")
    assert not problems, "\n".join(problems)


def pre_stop_s(c: dict) -> int | None:
    """How long the preStop hook waits: the sleep handler, or an exec of `sleep N`."""
    hook = c.get("lifecycle", {}).get("preStop", {})
    if "sleep" in hook:
        return hook["sleep"]["seconds"]
    match = re.fullmatch(r".*\bsleep (\d+)", " ".join(hook.get("exec", {}).get("command", [])))
    return int(match.group(1)) if match else None


def drain_s(args: list[str]) -> float:
    """How long `dlwp serve` drains after SIGTERM: its --grace-s, read by dlwp's own parser (the
    ServeSettings default when the flag is left out)."""
    return serve_settings(build_parser().parse_args(args)).grace_s


@pytest.mark.parametrize("name", NAMES)
def test_pre_stop_and_drain_end_before_the_grace_period(builds, name):
    problems = []
    for at, pod, c in long_running_containers(built(builds, name)):
        grace_s = pod.get("terminationGracePeriodSeconds", 30)
        sleep_s = pre_stop_s(c)
        if sleep_s is None:
            problems.append(f"{at}: no preStop sleep")
            continue
        # `dlwp serve` drains for up to --grace-s after SIGTERM, which follows the preStop.
        args = c.get("args", [])
        drain = drain_s(args) if "serve" in args else 0
        if not sleep_s + drain < grace_s:
            problems.append(f"{at}: preStop {sleep_s} s + drain {drain} s >= {grace_s} s")
    assert not problems, "\n".join(problems)


def test_tfserving_outlives_the_gateways_drain(builds):
    # TF Serving exits at once on SIGTERM: it must still answer while the gateway drains.
    pod = only(built(builds, "base"), "Deployment", "dlwp-serving")["spec"]["template"]["spec"]
    gateway = container(pod, "gateway")
    tfserving_s, gateway_s = pre_stop_s(container(pod, "tfserving")), pre_stop_s(gateway)
    assert tfserving_s is not None and gateway_s is not None
    assert tfserving_s >= gateway_s + drain_s(gateway["args"])


@pytest.mark.parametrize("name", NAMES)
def test_namespace_enforces_the_restricted_profile(builds, name):
    namespace = only(built(builds, name), "Namespace")
    assert namespace["metadata"]["name"] == "dlwp"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("name", NAMES)
def test_service_accounts_mount_no_token(builds, name):
    objects = built(builds, name)
    accounts = {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "ServiceAccount"}
    own = {"retrain": {"dlwp-retrain-receiver"}, "multi-worker": {"dlwp-trainer-launcher"}}
    assert set(accounts) == {"dlwp-serving", "dlwp-pipeline"} | own.get(name, set())
    assert all(account["automountServiceAccountToken"] is False for account in accounts.values())
    for owner, template in manifests.pod_templates(objects):
        assert template["spec"]["serviceAccountName"] in accounts, object_name(owner)


@pytest.mark.parametrize("name", NAMES)
def test_every_object_is_labelled_and_in_the_namespace(builds, name):
    problems = []
    for obj in built(builds, name):
        labels = obj["metadata"].get("labels", {})
        if COMMON_LABELS.items() - labels.items():
            problems.append(f"{object_name(obj)}: labels {labels}")
        if obj["kind"] != "Namespace" and obj["metadata"].get("namespace") != "dlwp":
            problems.append(f"{object_name(obj)}: namespace {obj['metadata'].get('namespace')}")
    for owner, template in manifests.pod_templates(built(builds, name)):
        if COMMON_LABELS.items() - template["metadata"]["labels"].items():
            problems.append(f"{object_name(owner)}: pod labels {template['metadata']['labels']}")
    assert not problems, "\n".join(problems)


# The contract's objects, and what the overlays change


def test_serving_pods_follow_the_contract(builds):
    objects = built(builds, "base")
    pod = only(objects, "Deployment", "dlwp-serving")["spec"]["template"]["spec"]
    tfserving, gateway = container(pod, "tfserving"), container(pod, "gateway")
    assert tfserving["image"] == "tensorflow/serving:2.16.1"
    assert tfserving["args"] == [
        "--port=8500",
        "--rest_api_port=8503",
        "--model_config_file=/etc/dlwp/models.config",
        "--monitoring_config_file=/etc/dlwp/monitoring.config",
        "--file_system_poll_wait_seconds=30",
    ]
    assert gateway["image"] == "dlwp:0.1.0"
    assert gateway["args"] == [
        "serve",
        "--backend",
        "tfserving",
        "--tfserving-address",
        "localhost:8500",
        "--model-config-file",
        "/etc/dlwp/models.config",
        "--host",
        "0.0.0.0",
        "--port",
        "8501",
        "--grpc-port",
        "8502",
        "--home",
        "/tmp/dlwp",
    ]
    paths = [
        gateway[probe]["httpGet"]["path"]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe")
    ]
    assert paths == ["/healthz", "/readyz", "/healthz"]
    for c in (tfserving, gateway):
        mounts = {m["mountPath"]: m.get("readOnly", False) for m in c["volumeMounts"]}
        assert mounts["/var/lib/dlwp"] is True and mounts["/etc/dlwp"] is True, c["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["home"]["persistentVolumeClaim"] == {"claimName": "dlwp-home", "readOnly": True}
    config = only(objects, "ConfigMap")
    assert volumes["config"]["configMap"]["name"] == config["metadata"]["name"]
    assert config["metadata"]["name"].startswith("dlwp-serving-config")
    assert 'base_path: "/var/lib/dlwp/serving/fashion_mnist"' in config["data"]["models.config"]
    assert "/monitoring/prometheus/metrics" in config["data"]["monitoring.config"]


def test_service_ports_follow_the_contract(builds):
    service = only(built(builds, "base"), "Service", "dlwp-serving")
    assert {(p["name"], p["port"]) for p in service["spec"]["ports"]} == {
        ("http", 8501),
        ("grpc", 8500),
        ("tfserving-metrics", 8503),
    }


def test_autoscaler_and_disruption_budget_keep_serving_up(builds):
    objects = built(builds, "base")
    autoscaler = only(objects, "HorizontalPodAutoscaler")["spec"]
    assert autoscaler["scaleTargetRef"]["name"] == "dlwp-serving"
    assert (autoscaler["minReplicas"], autoscaler["maxReplicas"]) == (2, 10)
    assert autoscaler["metrics"][0]["resource"]["name"] == "cpu"
    budget = only(objects, "PodDisruptionBudget")["spec"]
    template = only(objects, "Deployment")["spec"]["template"]
    assert budget["minAvailable"] == 1
    assert manifests.selector_matches(budget["selector"], template["metadata"]["labels"])
    assert "replicas" not in only(objects, "Deployment")["spec"]


@pytest.mark.parametrize("name", NAMES)
def test_pipeline_job_follows_the_contract(builds, name):
    job = only(built(builds, name), "Job", "dlwp-run-fashion-mnist")
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert (
        spec["backoffLimit"],
        spec["ttlSecondsAfterFinished"],
        spec["activeDeadlineSeconds"],
    ) == (0, 86400, 21600)
    account = "dlwp-trainer-launcher" if name == "multi-worker" else "dlwp-pipeline"
    assert (pod["restartPolicy"], pod["serviceAccountName"]) == ("Never", account)
    dlwp = container(pod, "dlwp")
    extra = {
        "tpu": ["--tpu", "local"],
        "multi-worker": ["--workers", "2", "--worker-image", "dlwp:0.1.0"],
    }.get(name, [])
    assert dlwp["args"] == PIPELINE_ARGS + extra
    assert {k: v for k, v in dlwp["resources"]["requests"].items() if k in ("cpu", "memory")} == {
        "cpu": "2",
        "memory": "8Gi",
    }
    assert {k: v for k, v in dlwp["resources"]["limits"].items() if k in ("cpu", "memory")} == {
        "cpu": "4",
        "memory": "16Gi",
    }
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in dlwp["volumeMounts"]}
    token = {"kube-api-access": "/var/run/secrets/kubernetes.io/serviceaccount"}
    assert mounts == {
        "home": "/var/lib/dlwp",
        "tmp": "/tmp",
        "user-home": "/home/dlwp",
        **(token if name == "multi-worker" else {}),
    }
    assert volumes["home"]["persistentVolumeClaim"]["claimName"] == "dlwp-home"
    assert "emptyDir" in volumes["tmp"] and "emptyDir" in volumes["user-home"]
    assert only(built(builds, name), "PersistentVolumeClaim", "dlwp-home")["spec"][
        "accessModes"
    ] == ["ReadWriteMany"]


def test_gpu_overlay_gives_the_run_a_gpu_and_its_image(builds):
    objects = built(builds, "gpu")
    pod = only(objects, "Job")["spec"]["template"]["spec"]
    dlwp = container(pod, "dlwp")
    assert dlwp["image"] == "dlwp:0.1.0-gpu"
    assert dlwp["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
    gateway = container(only(objects, "Deployment")["spec"]["template"]["spec"], "gateway")
    assert gateway["image"] == "dlwp:0.1.0"


def test_tpu_overlay_gives_the_run_a_tpu_slice(builds):
    pod = only(built(builds, "tpu"), "Job")["spec"]["template"]["spec"]
    resources = container(pod, "dlwp")["resources"]
    assert resources["requests"]["google.com/tpu"] == resources["limits"]["google.com/tpu"] == 4
    assert pod["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology": "2x2",
    }


# 5. Monitoring: generated from monitoring/


def test_prometheus_rule_groups_are_the_alert_rules(builds):
    rule = only(built(builds, "monitoring"), "PrometheusRule")
    alerts = yaml.safe_load((REPO / "monitoring" / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]


def test_generated_files_are_current():
    stale = manifests.sync().stale_files()
    assert not stale, f"run `.venv/bin/python k8s/sync.py`; out of date: {stale}"


def test_dashboard_config_maps_hold_the_dashboards_unchanged(builds):
    maps = [
        obj
        for obj in built(builds, "monitoring")
        if obj["kind"] == "ConfigMap" and obj["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    held = {key: value for config_map in maps for key, value in config_map["data"].items()}
    sources = sorted((REPO / "monitoring" / "grafana" / "dashboards").glob("*.json"))
    assert sources and set(held) == {source.name for source in sources}
    for source in sources:
        assert held[source.name] == source.read_text(), source.name


@pytest.fixture
def synced_copy(tmp_path):
    """A copy of monitoring/ and k8s/ whose generated files are up to date."""
    shutil.copytree(REPO / "monitoring", tmp_path / "monitoring")
    shutil.copytree(REPO / "k8s", tmp_path / "k8s")
    assert manifests.sync().stale_files(tmp_path) == []
    return tmp_path


def test_generator_notices_a_changed_rule_and_a_removed_dashboard(synced_copy):
    sync, tmp_path = manifests.sync(), synced_copy
    alerts = tmp_path / sync.ALERTS
    alerts.write_text(alerts.read_text().replace("for: 10m", "for: 20m", 1))
    (tmp_path / sync.DASHBOARDS / "dlwp-drift.json").unlink()
    assert set(sync.stale_files(tmp_path)) == {
        sync.PROMETHEUS_RULE,
        sync.OVERLAY_DASHBOARDS / "dlwp-drift.json",
        sync.OVERLAY_DASHBOARDS / "kustomization.yaml",
    }
    sync.write(tmp_path)
    assert sync.stale_files(tmp_path) == []
    rule = yaml.safe_load((tmp_path / sync.PROMETHEUS_RULE).read_text())
    assert rule["spec"]["groups"][0]["rules"][0]["for"] == "20m"


def test_base_job_is_regenerated_when_edited_by_hand(synced_copy):
    sync, tmp_path = manifests.sync(), synced_copy
    job = tmp_path / sync.PIPELINE_JOB
    job.write_text(
        job.read_text().replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    )
    assert sync.stale_files(tmp_path) == [sync.PIPELINE_JOB]
    sync.write(tmp_path)
    assert yaml.safe_load(job.read_text()) == sync.base_job()


def test_service_monitor_scrapes_both_metrics_ports(builds):
    objects = built(builds, "monitoring")
    monitor = only(objects, "ServiceMonitor")["spec"]
    service = only(objects, "Service", "dlwp-serving")
    assert manifests.selector_matches(monitor["selector"], service["metadata"]["labels"])
    assert {(e["port"], e["path"]) for e in monitor["endpoints"]} == {
        ("http", "/metrics"),
        ("tfserving-metrics", "/monitoring/prometheus/metrics"),
    }
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["endpoints"]} <= ports


# 6. Network policies


def policies(objects: list[dict]) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == "NetworkPolicy"]


def policy_types(policy: dict) -> set[str]:
    spec = policy["spec"]
    return set(spec.get("policyTypes") or ["Ingress"] + (["Egress"] if "egress" in spec else []))


@pytest.mark.parametrize("name", NAMES)
def test_default_deny_covers_every_pod_both_ways(builds, name):
    deny = [
        p
        for p in policies(built(builds, name))
        if p["spec"]["podSelector"] == {}
        and policy_types(p) >= {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, "no NetworkPolicy denies ingress and egress to all pods"


@pytest.mark.parametrize("name", NAMES)
def test_every_pod_may_resolve_names(builds, name):
    dns = [
        p
        for p in policies(built(builds, name))
        if p["spec"]["podSelector"] == {} and "Egress" in policy_types(p)
    ]
    ports = {
        (port.get("protocol", "TCP"), port.get("port"))
        for p in dns
        for rule in p["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }
    assert {("UDP", 53), ("TCP", 53)} <= ports


def admits(policy: dict, pod_labels: dict, number: int, name: str | None, protocol: str) -> bool:
    """Whether a policy lets some source reach this port of a pod."""
    spec = policy["spec"]
    if "Ingress" not in policy_types(policy):
        return False
    if not manifests.selector_matches(spec["podSelector"], pod_labels):
        return False
    for rule in spec.get("ingress", []):
        if not rule.get("ports"):
            return True
        for port in rule["ports"]:
            if port.get("protocol", "TCP") != protocol:
                continue
            if "port" not in port or port["port"] == name:
                return True
            if isinstance(port["port"], int) and port["port"] <= number <= port.get(
                "endPort", port["port"]
            ):
                return True
    return False


@pytest.mark.parametrize("name", NAMES)
def test_every_service_port_reaches_a_port_a_policy_admits(builds, name):
    objects = built(builds, name)
    problems = []
    for service in (obj for obj in objects if obj["kind"] == "Service"):
        pods = [
            template
            for _, template in manifests.pod_templates(objects)
            if manifests.selector_matches(
                {"matchLabels": service["spec"]["selector"]}, template["metadata"]["labels"]
            )
        ]
        assert pods, f"{object_name(service)} selects no pods"
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            protocol = port.get("protocol", "TCP")
            for pod in pods:
                found = [
                    p
                    for c in containers(pod["spec"])
                    for p in c.get("ports", [])
                    if target in (p["containerPort"], p.get("name"))
                ]
                if not found:
                    problems.append(
                        f"{object_name(service)} port {port['name']}: no container port {target}"
                    )
                    continue
                (container_port,) = found
                number = container_port["containerPort"]
                if not any(
                    admits(
                        policy,
                        pod["metadata"]["labels"],
                        number,
                        container_port.get("name"),
                        protocol,
                    )
                    for policy in policies(objects)
                ):
                    problems.append(
                        f"{object_name(service)} port {port['name']}: no NetworkPolicy "
                        f"admits container port {number}"
                    )
    assert not problems, "\n".join(problems)
