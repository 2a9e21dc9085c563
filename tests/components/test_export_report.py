"""What the Exporter records and publishes (docs/exports.md): how a format falls back to the
transformed input form, its parity.json entry, the version folder with only the formats that
passed, and latest.json moving forward only."""

import json

import numpy as np

from components.exporting.formats import FORMATS, ExportFormat
from components.exporting.parity import Comparison
from components.exporting.publishing import publish_exports
from components.exporting.report import (
    ExportReport,
    FormatResult,
    Measurement,
    ReferenceResult,
)

TFLITE, TFJS = FORMATS[0], FORMATS[4]


def _measured(passed: bool) -> FormatResult:
    comparison = Comparison(
        metric=0.9,
        delta=-0.02 if not passed else 0.0,
        agreement=0.97,
        max_abs_diff=0.05,
        passed=passed,
        reason=None if passed else "accuracy 0.9000 is more than 0.01 below the SavedModel's",
    )
    measurement = Measurement(
        input="transformed",
        inputs={"image": {"dtype": "float32", "shape": [None, 784]}},
        size_bytes=120,
        weight_bytes=100,
        gzip_bytes=80,
        size_ratio=0.5,
        comparison=comparison,
        latency_ms=0.25,
    )
    return FormatResult.measured(TFLITE, ["raw input: ValueError: no op"], measurement)


def test_a_measured_format_has_every_field_of_parity_json_in_order():
    entry = _measured(passed=True).to_json()
    assert list(entry) == [
        "runtime",
        "description",
        "input",
        "inputs",
        "size_bytes",
        "weight_bytes",
        "gzip_bytes",
        "size_ratio",
        "metric",
        "delta",
        "agreement",
        "max_abs_diff",
        "latency_ms",
        "published",
        "reason",
        "errors",
    ]
    assert entry["published"] is True and entry["reason"] is None
    assert entry["errors"] == ["raw input: ValueError: no op"]


def test_a_format_that_did_not_convert_gives_its_errors_as_the_reason():
    errors = ["raw input: RuntimeError: x", "transformed input: as for tfjs_float32"]
    assert FormatResult.failed(TFJS, errors).to_json() == {
        "runtime": "tfjs",
        "description": "TF.js graph model, float32",
        "published": False,
        "reason": "raw input: RuntimeError: x; transformed input: as for tfjs_float32",
        "errors": errors,
    }


def _report(results: dict[str, FormatResult]) -> ExportReport:
    return ExportReport(
        metric="accuracy",
        test_examples=3,
        tolerance=None,
        reference=ReferenceResult(weight_bytes=200, gzip_bytes=150, metric=0.92, latency_ms=1.5),
        formats=results,
        golden={
            "input": "raw",
            "inputs": {"image": np.zeros((2, 3), np.int64)},
            "labels": np.array([1, 0]),
            "class_names": None,
        },
    )


def test_only_the_formats_that_passed_are_published_beside_parity_and_golden(tmp_path):
    work = tmp_path / "work"
    for name in (TFLITE.name, TFJS.name):
        (work / name).mkdir(parents=True)
        (work / name / "model").write_text(name)
    results = {TFLITE.name: _measured(passed=True), TFJS.name: FormatResult.failed(TFJS, ["x"])}
    exports = tmp_path / "exports"
    target = publish_exports(_report(results), str(work), str(exports), "tiny", 3)
    assert sorted(p.name for p in exports.iterdir()) == ["3", "latest.json"]
    assert sorted(p.name for p in (exports / "3").iterdir()) == [
        "golden.json",
        "parity.json",
        TFLITE.name,
    ]
    parity_text = (exports / "3" / "parity.json").read_text()
    parity = json.loads(parity_text)
    assert parity_text.startswith('{\n "model"')  # indent=1, as published before
    assert list(parity) == [
        "model",
        "version",
        "metric",
        "test_examples",
        "tolerance",
        "reference",
        "formats",
    ]
    assert parity["reference"] == {
        "format": "saved_model",
        "weight_bytes": 200,
        "gzip_bytes": 150,
        "metric": 0.92,
        "latency_ms": 1.5,
    }
    assert parity["formats"][TFJS.name]["reason"] == "x"
    golden = json.loads((exports / "3" / "golden.json").read_text())
    assert golden == {
        "model": "tiny",
        "version": 3,
        "input": "raw",
        "inputs": {"image": [[0, 0, 0], [0, 0, 0]]},
        "labels": [1, 0],
        "class_names": None,
    }
    assert target == str(exports / "3")
    assert json.loads((exports / "latest.json").read_text()) == {"version": 3}


