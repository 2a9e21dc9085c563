"""The Trainer on N workers of a cluster (pipelines/trainer_pools.py, pipelines/k8s_trainer.py):
the indexed Job and headless Service, validated against the Kubernetes schemas; the Vertex AI
CustomJob's worker pools; the compiled pipelines that use them; and the Trainer executor that
starts the workers, against the stand-in API server (tests/pipelines/fake_kube_api.py: no
cluster runs here, so its pods do not run; tests/components/test_multi_worker_training.py runs
the workers' own command for real on loopback)."""

import json

import kubernetes_validate
import pytest

from components.distribution import LostWorkerError, cluster_task
from components.errors import SettingsError
from components.trainer import TrainerConfig
from pipelines import k8s_trainer
from pipelines import kubeflow_runner as kubeflow
from pipelines.tasks import BOOK_TASKS
from pipelines.trainer_pools import (
    WORKER_POOLS_KEY,
    WORKER_PORT,
    WorkerPools,
    tf_config,
    vertex_custom_config,
    worker_addresses,
    worker_job,
    worker_service,
)

KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
EXECUTOR_ARGS = ["--executor_class_path", "x", "--inputs", "{}", "--outputs", "{}"]


def test_indexed_job_and_headless_service_are_valid_and_find_each_other():
    pools = WorkerPools(workers=3, gpus_per_worker=1, image="registry.invalid/dlwp:1-gpu")
    job = worker_job(pools, "dlwp-train-x", EXECUTOR_ARGS)
    service = worker_service(pools, "dlwp-train-x")
    for obj in (job, service):
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"]  # <pod>.<service> DNS names
    labels = spec["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"]
    (container,) = pod["containers"]
    assert container["ports"] == [{"name": "collective", "containerPort": WORKER_PORT}]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["args"][:2] == ["train-worker", "--workers"]
    assert container["args"][-len(EXECUTOR_ARGS) :] == EXECUTOR_ARGS
    # Each pod's TF_CONFIG names every pod by the DNS name the Job and Service give it.
    addresses = worker_addresses(3, "dlwp-train-x", "dlwp-train-x", "dlwp")
    config = json.loads(tf_config(addresses, 2))
    assert config["cluster"]["worker"][0] == f"dlwp-train-x-0.dlwp-train-x.dlwp.svc:{WORKER_PORT}"
    task = cluster_task(json.dumps(config))
    assert (task.workers, task.index, task.is_chief) == (3, 2, False)
    assert cluster_task(tf_config(addresses, 0)).is_chief


def test_vertex_pools_are_the_chief_then_the_other_workers():
    pools = WorkerPools(workers=4, gpus_per_worker=2, project="p", region="europe-west4")
    config = vertex_custom_config(pools, "registry.invalid/dlwp:1")
    specs = config["ai_platform_training_args"]["job_spec"]["worker_pool_specs"]
    assert [spec["replica_count"] for spec in specs] == [1, 3]
    assert specs[0]["machine_spec"]["accelerator_count"] == 2
    assert specs[1]["container_spec"] == {"image_uri": "registry.invalid/dlwp:1"}
    assert config["ai_platform_enable_vertex"] is True
    assert config["ai_platform_vertex_region"] == "europe-west4"
    with pytest.raises(SettingsError, match="--project and --region"):
        vertex_custom_config(WorkerPools(workers=2), "image")


def test_workers_read_the_trainer_config_past_the_launchers_entries():
    settings = kubeflow.ClusterSettings(
        pipeline_root="gs://bucket/dlwp",
        image="registry.invalid/dlwp:1",
        trainer_pools=WorkerPools(workers=2, project="p", region="r"),
        target="vertex",
    )
    pipeline = kubeflow.build_cluster_pipeline(BOOK_TASKS["boston_housing"], settings)
    (trainer,) = [c for c in pipeline.components if c.id == "Trainer"]
    custom_config = json.loads(trainer.exec_properties["custom_config"])
    assert "ai_platform_training_args" in custom_config
    config = TrainerConfig.from_custom_config(custom_config)
    assert config.task.label == BOOK_TASKS["boston_housing"].label


def _trainer_executor(job: dict) -> str:
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    (trainer,) = [e for name, e in executors.items() if name.startswith("Trainer")]
    return " ".join(trainer["container"]["args"])


