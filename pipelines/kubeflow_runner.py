"""Compiles the pipeline for Kubeflow Pipelines v2 and Vertex AI Pipelines (`dlwp compile`).

The same factory as the local runner (`pipelines.pipeline.create_pipeline`), compiled by TFX's
KubeflowV2DagRunner into a PipelineJob JSON that both orchestrators accept. Every step runs in
the dlwp image; the Trainer (and the Tuner) can ask for GPUs or a TPU slice; the Beam-based
steps run on the Beam runner the flags name.

    spec = compile_pipeline(BOOK_TASKS["fashion_mnist"], ClusterSettings(
        pipeline_root="gs://bucket/dlwp", image="REGISTRY/dlwp:0.1.0"))
"""

import dataclasses
import math
import posixpath
from collections.abc import Sequence
from typing import Any

from components.errors import DlwpError, SettingsError
from pipelines.local_runner import LOCAL_BEAM_ARGS
from pipelines.pipeline import create_pipeline
from pipelines.settings import ReportOptions, TrainingOptions, beam_options
from pipelines.tasks import TaskSpec
from pipelines.trainer_pools import KUBERNETES, VERTEX, WorkerPools, trainer_launch

# Kubeflow Pipelines (open source) uses the accelerator type as the resource name of the limit;
# Vertex AI wants its machine-spec names (NVIDIA_TESLA_T4, TPU_V5_LITEPOD, ...).
KUBEFLOW_GPU_TYPE = "nvidia.com/gpu"
DEFAULT_TPU_TYPE = "TPU_V5_LITEPOD"
# The data folder inside the image (owned by its user); keras downloads missing files there.
CONTAINER_DATA_DIR = "/var/lib/dlwp/datasets"
ACCELERATED_STEPS = ("Trainer", "Tuner")

# Options each Beam runner cannot start without; asked for up front rather than at run time.
REQUIRED_BEAM_OPTIONS = {
    "DataflowRunner": ("project", "region", "temp_location"),
    "FlinkRunner": ("flink_master",),
    "SparkRunner": ("spark_master_url",),
}
# How a runner's workers get the dlwp code (the SDK harness), when the user gave nothing.
HARNESS_OPTIONS = {
    "DataflowRunner": ("sdk_container_image",),
    "FlinkRunner": ("environment_type", "environment_config"),
    "SparkRunner": ("environment_type", "environment_config"),
}
# In the step's own container, Beam runs as the local runner runs it.
IN_CONTAINER_BEAM_ARGS = LOCAL_BEAM_ARGS


KUBEFLOW, VERTEX_TARGET = "kubeflow", "vertex"


class CompileError(DlwpError):
    """The compile flags cannot make a pipeline that would run (exit 2)."""


@dataclasses.dataclass(frozen=True)
class Accelerator:
    """What the Trainer's container asks for: `count` devices of `type`."""

    type: str
    count: int


@dataclasses.dataclass(frozen=True)
class ClusterSettings:
    """Where a compiled pipeline runs and what it uses; `pipeline_root` is object storage."""

    pipeline_root: str
    image: str
    trainer_image: str = ""  # "" for `image`; the GPU image for GPU training
    serving_dir: str = ""  # "" for <pipeline_root>/serving
    exports_dir: str = ""  # "" for <pipeline_root>/exports
    reports_dir: str = ""  # "" for <pipeline_root>/reports
    data_dir: str = CONTAINER_DATA_DIR
    beam_runner: str = "DirectRunner"
    beam_args: tuple[str, ...] = ()
    beam_image: str = ""  # the SDK harness image of a distributed Beam runner
    accelerator: Accelerator | None = None
    # The Trainer on N workers (pipelines/trainer_pools.py): on Vertex AI through TFX's Vertex
    # Trainer extension, on Kubeflow through an indexed Job of the Trainer's own step.
    trainer_pools: WorkerPools | None = None
    target: str = KUBEFLOW
    max_examples: int = 0
    training: TrainingOptions = TrainingOptions()
    enable_cache: bool = True
    report: ReportOptions = ReportOptions()


def gpu_accelerator(count: int, gpu_type: str = KUBEFLOW_GPU_TYPE) -> Accelerator:
    """`count` GPUs of `gpu_type` (Kubeflow: nvidia.com/gpu; Vertex: NVIDIA_TESLA_T4, ...)."""
    if count < 1:
        raise CompileError(f"--gpus must be at least 1, got {count}")
    return Accelerator(gpu_type, count)


def tpu_accelerator(topology: str, tpu_type: str = DEFAULT_TPU_TYPE) -> Accelerator:
    """A TPU slice: `topology` such as 2x2 or 2x2x1; the count is its number of chips."""
    try:
        sides = [int(side) for side in topology.lower().split("x")]
    except ValueError:
        sides = []
    if len(sides) not in (2, 3) or min(sides) < 1:
        raise CompileError(
            f"--tpu-topology {topology!r} is not a TPU topology: give chips per side, e.g. 2x2, "
            "2x4 or 2x2x1"
        )
    return Accelerator(tpu_type, math.prod(sides))


