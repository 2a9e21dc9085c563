"""One format's export, in the shape of TFX's model rewriters (validate → convert → validate):

1. validate: skip an input form on which the same runtime's plain variant already failed (an
   optimized variant fails on the same ops; int8 calibration even crashes the process on them);
2. convert the source SavedModel of that input form (formats.py);
3. validate: run the file in its real runtime (runtimes.py) and compare its outputs with the
   SavedModel's (parity.py).

The raw input form is tried first, then the transformed one (docs/exports.md). A failed step is
re-raised as an `ExportStepError` naming the format, the step and the input form, and recorded
in the format's result; a format no input form converts is recorded, never raised.

    exporter = FormatExporter(sources, inputs, reference_outputs, reference_weight_bytes,
                              task, settings)
    result = exporter.export(FORMATS[0], output_dir)   # a FormatResult
"""

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator, Mapping

import numpy as np
import tensorflow as tf

from components.exporting import runtimes, sizes
from components.exporting.export_inputs import (
    INPUT_FORMS,
    RAW,
    TEST_SPLIT,
    ExportInputs,
    describe,
)
from components.exporting.formats import ExportFormat
from components.exporting.model_sources import ModelSources
from components.exporting.parity import compare
from components.exporting.report import FormatResult, Measurement
from components.exporting.settings import ExportSettings
from components.step_progress import report
from contract.task import TaskContract

CONVERT, RUN = "convert", "run"

log = logging.getLogger(__name__)


def short_error(error: BaseException) -> str:
    """The part of a converter or runtime error that names the problem (converters also print
    MLIR locations, TF.js a banner about its Node backend)."""
    text = str(error)
    if "TF Select ops:" in text:
        ops = text.split("TF Select ops:", 1)[1].splitlines()[0].strip()
        return f"needs TensorFlow ops that the runtime lacks: {ops}"
    lines = [
        line
        for line in text.splitlines()
        if line.strip()
        and "=====" not in line
        and "tfjs-node" not in line
        and "TensorFlow.js in Node.js" not in line
    ]
    return " ".join(lines)[:800]


@dataclasses.dataclass(frozen=True)
class StepSeconds:
    """How long a format took to convert, and to run on the test split in its runtime."""

    convert: float
    run: float


_REASON_CHARS = 300  # of a failed format's reason in its progress line; parity.json has it all


def progress_line(
    result: FormatResult, metric: str, examples: int, seconds: StepSeconds | None = None
) -> str:
    """The line the person waiting sees for one format (components.step_progress), e.g.
    `tflite_float16  converted 1.2 s  ran 0.3 s  parity on 10000 examples: accuracy 0.8812
    (delta +0.0000) published`."""
    m = result.measurement
    if m is None:
        return f"{result.name}  not exported: {(result.reason or '')[:_REASON_CHARS]}"
    timing = f"converted {seconds.convert:.1f} s  ran {seconds.run:.1f} s  " if seconds else ""
    form = "" if m.input == RAW else f" ({m.input} input)"
    c = m.comparison
    verdict = "published" if result.published else f"not published: {result.reason}"
    return (
        f"{result.name}  {timing}parity on {examples} examples{form}: "
        f"{metric} {c.metric:.4f} (delta {c.delta:+.4f}) {verdict}"
    )


class ExportStepError(Exception):
    """A step (CONVERT or RUN) of one format failed on one input form; `error` is the
    converter's or runtime's own exception."""

    def __init__(self, format_name: str, step: str, mode: str, error: Exception):
        super().__init__(f"{format_name}: {step} with {mode} input failed: {error}")
        self.format_name = format_name
        self.step = step
        self.mode = mode
        self.error = error

    @property
    def record(self) -> str:
        """The failure as the format's `errors` in parity.json record it."""
        return f"{self.mode} input: {type(self.error).__name__}: {short_error(self.error)}"


