"""The one screen of `dlwp report MODEL` (components/reporting/text.py): short, in plain words,
with the numbers recounted here from the samples' own arrays."""

import numpy as np
import pytest
from sample_reports import (
    SAMPLES,
    binary_arrays,
    binary_table,
    multiclass_image,
    regression,
    word_sequence,
)

from components.reporting.text import report_text

PAGE = "/home/me/dlwp/reports/m/3/report.html"


def said(report: dict) -> str:
    """The screen's words, with the wrapping undone."""
    return " ".join(" ".join(report_text(report, PAGE)).split())


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_fits_one_screen_and_ends_with_the_page(name):
    lines = report_text(SAMPLES[name](), PAGE)
    assert len(lines) <= 25
    assert max(len(line) for line in lines) <= 100
    assert lines[-1] == f"Page: {PAGE}"


def test_multiclass_says_right_of_100_and_the_top_confusions():
    report = multiclass_image()
    confusion = np.array(report["classes"]["confusion"])
    text = said(report)
    right = round(100 * np.trace(confusion) / confusion.sum())
    assert f"Right on {right} of 100 test images" in text
    off = confusion - np.diag(np.diag(confusion))
    true, predicted = np.unravel_index(np.argmax(off), off.shape)
    names = report["classes"]["names"]
    assert f"{names[true]} taken for {names[predicted]} {off.max()} times" in text


def test_binary_says_the_live_threshold_and_its_counts_per_day():
    report = binary_table()
    labels, scores = binary_arrays("binary_table")
    flagged = scores > report["threshold"]["live"]
    false_positives = 1000 * np.sum(flagged & (labels == 0)) / labels.size
    false_negatives = 1000 * np.sum(~flagged & (labels == 1)) / labels.size
    text = said(report)
    assert f"Live threshold {report['threshold']['live']:.4g}" in text
    assert "to keep false positives at 5 %" in text
    assert f"flags {false_positives:.0f} valid cases a day for review" in text
    assert f"misses {false_negatives:.0f} fraudulent ones" in text


def test_auc_is_said_as_a_ranking_of_the_classes():
    text = said(word_sequence())
    assert "Ranks a random 'positive' test text above a random 'negative' one" in text
    assert "No earlier version was blessed" in text


def test_auc_without_class_names_names_the_class_ids():
    report = binary_table()
    report["task"]["class_names"] = None
    text = said(report)
    assert "test row of class 1 above a random one of class 0" in text
    assert "cases of class 0 a day for review" in text


def test_regression_says_the_typical_error_and_the_tolerance():
    report = regression()
    errors = np.array(report["regression"]["sorted_sample"])
    tolerance = report["regression"]["tolerance"]
    text = said(report)
    assert f"Typical error {errors.mean():.3g}" in text
    assert f"{100 * np.mean(errors <= tolerance):.0f} % of test rows within ±{tolerance:g}" in text
    assert "Always predicting the training mean is off by" in text


def test_exports_say_size_and_why_not_published():
    text = said(multiclass_image())
    assert "TFLite: 1.61 MB (1.48 MB gzipped)" in text
    assert "TF.js: 1.65 MB (1.5 MB gzipped); not published: tensorflowjs is not installed." in text
