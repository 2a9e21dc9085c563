"""`dlwp compile`: the pipeline of every dataset as a PipelineJob for Kubeflow Pipelines v2 and
Vertex AI, parsed with the pipeline_spec protos of kfp-pipeline-spec (what both accept)."""

import dataclasses
import importlib
import json

import pytest
from cli_runner import run_dlwp
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from contract.versions import write_json
from pipelines import cli
from pipelines import kubeflow_runner as kubeflow
from pipelines.settings import TrainingOptions
from pipelines.tasks import BOOK_TASKS

ROOT = "gs://dlwp-test-bucket/pipelines"
IMAGE = "registry.invalid/dlwp:0.1.0"
# The pipeline's steps (tests/pipelines/test_pipeline.py); the Resolver compiles to two tasks.
STEPS = {
    "ExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "CurateSchema",
    "ExampleValidator",
    "DataGate",
    "Transform",
    "Trainer",
    "Baseline",
    "SimpleModels",
    "Evaluator",
    "BlessingGate",
    "DriftReferenceGen",
    "Pusher",
    "Exporter",
    "ModelReportGen",
}
RESOLVER_TASKS = {"LastBlessedModel-model-resolver", "LastBlessedModel-model-blessing-resolver"}


def compiled(name: str = "fashion_mnist", **overrides) -> pipeline_spec_pb2.PipelineJob:
    settings = kubeflow.ClusterSettings(pipeline_root=ROOT, image=IMAGE, **overrides)
    job = kubeflow.compile_pipeline(BOOK_TASKS[name], settings)
    # Strict: a field the proto does not know fails the parse, as it would in the orchestrator.
    return json_format.ParseDict(job, pipeline_spec_pb2.PipelineJob())


def spec_of(job: pipeline_spec_pb2.PipelineJob) -> pipeline_spec_pb2.PipelineSpec:
    return json_format.ParseDict(
        json_format.MessageToDict(job.pipeline_spec), pipeline_spec_pb2.PipelineSpec()
    )


def containers(spec: pipeline_spec_pb2.PipelineSpec) -> dict:
    """Step name -> its container spec (resolver tasks have none)."""
    found = {}
    for task_name, task in spec.root.dag.tasks.items():
        executor = spec.components[task.component_ref.name].executor_label
        deployment = json_format.MessageToDict(spec.deployment_spec)["executors"][executor]
        if "container" in deployment:
            found[task_name] = deployment["container"]
    return found


@pytest.fixture(scope="module")
def every_dataset():
    return {name: spec_of(compiled(name)) for name in sorted(BOOK_TASKS)}


@pytest.mark.parametrize("name", sorted(BOOK_TASKS))
def test_every_dataset_compiles_with_every_step(every_dataset, name):
    spec = every_dataset[name]
    assert set(spec.root.dag.tasks) == STEPS | RESOLVER_TASKS
    assert set(containers(spec)) == STEPS
    assert spec.schema_version == "2.0.0"
    assert spec.pipeline_info.name == "dlwp-" + name.replace("_", "-")


@pytest.mark.parametrize("name", sorted(BOOK_TASKS))
def test_every_step_runs_the_dlwp_image_through_tfx_entrypoint(every_dataset, name):
    for step, container in containers(every_dataset[name]).items():
        assert container["image"] == IMAGE, step
        # The image's ENTRYPOINT is `dlwp`: the step's command must replace it.
        assert container["command"][:3] == [
            "python",
            "-m",
            "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor",
        ], step


def test_custom_steps_are_found_by_import_path_in_the_image(every_dataset):
    classes = {
        step: c["args"][c["args"].index("--executor_class_path") + 1]
        for step, c in containers(every_dataset["mnist"]).items()
    }
    assert classes["ExampleGen"].startswith("components.example_gen.")
    assert classes["Pusher"].startswith("components.pusher.")
    assert classes["Exporter"].startswith("components.exporting.exporter.")
    for step, path in classes.items():
        module, name = path.rsplit(".", 1)
        # Importable here, so importable in the image built from this tree.
        assert hasattr(importlib.import_module(module), name), step