def beam_pipeline_args(settings: ClusterSettings) -> list[str]:
    """The Beam options of the data steps: in the step's container, or on a Beam runner.

    Raises:
        CompileError: the runner lacks an option it needs, naming the option.
    """
    if settings.beam_runner == "DirectRunner":
        return [*IN_CONTAINER_BEAM_ARGS, *settings.beam_args]
    if settings.beam_runner not in REQUIRED_BEAM_OPTIONS:
        raise CompileError(
            f"--beam-runner {settings.beam_runner!r} is not supported; choose DirectRunner "
            f"(in the step's container), {', '.join(REQUIRED_BEAM_OPTIONS)}"
        )
    given = {arg.split("=", 1)[0].lstrip("-") for arg in settings.beam_args}
    missing = [o for o in REQUIRED_BEAM_OPTIONS[settings.beam_runner] if o not in given]
    if missing:
        raise CompileError(
            f"--beam-runner {settings.beam_runner} needs "
            + ", ".join(f"--beam-arg=--{o}=..." for o in missing)
        )
    args = [f"--runner={settings.beam_runner}", *settings.beam_args]
    if not given & set(HARNESS_OPTIONS[settings.beam_runner]):
        if not settings.beam_image:
            raise CompileError(
                f"--beam-runner {settings.beam_runner} runs dlwp's code on its own workers: "
                "give --beam-image IMAGE (the Dockerfile's beam target), or pass the harness "
                f"with --beam-arg=--{HARNESS_OPTIONS[settings.beam_runner][0]}=..."
            )
        if settings.beam_runner == "DataflowRunner":
            args.append(f"--sdk_container_image={settings.beam_image}")
        else:
            args += ["--environment_type=DOCKER", f"--environment_config={settings.beam_image}"]
    return args


def _resource_spec(accelerator: Accelerator):
    from kfp.pipeline_spec import pipeline_spec_pb2

    resources = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec()
    resources.accelerator.type = accelerator.type
    resources.accelerator.count = accelerator.count
    return resources


def build_cluster_pipeline(task: TaskSpec, settings: ClusterSettings):
    """The task's pipeline with cluster paths, Beam options and the Trainer's accelerator."""
    training = settings.training
    if settings.accelerator and settings.accelerator.type.upper().startswith("TPU"):
        # On a TPU VM the TPU is the local one; TPUClusterResolver(tpu="local") finds it.
        training = dataclasses.replace(training, tpu=training.tpu or "local")
    launch = None
    pools = settings.trainer_pools
    if pools is not None and (pools.workers > 1 or settings.target == VERTEX_TARGET):
        if settings.accelerator:
            raise CompileError(
                "--workers gives each worker its accelerators: use --gpus-per-worker G, "
                "not --gpus or --tpu-topology"
            )
        platform = VERTEX if settings.target == VERTEX_TARGET else KUBERNETES
        try:
            launch = trainer_launch(pools, platform, settings.trainer_image or settings.image)
        except SettingsError as error:
            raise CompileError(str(error)) from None
    pipeline = create_pipeline(
        task,
        pipeline_root=settings.pipeline_root,
        data_dir=settings.data_dir,
        serving_dir=settings.serving_dir or posixpath.join(settings.pipeline_root, "serving"),
        exports_dir=settings.exports_dir or posixpath.join(settings.pipeline_root, "exports"),
        reports_dir=settings.reports_dir or posixpath.join(settings.pipeline_root, "reports"),
        metadata_connection_config=None,  # Kubeflow and Vertex bring their own ML Metadata
        max_examples=settings.max_examples,
        training=training,
        beam_pipeline_args=beam_pipeline_args(settings),
        enable_cache=settings.enable_cache,
        report=settings.report,
        trainer_launch=launch,
    )
    if settings.accelerator:
        for component in pipeline.components:
            if component.id in ACCELERATED_STEPS:
                component.with_platform_config(_resource_spec(settings.accelerator))
    return pipeline


def compile_pipeline(
    task: TaskSpec, settings: ClusterSettings, parameter_values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The PipelineJob (JSON-ready dict) of `task`'s pipeline, as KubeflowV2DagRunner writes it.

    Raises:
        CompileError: inconsistent settings (named in the message).
    """
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner, pipeline_builder

    if "://" not in settings.pipeline_root:
        raise CompileError(
            f"--pipeline-root {settings.pipeline_root!r} is not object storage: the steps of a "
            "cluster run share their artifacts through it; give gs://BUCKET/PATH"
        )
    images: str | dict[str, str] = settings.image
    if settings.trainer_image and settings.trainer_image != settings.image:
        images = {step: settings.trainer_image for step in ACCELERATED_STEPS}
        images[pipeline_builder.DEFAULT_IMAGE_PATH_KEY] = settings.image
    config = kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=images)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(config=config)
    return runner.run(
        build_cluster_pipeline(task, settings), parameter_values=parameter_values, write_out=False
    )


def parse_beam_args(values: Sequence[str]) -> tuple[str, ...]:
    """`--beam-arg` values as Beam options (`--name=value`), refusing anything else."""
    try:
        return beam_options(values)
    except SettingsError as error:
        raise CompileError(str(error)) from None
