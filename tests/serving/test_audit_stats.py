"""The audit statistics (serving/audit_stats.py) against independent computations: numpy's
weighted mean and variance, scipy's Wilson interval and normal quantiles, hand formulas."""

import math

import numpy as np
import pytest
from scipy import stats

from serving.audit_stats import (
    MIN_LABELS_PER_ARM,
    WeightedSums,
    compare_arms,
    live_metric,
    metric_name,
    observation,
)

Z95 = stats.norm.ppf(0.975)


def _ones(correct: int, n: int) -> WeightedSums:
    return WeightedSums.of([1.0] * correct + [0.0] * (n - correct), [1.0] * n)


@pytest.mark.parametrize(("correct", "n"), [(0, 10), (3, 10), (89, 100), (100, 100), (731, 812)])
def test_accuracy_interval_with_unit_weights_is_scipys_wilson(correct, n):
    expected = stats.binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    result = live_metric("accuracy", _ones(correct, n))
    assert result.value == pytest.approx(correct / n)
    assert result.lower == pytest.approx(expected.low, abs=1e-12)
    assert result.upper == pytest.approx(expected.high, abs=1e-12)
    assert result.count == n
    assert result.effective_count == pytest.approx(n)


def test_weighted_accuracy_is_the_hajek_estimate_on_kishs_count():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.7).astype(float)
    p = rng.uniform(0.05, 1.0, 400)
    result = live_metric("accuracy", WeightedSums.of(y, 1 / p))
    w = 1 / p
    n_eff = w.sum() ** 2 / (w**2).sum()
    value = np.average(y, weights=w)
    # Wilson's interval written out, on the effective count.
    center = (value + Z95**2 / (2 * n_eff)) / (1 + Z95**2 / n_eff)
    half = (
        Z95
        / (1 + Z95**2 / n_eff)
        * math.sqrt(value * (1 - value) / n_eff + Z95**2 / (4 * n_eff**2))
    )
    assert result.value == pytest.approx(value)
    assert result.effective_count == pytest.approx(n_eff)
    assert n_eff < 400  # unequal weights cost precision
    assert (result.lower, result.upper) == pytest.approx((center - half, center + half))


def test_mae_interval_with_unit_weights_is_the_normal_interval_of_the_mean():
    errors = np.abs(np.random.default_rng(1).normal(0, 3, 200))
    result = live_metric("mae", WeightedSums.of(errors, np.ones(200)))
    half = Z95 * errors.std(ddof=1) / math.sqrt(200)
    assert result.metric == "mae"
    assert result.value == pytest.approx(errors.mean())
    assert (result.lower, result.upper) == pytest.approx(
        (errors.mean() - half, errors.mean() + half)
    )


def test_weighted_mae_uses_the_linearised_variance():
    rng = np.random.default_rng(2)
    errors = np.abs(rng.normal(0, 2, 150))
    w = 1 / rng.uniform(0.1, 1.0, 150)
    result = live_metric("mae", WeightedSums.of(errors, w))
    m = (w * errors).sum() / w.sum()
    variance = (w**2 * (errors - m) ** 2).sum() / w.sum() ** 2 * 150 / 149
    assert result.value == pytest.approx(m)
    assert result.upper - result.value == pytest.approx(Z95 * math.sqrt(variance))


def test_mae_lower_bound_is_never_below_zero():
    result = live_metric("mae", WeightedSums.of([0.0, 0.0, 5.0], [1.0, 1.0, 1.0]))
    assert result.lower == 0.0
    assert result.upper > 5 / 3


def test_no_labels_gives_nan_and_one_mae_label_an_unbounded_interval():
    empty = live_metric("accuracy", WeightedSums())
    assert (empty.count, empty.effective_count) == (0, 0.0)
    assert all(math.isnan(v) for v in (empty.value, empty.lower, empty.upper))
    one = live_metric("mae", WeightedSums().add(2.5, 4.0))
    assert (one.value, one.lower, one.upper) == (2.5, 0.0, math.inf)


def test_removing_a_relabelled_example_restores_the_sums():
    base = WeightedSums.of([1.0, 0.0, 1.0], [2.0, 5.0, 1.0])
    changed = base.add(0.0, 10.0).add(0.0, 10.0, sign=-1).add(1.0, 10.0)
    expected = WeightedSums.of([1.0, 0.0, 1.0, 1.0], [2.0, 5.0, 1.0, 10.0])
    assert changed.count == expected.count
    for name in ("sum_w", "sum_w2", "sum_wy", "sum_w2y", "sum_w2y2"):
        assert getattr(changed, name) == pytest.approx(getattr(expected, name))


