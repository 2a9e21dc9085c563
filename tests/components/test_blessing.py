"""The blessing verdict: beat the common-sense baseline by a margin, do not regress."""

from components.blessing import decide


def test_first_model_that_beats_the_baseline_is_blessed():
    blessed, reasons = decide("accuracy", 0.88, 0.10, None, margin=0.1, tolerance=0.01)
    assert blessed
    assert any("beats the common-sense baseline" in r for r in reasons)
    assert any("no earlier blessed model" in r for r in reasons)


def test_model_within_the_margin_of_the_baseline_is_not_blessed():
    # Removing 10 % of the baseline's error (0.90) needs accuracy 1 - 0.9 * 0.9 = 0.19.
    blessed, reasons = decide("accuracy", 0.18, 0.10, None, margin=0.1, tolerance=0.01)
    assert not blessed
    assert any("does not beat" in r and "0.1800" in r and "0.1900" in r for r in reasons)
    assert decide("accuracy", 0.20, 0.10, None, margin=0.1, tolerance=0.01)[0]


def test_regression_against_the_last_blessed_model_is_not_blessed():
    blessed, reasons = decide("auc", 0.85, 0.5, 0.90, margin=0.1, tolerance=0.01)
    assert not blessed
    assert any("regresses against the last blessed model" in r for r in reasons)


def test_an_error_metric_must_be_lower_than_the_baseline():
    assert decide("mae", 2.5, 6.0, None, margin=0.1, tolerance=0.05)[0]
    assert not decide("mae", 5.9, 6.0, None, margin=0.1, tolerance=0.05)[0]
    assert not decide("mae", 2.9, 6.0, 2.5, margin=0.1, tolerance=0.05)[0]