def test_artifacts_and_pushes_go_to_the_pipeline_root():
    job = compiled("boston_housing")
    assert job.runtime_config.gcs_output_directory == ROOT
    params = json.dumps(json_format.MessageToDict(job))
    assert f"{ROOT}/serving" in params and f"{ROOT}/exports" in params
    assert kubeflow.CONTAINER_DATA_DIR in params


def test_without_accelerator_no_step_asks_for_one(every_dataset):
    for step, container in containers(every_dataset["imdb"]).items():
        assert "accelerator" not in container.get("resources", {}), step


def test_gpus_go_to_the_trainer_only_with_its_own_image():
    spec = spec_of(
        compiled(
            "fashion_mnist",
            accelerator=kubeflow.gpu_accelerator(2, "NVIDIA_TESLA_T4"),
            trainer_image=IMAGE + "-gpu",
        )
    )
    steps = containers(spec)
    assert steps["Trainer"]["resources"]["accelerator"] == {"type": "NVIDIA_TESLA_T4", "count": "2"}
    assert steps["Trainer"]["image"] == IMAGE + "-gpu"
    for step in STEPS - {"Trainer"}:
        assert "resources" not in steps[step], step
        assert steps[step]["image"] == IMAGE, step


def test_tuner_gets_the_accelerator_too():
    spec = spec_of(
        compiled(
            "mnist",
            accelerator=kubeflow.gpu_accelerator(1),
            training=TrainingOptions(tune_trials=3),
        )
    )
    steps = containers(spec)
    for step in ("Tuner", "Trainer"):
        assert steps[step]["resources"]["accelerator"] == {"type": "nvidia.com/gpu", "count": "1"}