def test_sums_of_two_sets_are_the_sums_of_their_union():
    a, b = WeightedSums.of([1.0, 0.0], [2.0, 3.0]), WeightedSums.of([1.0], [4.0])
    assert a + b == WeightedSums.of([1.0, 0.0, 1.0], [2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    ("weight", "y"), [(0.0, 1.0), (-1.0, 1.0), (math.inf, 1.0), (1.0, math.nan)]
)
def test_a_bad_weight_or_observation_is_refused(weight, y):
    with pytest.raises(ValueError, match="weight|observation"):
        WeightedSums().add(y, weight)


def test_hajek_estimate_recovers_the_traffic_accuracy_from_uncertainty_sampling():
    # Hard examples (low margin) are wrong more often and logged more often: the unweighted
    # accuracy of the logged sample is too low, the weighted one is not.
    rng = np.random.default_rng(3)
    margin = rng.beta(5, 1.2, 200_000)
    correct = (rng.random(margin.size) < 0.55 + 0.44 * margin).astype(float)
    p = 0.02 + (0.5 - 0.02) * (1 - margin)
    logged = rng.random(margin.size) < p
    result = live_metric("accuracy", WeightedSums.of(correct[logged], 1 / p[logged]))
    truth = correct.mean()
    assert result.lower < truth < result.upper
    assert correct[logged].mean() < result.lower  # the unweighted estimate is biased


def test_observation_and_metric_names():
    assert observation("multiclass", 3.0, 3.0) == 1.0
    assert observation("binary", 1.0, 0.0) == 0.0
    assert observation("regression", 2.5, 4.0) == 1.5
    assert metric_name("regression") == "mae"
    assert metric_name("binary") == metric_name("multiclass") == "accuracy"


def _unequal(mean_a: float, mean_b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.r_[np.ones(round(mean_a * n)), np.zeros(n - round(mean_a * n))], np.r_[
        np.ones(round(mean_b * n)), np.zeros(n - round(mean_b * n))
    ]


def test_difference_interval_and_p_value_match_a_two_sample_z_test():
    ya, yb = _unequal(0.80, 0.86, 1000)
    result = compare_arms(
        "accuracy", WeightedSums.of(ya, np.ones(1000)), WeightedSums.of(yb, np.ones(1000))
    )
    se = math.sqrt(ya.var(ddof=1) / 1000 + yb.var(ddof=1) / 1000)
    assert result.difference == pytest.approx(0.06)
    assert (result.lower, result.upper) == pytest.approx((0.06 - Z95 * se, 0.06 + Z95 * se))
    assert result.p_value == pytest.approx(2 * stats.norm.sf(0.06 / se))
    assert result.outcome == "better"
    assert result.verdict.startswith("B is better than A (+6.0 points, 95 % CI +")


def test_worse_arm_is_named_with_the_arms_names():
    ya, yb = _unequal(0.86, 0.80, 1000)
    result = compare_arms(
        "accuracy",
        WeightedSums.of(ya, np.ones(1000)),
        WeightedSums.of(yb, np.ones(1000)),
        names=("stable", "canary"),
    )
    assert result.outcome == "worse"
    assert result.verdict.startswith("canary is worse than stable (-6.0 points")


def test_lower_mae_is_better():
    rng = np.random.default_rng(4)
    a, b = np.abs(rng.normal(0, 3, 500)), np.abs(rng.normal(0, 2, 500))
    result = compare_arms("mae", WeightedSums.of(a, np.ones(500)), WeightedSums.of(b, np.ones(500)))
    assert result.difference < 0
    assert result.outcome == "better"
    assert "lower MAE is better" in result.verdict


def test_no_difference_says_how_many_labels_would_detect_two_points():
    ya, yb = _unequal(0.89, 0.895, 200)
    result = compare_arms(
        "accuracy", WeightedSums.of(ya, np.ones(200)), WeightedSums.of(yb, np.ones(200))
    )
    # The usual two-sample formula with each arm's per-label variance (ddof=1).
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    needed = math.ceil(z**2 * (ya.var(ddof=1) + yb.var(ddof=1)) / 0.02**2)
    assert result.outcome == "no difference"
    assert result.lower < 0 < result.upper
    assert result.labels_needed == needed
    assert f"about {needed - 200:,} more labels per arm would detect a 2-point difference" in (
        result.verdict
    )


def test_too_few_labels_gives_no_verdict():
    result = compare_arms("accuracy", _ones(20, 25), _ones(30, 31), names=("stable", "canary"))
    assert result.outcome == "too few labels"
    assert result.verdict == (
        f"too few labels: stable has 25, canary has 31; at least {MIN_LABELS_PER_ARM} each"
    )
