"""`dlwp k8s run`'s Job: valid for the Kubernetes API (kubernetes-validate, strict), restricted
pod security, and the same pod as the Job template of k8s/base."""

import datetime
import pathlib
import re

import kubernetes_validate
import pytest
import yaml
from cli_runner import run_dlwp

from pipelines.k8s_job import (
    JobSettings,
    JobSettingsError,
    pipeline_job,
    retrain_job,
    run_args_from,
)

# The oldest Kubernetes the manifests of k8s/ are for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
ROOT = pathlib.Path(__file__).resolve().parents[2]
NOW = datetime.datetime(2026, 11, 29, 1, 2, 3, tzinfo=datetime.timezone.utc)


def validate(obj: dict) -> None:
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    "settings",
    [
        JobSettings(dataset="fashion_mnist"),
        JobSettings(dataset="imdb", image="registry.invalid/dlwp:0.1.0-gpu", gpus=2),
        JobSettings(dataset="boston_housing", namespace="ml", run_args=("--epochs", "3")),
    ],
    ids=["default", "gpu", "run-args"],
)
def test_job_validates_strictly_against_the_kubernetes_schema(settings):
    validate(pipeline_job(settings, NOW))


def test_schema_check_is_strict_enough_to_catch_a_typo():
    job = pipeline_job(JobSettings(dataset="mnist"), NOW)
    job["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(job)


def test_pod_meets_the_restricted_pod_security_standard():
    pod = pipeline_job(JobSettings(dataset="mnist", gpus=1), NOW)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    # Only volumes may be written: the claim, /tmp and the user's home.
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {"/var/lib/dlwp", "/tmp", "/home/dlwp"}


def test_gpus_become_a_limit_and_a_toleration():
    pod = pipeline_job(JobSettings(dataset="mnist", gpus=4), NOW)["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    cpu_pod = pipeline_job(JobSettings(dataset="mnist"), NOW)["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in cpu_pod["containers"][0]["resources"]["limits"]
    assert "tolerations" not in cpu_pod


def test_job_runs_dlwp_run_on_the_claim_with_the_extra_flags():
    job = pipeline_job(JobSettings(dataset="reuters", run_args=("--epochs", "2")), NOW)
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == [
        "run",
        "reuters",
        "--home",
        "/var/lib/dlwp",
        "--data-dir",
        "/var/lib/dlwp/datasets",
        "--epochs",
        "2",
    ]
    assert job["spec"]["backoffLimit"] == 0


def test_name_is_a_dns_label_unique_per_second():
    job = pipeline_job(JobSettings(dataset="boston_housing"), NOW)
    name = job["metadata"]["name"]
    assert name == "dlwp-run-boston-housing-20261129-010203"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63
    later = pipeline_job(JobSettings(dataset="boston_housing"), NOW + datetime.timedelta(seconds=1))
    assert later["metadata"]["name"] != name


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (JobSettings(dataset="mnist", gpus=-1), "--gpus"),
        (JobSettings(dataset="mnist", namespace="Not_A_Namespace"), "--namespace"),
        (JobSettings(dataset="mnist", image="dlwp 0.1"), "--image"),
    ],
)
def test_settings_kubernetes_would_refuse_are_named(settings, message):
    with pytest.raises(JobSettingsError, match=message):
        pipeline_job(settings, NOW)


@pytest.mark.parametrize("flag", ["--home", "--data-dir=/x"])
def test_the_job_owns_home_and_data_dir(flag):
    with pytest.raises(JobSettingsError, match=flag.split("=")[0]):
        run_args_from([flag, "/elsewhere"])


def test_dry_run_prints_the_job_as_yaml():
    code, out, err = run_dlwp(
        "k8s",
        "run",
        "fashion_mnist",
        "--image",
        "registry.invalid/dlwp:0.1.0-gpu",
        "--gpus",
        "1",
        "--dry-run",
        "--",
        "--epochs",
        "3",
    )
    assert code == 0, err
    job = yaml.safe_load(out)
    validate(job)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.invalid/dlwp:0.1.0-gpu"
    assert container["args"][-2:] == ["--epochs", "3"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "&id" not in out  # no YAML anchors: kubectl users read and edit it


def test_dry_run_of_an_unknown_dataset_exits_2():
    code, _, err = run_dlwp("k8s", "run", "fashion", "--dry-run")
    assert code == 2 and "unknown dataset 'fashion'" in err


def _template_job() -> dict:
    return yaml.safe_load((ROOT / "k8s" / "base" / "pipeline-job.yaml").read_text())


def test_generated_job_has_the_pod_of_the_base_template():
    """k8s/base's Job is generated from `pipeline_job` (k8s/sync.py): the committed file still
    has its pod."""
    template = _template_job()
    generated = pipeline_job(JobSettings(dataset="fashion_mnist"), NOW)
    pod, generated_pod = template["spec"]["template"]["spec"], generated["spec"]["template"]["spec"]
    for key in (
        "serviceAccountName",
        "automountServiceAccountToken",
        "enableServiceLinks",
        "restartPolicy",
        "securityContext",
        "volumes",
    ):
        assert generated_pod[key] == pod[key], key
    container = next(c for c in pod["containers"] if c["name"] == "dlwp")
    generated_container = generated_pod["containers"][0]
    for key in ("args", "resources", "securityContext", "volumeMounts", "imagePullPolicy"):
        assert generated_container[key] == container[key], key
    for key in ("backoffLimit", "ttlSecondsAfterFinished", "activeDeadlineSeconds"):
        assert generated["spec"][key] == template["spec"][key], key


def test_retrain_job_is_the_pipeline_job_with_retrain_args():
    settings = JobSettings(dataset="houses", run_args=("--epochs", "2"))
    retrain, run = retrain_job(settings, NOW), pipeline_job(settings, NOW)
    validate(retrain)
    assert retrain["metadata"]["name"] == "dlwp-retrain-houses-20261129-010203"
    assert retrain["metadata"]["labels"]["dlwp.dev/retrain"] == "houses"
    assert "dlwp.dev/dataset" not in retrain["metadata"]["labels"]
    (container,) = retrain["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [
        "retrain",
        "houses",
        "--home",
        "/var/lib/dlwp",
        "--",
        "--data-dir",
        "/var/lib/dlwp/datasets",
        "--epochs",
        "2",
    ]
    for job in (retrain, run):
        job.pop("metadata")
        pod_labels = job["spec"]["template"]["metadata"]["labels"]
        pod_labels.pop("dlwp.dev/retrain", None)
        pod_labels.pop("dlwp.dev/dataset", None)
        job["spec"]["template"]["spec"]["containers"][0].pop("args")
    assert retrain == run