def test_tpu_slice_asks_for_its_chips_and_trains_on_the_local_tpu():
    job = compiled("mnist", accelerator=kubeflow.tpu_accelerator("2x4"))
    trainer = containers(spec_of(job))["Trainer"]
    assert trainer["resources"]["accelerator"] == {"type": "TPU_V5_LITEPOD", "count": "8"}
    task = json_format.MessageToDict(job)["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]
    constant = task["inputs"]["parameters"]["custom_config"]["runtimeValue"]["constantValue"]
    trainer_config = json.loads(constant["stringValue"])
    assert trainer_config["tpu"] == "local"


@pytest.mark.parametrize("topology", ["2", "2x", "axb", "0x2", "2x2x2x2"])
def test_bad_tpu_topology_is_refused_by_name(topology):
    with pytest.raises(kubeflow.CompileError, match="--tpu-topology"):
        kubeflow.tpu_accelerator(topology)


def test_dataflow_gets_its_options_and_the_harness_image_on_every_step():
    spec = spec_of(
        compiled(
            "imdb",
            beam_runner="DataflowRunner",
            beam_image=IMAGE + "-beam",
            beam_args=("--project=p", "--region=europe-west4", "--temp_location=gs://b/tmp"),
        )
    )
    for step, container in containers(spec).items():
        args = container["args"]
        assert "--runner=DataflowRunner" in args, step
        assert f"--sdk_container_image={IMAGE}-beam" in args, step
        assert "--project=p" in args and "--temp_location=gs://b/tmp" in args, step
        assert not any(a.startswith("--direct_running_mode") for a in args), step


@pytest.mark.parametrize(
    ("runner", "missing"),
    [
        ("DataflowRunner", "--temp_location"),
        ("FlinkRunner", "--flink_master"),
        ("SparkRunner", "--spark_master_url"),
    ],
)
def test_beam_runner_without_its_options_names_them(runner, missing):
    settings = kubeflow.ClusterSettings(
        pipeline_root=ROOT, image=IMAGE, beam_runner=runner, beam_args=("--project=p",)
    )
    with pytest.raises(kubeflow.CompileError, match=missing):
        kubeflow.beam_pipeline_args(settings)


def test_flink_without_a_harness_image_says_how_to_give_one():
    settings = kubeflow.ClusterSettings(
        pipeline_root=ROOT,
        image=IMAGE,
        beam_runner="FlinkRunner",
        beam_args=("--flink_master=flink:8081",),
    )
    with pytest.raises(kubeflow.CompileError, match="--beam-image"):
        kubeflow.beam_pipeline_args(settings)
    given = kubeflow.beam_pipeline_args(dataclasses.replace(settings, beam_image="img:1"))
    assert given[-2:] == ["--environment_type=DOCKER", "--environment_config=img:1"]


def test_local_pipeline_root_is_refused():
    with pytest.raises(kubeflow.CompileError, match="object storage"):
        kubeflow.compile_pipeline(
            BOOK_TASKS["mnist"], kubeflow.ClusterSettings(pipeline_root="/tmp/x", image=IMAGE)
        )


def test_cli_writes_a_pipeline_job_file(tmp_path):
    output = tmp_path / "specs" / "reuters.json"
    code, out, err = run_dlwp(
        "compile",
        "reuters",
        "--target",
        "kubeflow",
        "--output",
        str(output),
        "--image",
        IMAGE,
        "--pipeline-root",
        ROOT + "/",
        "--gpus",
        "1",
        "--home",
        str(tmp_path / "home"),
        "--epochs",
        "3",
    )
    assert code == 0, err
    assert f"wrote {output}" in out
    job = json_format.ParseDict(json.loads(output.read_text()), pipeline_spec_pb2.PipelineJob())
    trainer = containers(spec_of(job))["Trainer"]
    assert trainer["resources"]["accelerator"] == {"type": "nvidia.com/gpu", "count": "1"}
    assert job.runtime_config.gcs_output_directory == ROOT
    assert not list(output.parent.glob("*.partial"))


def compile_cli(tmp_path, *flags):
    return run_dlwp(
        "compile",
        "mnist",
        "--output",
        str(tmp_path / "x.json"),
        "--pipeline-root",
        ROOT,
        "--home",
        str(tmp_path),
        *flags,
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--beam-runner", "DataflowRunner"], "--beam-arg=--project"),
        (["--beam-arg", "project=p"], "not a Beam option"),
        (["--gpus", "-1"], "--gpus must be at least 1"),
    ],
)
def test_cli_refuses_settings_that_cannot_compile(tmp_path, flags, message):
    code, _, err = compile_cli(tmp_path, *flags)
    assert code == 2
    assert message in err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--gpus", "1", "--tpu-topology", "2x2"], "not both"),
        (["--gpu-type", "NVIDIA_TESLA_T4"], "--gpu-type needs --gpus"),
        (["--tpu-type", "TPU_V3"], "--tpu-type needs --tpu-topology"),
    ],
)
def test_cli_refuses_contradicting_flags(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(
            [
                "compile",
                "mnist",
                "--output",
                str(tmp_path / "x.json"),
                "--pipeline-root",
                ROOT,
                *flags,
            ]
        )
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_needs_a_pipeline_root(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compile", "mnist", "--output", str(tmp_path / "x.json")])
    assert exit_info.value.code == 2
    assert "--pipeline-root is needed" in capsys.readouterr().err


def test_vertex_sdk_builds_its_pipeline_job_from_the_compiled_file(tmp_path):
    """The Vertex AI SDK parses the file into its own PipelineJob proto before submitting it;
    everything short of `.submit()` runs offline (docs/kubernetes.md's Vertex snippet)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    path = tmp_path / "mnist.json"
    write_json(
        str(path),
        kubeflow.compile_pipeline(
            BOOK_TASKS["mnist"], kubeflow.ClusterSettings(pipeline_root=ROOT, image=IMAGE)
        ),
    )
    job = aiplatform.PipelineJob(
        display_name="dlwp-mnist",
        template_path=str(path),
        pipeline_root=ROOT,
        project="my-project",
        location="europe-west4",
        credentials=AnonymousCredentials(),
    )
    resource = job._gca_resource  # what .submit() would send
    assert resource.runtime_config.gcs_output_directory == ROOT
    assert set(resource.pipeline_spec["root"]["dag"]["tasks"]) == STEPS | RESOLVER_TASKS
