"""ModelReportGen: the report of every version the Pusher publishes (docs/reports.md), as
`<reports_dir>/<version>/` (report.json, report.html, model_card.json), published whole.

Book 6.3.1, "explain your work to stakeholders and set expectations": what the model gets
right and wrong on test, in numbers and examples. The logic is in `report_data` (the numbers)
and `publish` (the folder); this component only wires the artifacts to them.
"""

import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts

from components.baseline import BaselineResult
from components.data_gate import DataGateResult
from components.exporting.exporter import InferenceExports
from components.reporting.publish import write_report_folder
from components.reporting.report_data import ReportSources, build_report
from components.simple_models import SimpleModelsResult
from components.step_progress import report as report_line
from contract.report_files import REPORT_HTML
from contract.task import TaskContract


class ModelReport(artifact.Artifact):
    """The report of a pushed version: custom properties `written` (1 or 0: nothing pushed),
    `version` and `report_path` (the page); the folder is under the reports dir."""

    TYPE_NAME = "dlwp.ModelReport"


@component
def ModelReportGen(  # noqa: N802 - TFX names components like classes
    examples: InputArtifact[standard_artifacts.Examples],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    baseline: InputArtifact[BaselineResult],
    simple_models: InputArtifact[SimpleModelsResult],
    data_gate: InputArtifact[DataGateResult],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    exports: InputArtifact[InferenceExports],
    report: OutputArtifact[ModelReport],
    reports_dir: Parameter[str],
    model_name: Parameter[str],
    task: Parameter[str],
    data_dir: Parameter[str],
    cases_per_day: Parameter[int],
) -> None:
    """Writes `<reports_dir>/<version>/` for the version just pushed; nothing when the Pusher
    pushed nothing.

    Args:
        reports_dir: `<home>/reports/<model>`.
        task: `contract.task.TaskContract.to_json()`.
        data_dir: keras's dataset files (a text task's word index), or "".
        cases_per_day: a binary task's cases a day, for the threshold table's counts.
    """
    if pushed_model.get_int_custom_property("pushed") != 1:
        report.set_int_custom_property("written", 0)
        return
    version = pushed_model.get_int_custom_property("pushed_version")
    exported = exports.has_custom_property("exported_version") and (
        exports.get_int_custom_property("exported_version") == version
    )
    sources = ReportSources(
        examples=examples.uri,
        model_run=model_run.uri,
        pushed_dir=pushed_model.get_string_custom_property("pushed_destination"),
        evaluation=evaluation.uri,
        baseline=baseline.uri,
        simple_models=simple_models.uri,
        data_gate=data_gate.uri,
        statistics=statistics.uri,
        exports=exports.uri if exported else "",
        reports_dir=reports_dir,
        data_dir=data_dir,
    )
    numbers, figures = build_report(
        sources, TaskContract.from_json(task), model_name, version, cases_per_day
    )
    folder = write_report_folder(os.path.join(reports_dir, str(version)), numbers, figures)
    page = os.path.join(folder, REPORT_HTML)
    report.set_int_custom_property("written", 1)
    report.set_int_custom_property("version", version)
    report.set_string_custom_property("report_path", page)
    report_line(f"report: {page}")
