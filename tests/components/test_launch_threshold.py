"""The launch threshold's rules (components/launch_threshold.py) against recounts by hand: the
rates of `scores > t` counted with numpy, and every candidate threshold tried by brute force."""

import numpy as np
import pytest

from components.launch_threshold import ThresholdRule, choose_threshold, rates_at
from pipelines.settings import TrainingOptions


def recount(labels, scores, threshold):
    """fpr, fnr, recall, precision of `scores > threshold`, counted one by one."""
    flagged = [s > threshold for s in scores]
    tp = sum(1 for f, y in zip(flagged, labels, strict=True) if f and y == 1)
    fp = sum(1 for f, y in zip(flagged, labels, strict=True) if f and y == 0)
    positives, negatives = sum(labels), len(labels) - sum(labels)
    return {
        "fpr": fp / negatives,
        "fnr": (positives - tp) / positives,
        "recall": tp / positives,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
    }


def noisy_eval(n=400, seed=0):
    """Scores that rank positives higher, with overlap and ties, as float32 values."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(np.int64)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.15), 0, 1)
    scores = np.round(scores, 2).astype(np.float32)  # ties, as a calibrated model has
    return labels, scores.astype(np.float64)


def candidates(scores):
    """Thresholds that cover every operating point: each score, and just below the lowest."""
    distinct = np.unique(scores)
    return [np.nextafter(distinct[0], -np.inf), *distinct]


def test_rates_are_those_counted_by_hand():
    labels, scores = noisy_eval()
    for threshold in (0.2, 0.37, 0.5, 0.65):
        assert rates_at(labels, scores, threshold) == pytest.approx(
            recount(labels.tolist(), scores.tolist(), threshold)
        )


def test_a_score_equal_to_the_threshold_is_not_flagged():
    rates = rates_at([0, 1, 1], [0.5, 0.5, 0.9], 0.5)
    assert rates["fpr"] == 0.0 and rates["recall"] == 0.5 and rates["precision"] == 1.0


def test_precision_is_zero_when_nothing_is_flagged():
    assert rates_at([0, 1], [0.2, 0.3], 0.9)["precision"] == 0.0


@pytest.mark.parametrize("target", [0.01, 0.05, 0.1, 0.3])
def test_target_fpr_gives_the_best_recall_any_threshold_reaches_within_it(target):
    labels, scores = noisy_eval()
    live = choose_threshold(labels, scores, ThresholdRule("target_fpr", target))
    rates = recount(labels.tolist(), scores.tolist(), live)
    assert rates["fpr"] <= target
    best = max(
        recount(labels.tolist(), scores.tolist(), t)["recall"]
        for t in candidates(scores)
        if recount(labels.tolist(), scores.tolist(), t)["fpr"] <= target
    )
    assert rates["recall"] == best
    assert np.float32(live) == live  # the SavedModel's float32 threshold is this value


@pytest.mark.parametrize("target", [0.5, 0.8, 0.9, 0.99])
def test_target_recall_gives_the_highest_threshold_that_reaches_it(target):
    labels, scores = noisy_eval()
    live = choose_threshold(labels, scores, ThresholdRule("target_recall", target))
    assert recount(labels.tolist(), scores.tolist(), live)["recall"] >= target
    # The next score at or above it flags fewer positives: recall falls short of the target.
    above = scores[scores > live].min()
    assert recount(labels.tolist(), scores.tolist(), above)["recall"] < target


def test_the_chosen_threshold_lies_between_two_eval_scores():
    labels, scores = np.array([0, 0, 1, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    live = choose_threshold(labels, scores, ThresholdRule("target_fpr", 0.34))  # one negative
    assert live == pytest.approx(0.25)  # flags 0.3 and up: recall 1, FPR 1/3
    live = choose_threshold(labels, scores, ThresholdRule("target_recall", 0.6))
    assert live == pytest.approx(0.65)  # flags 0.7 and 0.9: recall 2/3


def test_a_fixed_threshold_is_returned_as_given():
    labels, scores = noisy_eval()
    assert choose_threshold(labels, scores, ThresholdRule("threshold", 0.37)) == 0.37
    assert choose_threshold(labels, scores, ThresholdRule()) == 0.5


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_one_class_only_is_refused_naming_the_missing_class(labels):
    with pytest.raises(ValueError, match="no (positive|negative)"):
        choose_threshold(labels, [0.1, 0.5, 0.9], ThresholdRule("target_fpr", 0.05))
    with pytest.raises(ValueError, match="no (positive|negative)"):
        rates_at(labels, [0.1, 0.5, 0.9], 0.5)


def test_an_fpr_no_positive_can_be_flagged_within_is_refused():
    # The highest score is a negative's: flagging any positive costs FPR 1/2.
    with pytest.raises(ValueError, match="raise --target-fpr"):
        choose_threshold([0, 1, 0], [0.9, 0.5, 0.1], ThresholdRule("target_fpr", 0.1))


def test_labels_other_than_zero_and_one_are_refused():
    with pytest.raises(ValueError, match="0 or 1"):
        rates_at([0, 2], [0.1, 0.9], 0.5)


def test_rules_round_trip_through_json():
    rule = ThresholdRule("target_recall", 0.9)
    assert ThresholdRule.from_json(rule.to_json()) == rule
    with pytest.raises(ValueError, match="unknown threshold rule"):
        ThresholdRule("target_precision", 0.9)


def test_the_flags_give_the_rule_and_refuse_two_or_out_of_range():
    from components.errors import SettingsError

    assert TrainingOptions().threshold_rule == ThresholdRule("threshold", 0.5)
    assert TrainingOptions(target_fpr=0.05).threshold_rule == ThresholdRule("target_fpr", 0.05)
    with pytest.raises(SettingsError, match="at most one of"):
        TrainingOptions(threshold=0.3, target_recall=0.9)
    with pytest.raises(SettingsError, match="--target-recall is a rate"):
        TrainingOptions(target_recall=1.0)
    with pytest.raises(SettingsError, match="but fashion_mnist is a multiclass task"):
        TrainingOptions(threshold=0.3).check_task("fashion_mnist", "multiclass")
    TrainingOptions(threshold=0.3).check_task("imdb", "binary")


def test_threshold_json_holds_the_rule_the_live_value_and_its_eval_rates():
    from components.trainer import launch_threshold

    labels, scores = noisy_eval()
    threshold = launch_threshold(ThresholdRule("target_recall", 0.9), labels, scores)
    assert set(threshold) == {"rule", "live", "chosen_on", "eval_examples", "eval"}
    assert threshold["rule"] == {"kind": "target_recall", "value": 0.9}
    assert threshold["chosen_on"] == "eval" and threshold["eval_examples"] == labels.size
    assert threshold["eval"] == pytest.approx(
        recount(labels.tolist(), scores.tolist(), threshold["live"])
    )


def test_a_fixed_threshold_on_one_class_eval_rows_has_no_rates_but_a_target_fails():
    from components.trainer import launch_threshold

    threshold = launch_threshold(ThresholdRule(), [0, 0, 0], [0.1, 0.6, 0.9])
    assert threshold["live"] == 0.5 and threshold["eval"] is None
    with pytest.raises(ValueError, match="no positive"):
        launch_threshold(ThresholdRule("target_fpr", 0.1), [0, 0, 0], [0.1, 0.6, 0.9])
