"""Uncertainty sampling (serving/sampling.py): unsure examples are logged more often, at the
probability the log records, so that weighing each labelled example by 1/p measures the
traffic's accuracy without bias (docs/monitoring.md, "Feedback")."""

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from scipy import stats

from serving.feedback import FeedbackLogger
from serving.feedback_index import FeedbackIndex
from serving.sampling import UncertaintySampler, margins

RATE, HARD = 0.05, 0.5


def expected_probability(margin):
    return RATE + (HARD - RATE) * (1 - margin)


def test_margins_of_binary_and_multiclass_answers():
    binary = margins("binary", np.array([0.5, 1.0, 0.0, 0.7]), threshold=0.5)
    assert binary.tolist() == pytest.approx([0.0, 1.0, 1.0, 0.4])
    # With t = 0.2 a score of 0 is 0.2 from it, scaled by max(t, 1 - t) = 0.8.
    assert margins("binary", np.array([0.0, 1.0]), threshold=0.2).tolist() == [0.25, 1.0]
    scores = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    assert margins("multiclass", scores).tolist() == pytest.approx([0.2, 0.7])
    assert margins("regression", np.ones(3)) is None


def test_the_logged_fraction_per_margin_bin_is_the_sampling_probability(tmp_path):
    rng = np.random.default_rng(11)
    n = 40_000
    scores = rng.uniform(0, 1, n).astype(np.float32)
    registry = CollectorRegistry()
    logger = FeedbackLogger(
        str(tmp_path), RATE, registry, hard_rate=HARD, seed=5, max_queue=n, rotate_examples=n
    )
    for start in range(0, n, 1000):  # requests of 1000 examples
        chunk = scores[start : start + 1000]
        inputs = {"rooms": np.zeros(len(chunk), np.float32)}
        outputs = {"scores": chunk, "class_ids": (chunk > 0.5).astype(np.int64)}
        logger.observe("spam", 1, "serving_default", inputs, outputs)
    logger.close()
    assert not registry.get_sample_value("dlwp_feedback_dropped_total", {"model": "spam"})
    rows = FeedbackIndex(str(tmp_path / "spam"), writable=False).unlabelled(limit=n)

    logged_margins = np.array([row.margin for row in rows])
    recorded = np.array([row.probability for row in rows])
    assert recorded == pytest.approx(expected_probability(logged_margins))
    all_margins = np.abs(scores.astype(np.float64) - 0.5) / 0.5
    bins = np.linspace(0, 1, 11)
    offered = np.histogram(all_margins, bins)[0]
    logged = np.histogram(logged_margins, bins)[0]
    p = expected_probability(all_margins)
    expected = np.histogram(all_margins, bins, weights=p)[0]
    sigma = np.sqrt(np.histogram(all_margins, bins, weights=p * (1 - p))[0])
    assert np.all(np.abs(logged - expected) <= 3 * sigma), (logged, expected, sigma)
    # The hardest tenth is logged about (0.5 + 0.455) / (0.095 + 0.05) ~ 6.6 times as often.
    assert logged[0] / offered[0] > 5 * logged[-1] / offered[-1]


def test_weighing_by_one_over_p_estimates_the_traffics_accuracy_without_bias():
    sampler = UncertaintySampler(RATE, HARD)
    n, seeds = 100_000, 200
    weighted, unweighted, truth = [], [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        margin = rng.uniform(0, 1, n)
        correct = rng.uniform(0, 1, n) < 0.5 + 0.5 * margin  # the unsure are wrong more often
        p = sampler.probabilities(margin, n)
        logged = rng.uniform(0, 1, n) < p
        w = 1 / p[logged]
        weighted.append(np.sum(w * correct[logged]) / np.sum(w))  # Hájek
        unweighted.append(np.mean(correct[logged]))
        truth.append(np.mean(correct))
    error = np.array(weighted) - np.array(truth)
    bias = np.array(unweighted) - np.array(truth)
    standard_error = stats.sem(error)
    assert abs(np.mean(error)) <= 3 * standard_error
    assert np.mean(bias) < -20 * stats.sem(bias)  # hard examples over-sampled: too low


def test_a_hard_rate_below_the_rate_is_refused():
    with pytest.raises(ValueError, match="between the feedback rate 0.2 and 1"):
        UncertaintySampler(0.2, 0.1)
    assert UncertaintySampler(0.2).probabilities(np.zeros(3), 3).tolist() == [0.2] * 3