def test_latest_json_never_moves_back_to_an_older_version(tmp_path):
    exports = tmp_path / "exports"
    publish_exports(_report({}), str(tmp_path), str(exports), "tiny", 5)
    publish_exports(_report({}), str(tmp_path), str(exports), "tiny", 4)
    assert json.loads((exports / "latest.json").read_text()) == {"version": 5}
    assert sorted(p.name for p in exports.iterdir()) == ["4", "5", "latest.json"]


class _Sources:
    threshold = 0.5  # the pushed model's launch threshold

    def get(self, mode):
        return f"/source/{mode}"


class _Inputs:
    labels = np.array([0, 1, 1])

    def get(self, mode, split):
        return {"x": np.zeros((3, 2), np.float32)}

    def representative(self, mode):
        return lambda: iter(())


def _format(name, fails_on=()):
    def convert(source, output_dir, representative):
        if source.rsplit("/", 1)[1] in fails_on:
            raise ValueError(f"{name} cannot convert {source}")

    return ExportFormat(name, "tflite", name, convert)


def _exporter(monkeypatch, tmp_path, predict):
    from components.exporting import format_export
    from components.exporting.settings import ExportSettings
    from contract.task import TaskContract

    monkeypatch.setattr(format_export.runtimes, "predict", predict)
    monkeypatch.setattr(format_export.sizes, "weight_bytes", lambda path, f: 50)
    monkeypatch.setattr(format_export.sizes, "folder_bytes", lambda path: 60)
    monkeypatch.setattr(format_export.sizes, "gzip_bytes", lambda path: 40)
    task = TaskContract(
        features=({"name": "x", "kind": "numeric"},),
        label="y",
        problem_type="binary",
        metric="auc",
    )
    reference = {"scores": np.array([0.2, 0.7, 0.9])}
    return format_export.FormatExporter(
        _Sources(), _Inputs(), reference, 100, task, ExportSettings(latency_examples=0)
    )


def test_a_format_falls_back_to_transformed_inputs_and_its_variants_skip_raw(monkeypatch, tmp_path):
    outputs = {"scores": np.array([0.2, 0.7, 0.9])}
    exporter = _exporter(monkeypatch, tmp_path, lambda *args: (outputs, 0.1))
    plain = exporter.export(_format("plain", fails_on=("raw",)), str(tmp_path / "plain"))
    variant = exporter.export(_format("variant"), str(tmp_path / "variant"))
    assert plain.input == "transformed" and plain.published
    assert plain.errors == ("raw input: ValueError: plain cannot convert /source/raw",)
    assert variant.input == "transformed"  # raw is not tried: it failed for "plain"
    assert variant.errors == ("raw input: as for plain",)
    assert variant.to_json()["size_ratio"] == 0.5


def test_a_missing_runtime_is_recorded_once_and_not_retried(monkeypatch, tmp_path):
    from components.exporting.runtimes import RuntimeUnavailableError

    calls = []

    def predict(export_format, folder, inputs, latency_examples):
        calls.append(folder)
        raise RuntimeUnavailableError("no node; run `make install`")

    exporter = _exporter(monkeypatch, tmp_path, predict)
    result = exporter.export(_format("tfjs_like"), str(tmp_path / "out"))
    assert len(calls) == 1 and not result.published
    assert result.to_json()["reason"] == "no node; run `make install`"


def test_each_format_reports_one_progress_line_with_its_verdict(monkeypatch, tmp_path, caplog):
    outputs = {"scores": np.array([0.2, 0.7, 0.9])}
    exporter = _exporter(monkeypatch, tmp_path, lambda *args: (outputs, 0.1))
    with caplog.at_level("INFO", logger="dlwp.progress"):
        exporter.export(_format("plain"), str(tmp_path / "plain"))
        exporter.export(_format("broken", fails_on=("raw", "transformed")), str(tmp_path / "b"))
    lines = [r.getMessage() for r in caplog.records if r.name == "dlwp.progress"]
    assert len(lines) == 2
    assert lines[0].startswith("plain  converted ")
    assert lines[0].endswith("parity on 3 examples: auc 1.0000 (delta +0.0000) published")
    assert lines[1] == (
        "broken  not exported: raw input: ValueError: broken cannot convert /source/raw; "
        "transformed input: ValueError: broken cannot convert /source/transformed"
    )
