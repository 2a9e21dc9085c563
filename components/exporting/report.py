"""What an export run found, as parity.json and golden.json hold it (docs/exports.md).

result = FormatResult.measured(export_format, errors, measurement)  # converted and ran
result = FormatResult.failed(export_format, errors)                 # no input form did
result.to_json()                         # its parity.json entry
report.parity_json(model, version)       # the whole file; report.golden_json likewise
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from components.exporting.export_inputs import RAW, TEST_SPLIT, TRANSFORMED, ExportInputs
from components.exporting.formats import ExportFormat
from components.exporting.parity import Comparison
from contract.task import TaskContract

# The format whose input form golden.json gives (the browser page runs it).
GOLDEN_FORMAT = "tfjs_float32"


@dataclasses.dataclass(frozen=True)
class Measurement:
    """A format that converted and ran: on which input form, its sizes, how it compares with
    the SavedModel, and its median single-example latency."""

    input: str  # RAW or TRANSFORMED
    inputs: dict[str, dict[str, Any]]  # export_inputs.describe
    size_bytes: int
    weight_bytes: int
    gzip_bytes: int
    size_ratio: float  # weight bytes / the SavedModel's
    comparison: Comparison
    latency_ms: float | None


@dataclasses.dataclass(frozen=True)
class FormatResult:
    """The outcome of one format: published, failed the parity gate, or not converted (then
    `measurement` is None and `errors` say why)."""

    name: str
    runtime: str
    description: str
    errors: tuple[str, ...] = ()  # of the input forms tried before, or instead of, success
    measurement: Measurement | None = None

    @classmethod
    def measured(
        cls, export_format: ExportFormat, errors: list[str], measurement: Measurement
    ) -> FormatResult:
        """A format that converted and ran on one input form."""
        return cls(
            export_format.name,
            export_format.runtime,
            export_format.description,
            tuple(errors),
            measurement,
        )

    @classmethod
    def failed(cls, export_format: ExportFormat, errors: list[str]) -> FormatResult:
        """A format that no input form converted and ran."""
        return cls(
            export_format.name, export_format.runtime, export_format.description, tuple(errors)
        )

    @property
    def published(self) -> bool:
        """True when it converted, ran, and passed the parity gate."""
        return self.measurement is not None and self.measurement.comparison.passed

    @property
    def reason(self) -> str | None:
        """Why it is not published (None when it is)."""
        if self.measurement is None:
            return "; ".join(self.errors)
        return self.measurement.comparison.reason

    @property
    def input(self) -> str | None:
        """The input form it takes (None when it did not convert)."""
        return None if self.measurement is None else self.measurement.input

    def to_json(self) -> dict[str, Any]:
        """Its entry in parity.json's `formats`."""
        entry: dict[str, Any] = {"runtime": self.runtime, "description": self.description}
        m = self.measurement
        if m is not None:
            entry.update(
                input=m.input,
                inputs=m.inputs,
                size_bytes=m.size_bytes,
                weight_bytes=m.weight_bytes,
                gzip_bytes=m.gzip_bytes,
                size_ratio=m.size_ratio,
                metric=m.comparison.metric,
                delta=m.comparison.delta,
                agreement=m.comparison.agreement,
                max_abs_diff=m.comparison.max_abs_diff,
                latency_ms=m.latency_ms,
            )
        entry.update(published=self.published, reason=self.reason, errors=list(self.errors))
        return entry


@dataclasses.dataclass(frozen=True)
class ReferenceResult:
    """The SavedModel every format is compared with."""

    weight_bytes: int
    gzip_bytes: int
    metric: float
    latency_ms: float | None

    def to_json(self) -> dict[str, Any]:
        """parity.json's `reference`."""
        return {"format": "saved_model", **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """Every format's outcome, the reference, and the golden examples of one model version."""

    metric: str
    test_examples: int
    tolerance: float | None
    reference: ReferenceResult
    formats: Mapping[str, FormatResult]
    golden: Mapping[str, Any]  # golden.json without model and version; numpy values

    def parity_json(self, model: str, version: int) -> dict[str, Any]:
        """parity.json's content."""
        return {
            "model": model,
            "version": version,
            "metric": self.metric,
            "test_examples": self.test_examples,
            "tolerance": self.tolerance,
            "reference": self.reference.to_json(),
            "formats": {name: result.to_json() for name, result in self.formats.items()},
        }

    def golden_json(self, model: str, version: int) -> dict[str, Any]:
        """golden.json's content (numpy arrays are left for the JSON writer's `default`)."""
        return {"model": model, "version": version, **self.golden}


def _finite(array: np.ndarray) -> Any:
    """Nested lists for JSON, with NaN (a missing number) as null."""
    if array.dtype.kind != "f":
        return array
    values = array.astype(object)
    values[np.isnan(array)] = None
    return values.tolist()


def golden_examples(
    inputs: ExportInputs,
    reference_outputs: Mapping[str, np.ndarray],
    results: Mapping[str, FormatResult],
    task: TaskContract,
    count: int,
) -> dict[str, Any]:
    """The first `count` test examples with the SavedModel's answers: raw inputs, and the
    transformed ones when a format takes them; the input form the browser's format takes."""
    golden_result = results.get(GOLDEN_FORMAT)
    used = {result.input for result in results.values()}
    return {
        "input": (golden_result.input if golden_result else None) or RAW,
        "inputs": {
            name: _finite(values[:count]) for name, values in inputs.get(RAW, TEST_SPLIT).items()
        },
        "transformed_inputs": (
            {k: v[:count] for k, v in inputs.get(TRANSFORMED, TEST_SPLIT).items()}
            if TRANSFORMED in used
            else None
        ),
        "labels": inputs.labels[:count],
        "outputs": {key: value[:count] for key, value in reference_outputs.items()},
        "class_names": list(task.class_names) if task.class_names else None,
    }
