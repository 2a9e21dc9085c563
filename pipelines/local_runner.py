"""Runs a task's pipeline here: TFX LocalDagRunner, SQLite ML Metadata, Beam DirectRunner.

Writes `<home>/reports/<model>/summary.json` after every run, also when the data gate stops it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, TextIO

import tensorflow as tf
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration.local.local_dag_runner import LocalDagRunner

from components.data_gate import warning_lines
from components.errors import DlwpError
from components.schema_curation import content_addressed_copy
from contract.versions import write_json
from pipelines import run_record
from pipelines.k8s_job import DEFAULT_IMAGE
from pipelines.pipeline import create_pipeline
from pipelines.progress import ComponentProgress
from pipelines.settings import ReportOptions, TrainingOptions
from pipelines.summary import build_summary, model_run_dir
from pipelines.tasks import TaskSpec
from pipelines.trainer_pools import KUBERNETES, WorkerPools, trainer_launch

# The DirectRunner in one process: the local path needs no cluster; two cores gain little
# from worker processes and pay their start-up.
LOCAL_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


@dataclasses.dataclass(frozen=True)
class HomePaths:
    """The home directory layout (README, "Outputs") for one model."""

    home: str
    model: str

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.home, "pipelines", self.model)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.pipeline_root, "metadata.sqlite")

    @property
    def serving(self) -> str:
        return os.path.join(self.home, "serving", self.model)

    @property
    def exports(self) -> str:
        return os.path.join(self.home, "exports", self.model)

    @property
    def reports(self) -> str:
        return os.path.join(self.home, "reports", self.model)

    @property
    def summary_path(self) -> str:
        return os.path.join(self.reports, "summary.json")

    @property
    def columns_path(self) -> str:
        return os.path.join(self.reports, "columns.json")


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The knobs of one local run (from the CLI)."""

    home: str
    data_dir: str
    max_examples: int = 0
    enable_cache: bool = True
    training: TrainingOptions = TrainingOptions()
    extra_data_dir: str = ""  # labelled feedback appended to train (components/extra_data.py)
    schema_file: str = ""  # a curated schema instead of the inferred one (dlwp run --schema)
    report: ReportOptions = ReportOptions()
    # Beam options of every Beam step (dlwp run --beam-arg), after LOCAL_BEAM_ARGS: they win.
    beam_args: tuple[str, ...] = ()
    # The Trainer on N worker pods (dlwp run --workers N, in a cluster: pipelines/k8s_trainer.py).
    trainer_pools: WorkerPools | None = None


class PipelineFailedError(DlwpError):
    """A component failed for a reason that is not the user's data (exit 1); see the log."""

    exit_code = 1


def _find_user_error(error: BaseException | None) -> DlwpError | None:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DlwpError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _keep_report(record, paths: HomePaths, version: int | None) -> None:
    """Copies the training curves and records to `<reports>/<version>/` (or `unpushed/`)."""
    source = model_run_dir(record)
    if not source or not tf.io.gfile.isdir(source):
        return
    target = os.path.join(paths.reports, str(version) if version else "unpushed")
    tf.io.gfile.makedirs(target)
    for name in tf.io.gfile.listdir(source):
        if name.endswith((".json", ".png")):
            tf.io.gfile.copy(os.path.join(source, name), os.path.join(target, name), overwrite=True)


def run(task: TaskSpec, settings: RunSettings, terminal: TextIO, log_path: str) -> dict[str, Any]:
    """Runs the pipeline of `task` and writes its summary.

    Args:
        task: the task spec.
        settings: home, data folder and run knobs.
        terminal: where progress lines go.
        log_path: where library output goes (named in error messages).

    Returns:
        The summary (also written to `<home>/reports/<model>/summary.json`).

    Raises:
        DlwpError: the data is missing or bad (exit 2), or the workflow said no (exit 1);
            the summary is written first when the pipeline ran.
    """
    paths = HomePaths(settings.home, task.name)
    if task.data_report is not None:
        # Book 6.1.3, understand your data: what was read of the user's columns, said once.
        terminal.write("\n".join(task.data_report.lines()) + "\n")
        write_json(paths.columns_path, task.data_report.to_json())
    tf.io.gfile.makedirs(paths.pipeline_root)
    metadata = tfx_metadata.sqlite_metadata_connection_config(paths.metadata_path)
    pipeline = create_pipeline(
        task,
        pipeline_root=paths.pipeline_root,
        data_dir=settings.data_dir,
        serving_dir=paths.serving,
        exports_dir=paths.exports,
        reports_dir=paths.reports,
        metadata_connection_config=metadata,
        max_examples=settings.max_examples,
        training=settings.training,
        beam_pipeline_args=(*LOCAL_BEAM_ARGS, *settings.beam_args),
        enable_cache=settings.enable_cache,
        extra_data_dir=settings.extra_data_dir,
        report=settings.report,
        trainer_launch=trainer_launch(settings.trainer_pools, KUBERNETES, DEFAULT_IMAGE)
        if settings.trainer_pools
        else None,
        # A copy named by its content: an edited schema is a new input, not a cache hit.
        schema_file=content_addressed_copy(
            settings.schema_file, os.path.join(paths.pipeline_root, "curated_schemas")
        )
        if settings.schema_file
        else "",
    )
    started = time.monotonic()
    failure: BaseException | None = None
    progress = ComponentProgress(terminal, total=len(pipeline.components))
    with progress.listening():
        try:
            LocalDagRunner().run(pipeline)
        except Exception as error:  # Reported below, after the summary is written.
            logging.getLogger(__name__).error("pipeline failed", exc_info=error)
            failure = error
    timings = {"total": round(time.monotonic() - started, 2), **progress.timings_s}
    record = run_record.latest_run(metadata)
    summary = build_summary(task, record, timings)
    write_json(paths.summary_path, summary)
    _keep_report(record, paths, summary["pushed_version"])
    for line in warning_lines(summary["data_warnings"]):
        terminal.write(line + "\n")
    for sentence in summary["model_warnings"]:
        terminal.write(f"model warning: {sentence}\n")
    if failure is not None:
        user_error = _find_user_error(failure)
        if user_error is not None:
            raise user_error
        raise PipelineFailedError(
            f"step {progress.failed() or '?'} failed: {failure!r}; details in {log_path}"
        ) from failure
    return summary