def _trainer_custom_config(job: dict) -> dict:
    parameters = job["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]
    return json.loads(parameters["custom_config"]["runtimeValue"]["constantValue"]["stringValue"])


def test_compiled_pipelines_start_the_trainers_workers_with_each_platforms_engine():
    common = {"pipeline_root": "gs://bucket/dlwp", "image": "registry.invalid/dlwp:1"}
    vertex = kubeflow.compile_pipeline(
        BOOK_TASKS["fashion_mnist"],
        kubeflow.ClusterSettings(
            **common,
            trainer_pools=WorkerPools(workers=3, gpus_per_worker=1, project="p", region="r"),
            target="vertex",
        ),
    )
    assert "google_cloud_ai_platform.trainer.executor.GenericExecutor" in _trainer_executor(vertex)
    job_spec = _trainer_custom_config(vertex)["ai_platform_training_args"]["job_spec"]
    assert [pool["replica_count"] for pool in job_spec["worker_pool_specs"]] == [1, 2]
    on_kubeflow = kubeflow.compile_pipeline(
        BOOK_TASKS["fashion_mnist"],
        kubeflow.ClusterSettings(**common, trainer_pools=WorkerPools(workers=2)),
    )
    assert "pipelines.k8s_trainer.Executor" in _trainer_executor(on_kubeflow)
    pools = _trainer_custom_config(on_kubeflow)[WORKER_POOLS_KEY]
    assert (pools["workers"], pools["image"]) == (2, "registry.invalid/dlwp:1")
    plain_settings = kubeflow.ClusterSettings(**common)
    plain = kubeflow.compile_pipeline(BOOK_TASKS["fashion_mnist"], plain_settings)
    assert "tfx.components.trainer.executor.GenericExecutor" in _trainer_executor(plain)
    assert WORKER_POOLS_KEY not in _trainer_custom_config(plain)


def _exit_code_and_errors(capsys, *args):
    from pipelines import cli

    try:
        code = cli.main(list(args))
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, problem",
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--gpus-per-worker", "1"], "--gpus-per-worker needs --workers N"),
        (["--workers", "2", "--gpus", "1"], "use --gpus-per-worker"),
        (["--target", "vertex", "--workers", "2"], "needs --project and --region"),
    ],
)
def test_compile_refuses_worker_flags_that_cannot_run(tmp_path, capsys, flags, problem):
    code, err = _exit_code_and_errors(
        capsys,
        "compile",
        "mnist",
        "--output",
        str(tmp_path / "job.json"),
        "--pipeline-root",
        "gs://bucket/dlwp",
        "--home",
        str(tmp_path),
        *flags,
    )
    assert code == 2 and problem in err, err
    assert not (tmp_path / "job.json").exists()


def test_train_worker_outside_an_indexed_job_says_who_starts_it(capsys, monkeypatch):
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    code, err = _exit_code_and_errors(
        capsys, "train-worker", "--workers", "2", "--job", "j", "--service", "j", "--namespace", "d"
    )
    assert code == 2 and "JOB_COMPLETION_INDEX is unset" in err


def _trainer_artifacts(tmp_path, workers=2):
    from tfx.types import standard_artifacts
    from tfx.utils import json_utils

    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "Trainer" / "model" / "7")
    model_run = standard_artifacts.ModelRun()
    model_run.uri = str(tmp_path / "Trainer" / "model_run" / "7")
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "ExampleGen" / "examples" / "1")
    config = {"protocol": "holdout", WORKER_POOLS_KEY: WorkerPools(workers=workers).to_json()}
    properties = {"custom_config": json_utils.dumps(config), "run_fn": "components.trainer.run_fn"}
    return {"examples": [examples]}, {"model": [model], "model_run": [model_run]}, properties


def _worker_job_name(cluster):
    (job,) = cluster.created
    return job["metadata"]["name"]


def test_the_trainer_starts_its_workers_and_waits_for_them(cluster, tmp_path, monkeypatch):
    inputs, outputs, properties = _trainer_artifacts(tmp_path)
    # The stand-in runs no pod: the Job completes, and the chief's model is where it writes it.
    (tmp_path / "Trainer" / "model" / "7" / "Format-Serving").mkdir(parents=True)
    monkeypatch.setattr(k8s_trainer, "worker_job_name", lambda: "dlwp-train-t")
    cluster.finished["dlwp-train-t"] = "Complete"
    k8s_trainer.Executor().Do(inputs, outputs, properties)

    (job,) = cluster.created
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    exec_properties = json.loads(args[args.index("--exec-properties") + 1])
    # The workers' executor gets the Trainer's config without the launcher's entry.
    assert WORKER_POOLS_KEY not in json.loads(exec_properties["custom_config"])
    assert json.loads(exec_properties["custom_config"])["protocol"] == "holdout"
    assert args[args.index("--executor_class_path") + 1] == (
        "tfx.components.trainer.executor.GenericExecutor"
    )
    assert ("POST", "/api/v1/namespaces/dlwp/services") in cluster.requests
    assert cluster.services == {}  # the headless Service is deleted after the Job


def test_a_failed_worker_fails_the_trainer_naming_it(cluster, tmp_path, monkeypatch):
    inputs, outputs, properties = _trainer_artifacts(tmp_path, workers=3)
    monkeypatch.setattr(k8s_trainer, "worker_job_name", lambda: "dlwp-train-f")
    cluster.finished["dlwp-train-f"] = "Failed"
    cluster.indexed_pods = ((0, 1), (1, 0), (2, 137))
    with pytest.raises(LostWorkerError) as raised:
        k8s_trainer.Executor().Do(inputs, outputs, properties)
    message = str(raised.value)
    assert message.startswith("the Trainer's 3 workers (job dlwp-train-f) failed: worker 0 (")
    assert "worker 2 (dlwp-train-f-2-x2, exit code 137)" in message
    assert "worker 1" not in message
    assert "backoff limit" in message and "kubectl logs dlwp-train-f-0-x0" in message
    assert cluster.services == {}


def test_workers_without_a_cluster_say_where_to_run_them(tmp_path, monkeypatch):
    from pipelines.k8s_client import ClusterError

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    inputs, outputs, properties = _trainer_artifacts(tmp_path)
    with pytest.raises(ClusterError) as raised:
        k8s_trainer.Executor().Do(inputs, outputs, properties)
    message = str(raised.value)
    assert message.startswith("no Kubernetes cluster configured")
    assert "k8s/overlays/multi-worker" in message and "leave out --workers" in message
    assert "--dry-run" not in message
