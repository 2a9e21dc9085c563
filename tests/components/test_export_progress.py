"""The Exporter's line per format for the person waiting (components.step_progress): how long
it took, the metric on the test split against the SavedModel's, and whether it was published."""

from components.exporting.format_export import StepSeconds, progress_line
from components.exporting.formats import FORMATS
from components.exporting.parity import Comparison
from components.exporting.report import FormatResult, Measurement

TFLITE_FLOAT16 = next(f for f in FORMATS if f.name == "tflite_float16")


def _result(delta: float, reason: str | None, input_form: str = "raw") -> FormatResult:
    comparison = Comparison(
        metric=0.8812 + delta,
        delta=delta,
        agreement=1.0,
        max_abs_diff=0.001,
        passed=reason is None,
        reason=reason,
    )
    measurement = Measurement(
        input=input_form,
        inputs={"image": {"dtype": "int64", "shape": [None, 784]}},
        size_bytes=10,
        weight_bytes=8,
        gzip_bytes=6,
        size_ratio=0.5,
        comparison=comparison,
        latency_ms=0.04,
    )
    return FormatResult.measured(TFLITE_FLOAT16, [], measurement)


def test_a_published_format_shows_its_times_metric_and_delta():
    line = progress_line(_result(0.0, None), "accuracy", 10000, StepSeconds(1.24, 0.31))
    assert line == (
        "tflite_float16  converted 1.2 s  ran 0.3 s  parity on 10000 examples: "
        "accuracy 0.8812 (delta +0.0000) published"
    )


def test_a_format_over_the_tolerance_says_why_it_is_not_published():
    reason = "accuracy 0.8612 is more than 0.01 below the SavedModel's 0.8812"
    line = progress_line(_result(-0.02, reason, "transformed"), "accuracy", 300)
    assert line == (
        "tflite_float16  parity on 300 examples (transformed input): accuracy 0.8612 "
        f"(delta -0.0200) not published: {reason}"
    )


def test_a_format_that_did_not_convert_shows_the_start_of_its_errors():
    errors = ["raw input: ConverterError: " + "x" * 1000]
    line = progress_line(FormatResult.failed(TFLITE_FLOAT16, errors), "accuracy", 10000)
    assert line.startswith("tflite_float16  not exported: raw input: ConverterError: xxx")
    assert len(line) < 400