@contextlib.contextmanager
def _step(export_format: ExportFormat, step: str, mode: str) -> Iterator[None]:
    """Re-raises a failure of the step as an ExportStepError; a missing runtime goes through
    as it is (the other input form needs the same runtime)."""
    try:
        yield
    except runtimes.RuntimeUnavailableError:
        raise
    except Exception as error:
        raise ExportStepError(export_format.name, step, mode, error) from error


class FormatExporter:
    """Exports formats one at a time against one SavedModel, remembering which runtime and
    input form failed, so that the optimized variants of that runtime skip it."""

    def __init__(
        self,
        sources: ModelSources,
        inputs: ExportInputs,
        reference_outputs: Mapping[str, np.ndarray],
        reference_weight_bytes: int,
        task: TaskContract,
        settings: ExportSettings,
    ):
        self._sources = sources
        self._inputs = inputs
        self._reference_outputs = reference_outputs
        self._reference_weight_bytes = reference_weight_bytes
        self._task = task
        self._settings = settings
        self._unconvertible: dict[tuple[str, str], str] = {}  # (runtime, input) -> format

    def export(self, export_format: ExportFormat, output_dir: str) -> FormatResult:
        """Converts, runs and judges `export_format`; its files are left in `output_dir`."""
        errors: list[str] = []
        for mode in INPUT_FORMS:
            source = self._sources.get(mode)
            if tf.io.gfile.exists(output_dir):
                tf.io.gfile.rmtree(output_dir)
            failed_before = self._unconvertible.get((export_format.runtime, mode))
            if failed_before:
                errors.append(f"{mode} input: as for {failed_before}")
                continue
            try:
                outputs, latency_ms, seconds = self._convert_and_run(
                    export_format, source, output_dir, mode
                )
            except runtimes.RuntimeUnavailableError as error:
                errors.append(str(error))
                break  # the other input form needs the same runtime
            except ExportStepError as failure:
                log.warning("%s", failure)
                errors.append(failure.record)
                self._unconvertible.setdefault((export_format.runtime, mode), export_format.name)
                continue
            measurement = self._measure(export_format, output_dir, mode, outputs, latency_ms)
            result = FormatResult.measured(export_format, errors, measurement)
            log.info("%s: %s", export_format.name, result.to_json())
            report(progress_line(result, self._task.metric, len(self._inputs.labels), seconds))
            return result
        result = FormatResult.failed(export_format, errors)
        report(progress_line(result, self._task.metric, len(self._inputs.labels)))
        return result

    def _convert_and_run(
        self, export_format: ExportFormat, source: str, output_dir: str, mode: str
    ) -> tuple[dict[str, np.ndarray], float | None, StepSeconds]:
        started = time.perf_counter()
        with _step(export_format, CONVERT, mode):
            export_format.convert(source, output_dir, self._inputs.representative(mode))
        converted = time.perf_counter()
        with _step(export_format, RUN, mode):
            outputs, latency_ms = runtimes.predict(
                export_format,
                output_dir,
                self._inputs.get(mode, TEST_SPLIT),
                self._settings.latency_examples,
            )
        seconds = StepSeconds(convert=converted - started, run=time.perf_counter() - converted)
        return outputs, latency_ms, seconds

    def _measure(
        self,
        export_format: ExportFormat,
        output_dir: str,
        mode: str,
        outputs: dict[str, np.ndarray],
        latency_ms: float | None,
    ) -> Measurement:
        comparison = compare(
            self._task.metric,
            self._task.problem_type,
            outputs,
            dict(self._reference_outputs),
            self._inputs.labels,
            self._settings.tolerance,
            self._sources.threshold,
        )
        weight_bytes = sizes.weight_bytes(output_dir, export_format)
        return Measurement(
            input=mode,
            inputs=describe(self._inputs.get(mode, TEST_SPLIT)),
            size_bytes=sizes.folder_bytes(output_dir),
            weight_bytes=weight_bytes,
            gzip_bytes=sizes.gzip_bytes(output_dir),
            size_ratio=round(weight_bytes / self._reference_weight_bytes, 4),
            comparison=comparison,
            latency_ms=latency_ms,
        )
