"""InferenceExporter: every pushed model also ships as TFLite and TF.js, behind a parity gate
(docs/exports.md).

For each format (formats.py) the exporter converts the model, runs the file in its real
runtime on the test split (the TFLite interpreter; TF.js in Node) and compares it with the
SavedModel (format_export.py, parity.py). Formats within tolerance are published under
`<exports_dir>/<version>/<format>/`, next to `parity.json` (every format, published or not, and
why) and `golden.json` (a few test examples with the SavedModel's answers, for the browser page
and for runtime checks); publishing.py writes them. A format that fails is recorded, not
published; the run still succeeds.

Inputs: an export takes the raw features of `serving_default` when its runtime can run the
Transform ops in the graph; otherwise it takes the transformed features (the Keras model alone)
and parity.json says `"input": "transformed"`.

    report = export_model(served_dir, keras_dir, examples_uri, transform_uri, work_dir,
                          TaskContract.from_json(task_json), ExportSettings())
    publish_exports(report, work_dir, exports_dir, model_name, version)
"""

import os

import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts
from tfx.utils import path_utils

from components.exporting import runtimes, sizes
from components.exporting.export_inputs import RAW, TEST_SPLIT, ExportInputs
from components.exporting.format_export import FormatExporter
from components.exporting.formats import FORMATS, ExportFormat
from components.exporting.model_sources import ModelSources
from components.exporting.parity import score
from components.exporting.publishing import PARITY_FILE, publish_exports
from components.exporting.report import ExportReport, ReferenceResult, golden_examples
from components.exporting.settings import ExportSettings
from components.trainer import keras_model_path
from contract.signatures import SERVING_DEFAULT
from contract.task import TaskContract


class InferenceExports(artifact.Artifact):
    """parity.json of the exports of one model version (the files are published elsewhere)."""

    TYPE_NAME = "dlwp.InferenceExports"


def export_model(
    served_model_dir: str,
    keras_model_dir: str,
    examples_uri: str,
    transform_graph_uri: str,
    work_dir: str,
    task: TaskContract,
    settings: ExportSettings,
    formats: tuple[ExportFormat, ...] = FORMATS,
) -> ExportReport:
    """Converts, runs and judges every format; the files are left under `work_dir/<format>/`.

    Returns:
        The report parity.json and golden.json are written from.
    """
    tft_output = tft.TFTransformOutput(transform_graph_uri)
    inputs = ExportInputs(
        examples_uri,
        tft_output,
        task,
        settings.max_examples,
        settings.representative_examples,
    )
    sources = ModelSources(served_model_dir, keras_model_dir, tft_output, task, work_dir)
    reference_outputs, reference_latency = runtimes.saved_model_predict(
        sources.served.signatures[SERVING_DEFAULT],
        inputs.get(RAW, TEST_SPLIT),
        settings.latency_examples,
    )
    reference_weight_bytes = sizes.checkpoint_weight_bytes(keras_model_dir)
    exporter = FormatExporter(
        sources, inputs, reference_outputs, reference_weight_bytes, task, settings
    )
    results = {f.name: exporter.export(f, os.path.join(work_dir, f.name)) for f in formats}
    reference = ReferenceResult(
        weight_bytes=reference_weight_bytes,
        gzip_bytes=sizes.gzip_bytes(os.path.join(keras_model_dir, "variables")),
        metric=score(task.metric, task.problem_type, reference_outputs, inputs.labels),
        latency_ms=reference_latency,
    )
    return ExportReport(
        metric=task.metric,
        test_examples=int(len(inputs.labels)),
        tolerance=settings.tolerance,
        reference=reference,
        formats=results,
        golden=golden_examples(inputs, reference_outputs, results, task, settings.golden_examples),
    )


def pushed_version(pushed_model) -> int | None:
    """The serving version the Pusher published this model as (now or in an earlier run)."""
    if pushed_model.get_int_custom_property("pushed") == 1:
        return pushed_model.get_int_custom_property("pushed_version")
    if pushed_model.has_custom_property("serving_version"):
        return pushed_model.get_int_custom_property("serving_version")
    return None


@component
def InferenceExporter(  # noqa: N802 - TFX names components like classes
    model: InputArtifact[standard_artifacts.Model],
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    examples: InputArtifact[standard_artifacts.Examples],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    exports: OutputArtifact[InferenceExports],
    exports_dir: Parameter[str],
    model_name: Parameter[str],
    task: Parameter[str],
    settings: Parameter[str],
) -> None:
    """Exports the pushed version of `model`; records `exported_version` (0: nothing pushed) and
    `reused` (1: that version was exported by an earlier run).

    Args:
        task: `contract.task.TaskContract.to_json()`.
        settings: `ExportSettings.to_json()`.
    """
    version = pushed_version(pushed_model)
    exports.set_int_custom_property("exported_version", version or 0)
    if version is None:
        return
    published = os.path.join(exports_dir, str(version), PARITY_FILE)
    exports.set_int_custom_property("reused", 0)
    if tf.io.gfile.exists(published):  # exported when it was pushed; exports never change
        tf.io.gfile.copy(published, os.path.join(exports.uri, PARITY_FILE), overwrite=True)
        exports.set_int_custom_property("reused", 1)
        return
    # Every format's files stay in the artifact, published or not, for a closer look.
    work_dir = os.path.join(exports.uri, "formats")
    report = export_model(
        path_utils.serving_model_path(model.uri),
        keras_model_path(model.uri),
        examples.uri,
        transform_graph.uri,
        work_dir,
        TaskContract.from_json(task),
        ExportSettings.from_json(settings),
    )
    target = publish_exports(report, work_dir, exports_dir, model_name, version)
    tf.io.gfile.copy(
        os.path.join(target, PARITY_FILE), os.path.join(exports.uri, PARITY_FILE), overwrite=True
    )
