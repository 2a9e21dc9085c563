"""Drift distances and their sample-size-aware thresholds."""

import numpy as np
import pytest

from contract.drift_series import feature_series, out_of_domain
from contract.schema_domains import Domain
from serving.drift_measures import Distribution, jensen_shannon


def test_jensen_shannon_is_zero_for_equal_and_one_for_disjoint_distributions():
    p = np.array([0.2, 0.3, 0.5])
    assert jensen_shannon(p, p) == pytest.approx(0.0)
    assert jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def test_jensen_shannon_is_the_divergence_in_bits_not_its_square_root():
    # p = [1, 0], q = [1/2, 1/2], m = [3/4, 1/4]: KL(p||m) = log2(4/3),
    # KL(q||m) = 1/2 log2(2/3) + 1/2 log2(2); JS = (KL(p||m) + KL(q||m)) / 2.
    by_hand = (np.log2(4 / 3) + 0.5 * np.log2(2 / 3) + 0.5) / 2
    assert by_hand == pytest.approx(0.3112781, abs=1e-7)
    assert jensen_shannon(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(by_hand)


def test_jensen_shannon_of_nearly_equal_distributions_is_about_zero_never_nan():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.dirichlet(np.ones(10))
        q = np.abs(p + rng.normal(0, 1e-12, 10))
        distance = jensen_shannon(p, q / q.sum())
        assert 0.0 <= distance < 1e-12


def test_an_empty_histogram_is_half_apart_from_a_distribution_and_level_with_another():
    empty, p = np.zeros(3), np.array([0.2, 0.3, 0.5])
    assert jensen_shannon(empty, p) == pytest.approx(0.5)
    assert jensen_shannon(p, empty) == pytest.approx(0.5)
    assert jensen_shannon(empty, empty) == 0.0
    assert Distribution.numeric(np.arange(100.0)).distance([np.nan] * 5) == pytest.approx(0.5)


def test_l_infinity_counts_categories_the_reference_never_saw():
    reference = Distribution.categorical(["a"] * 50 + ["b"] * 50)
    assert reference.distance(["a"] * 50 + ["b"] * 50) == pytest.approx(0.0)
    assert reference.distance(["a"] * 30 + ["c"] * 70) == pytest.approx(0.7)


@pytest.mark.parametrize("n", [200, 500])
def test_same_distribution_windows_rarely_cross_the_threshold(n):
    rng = np.random.default_rng(0)
    reference = Distribution.numeric(rng.normal(0, 1, 5000))
    threshold = reference.threshold(n)
    crossed = [reference.distance(rng.normal(0, 1, n)) > threshold for _ in range(500)]
    assert np.mean(crossed) <= 0.02  # calibrated for 1 %; fresh samples, not the reference's


def test_half_a_standard_deviation_is_caught_in_one_window_of_500():
    rng = np.random.default_rng(1)
    reference = Distribution.numeric(rng.normal(0, 1, 5000))
    threshold = reference.threshold(500)
    caught = [reference.distance(rng.normal(0.5, 1, 500)) > threshold for _ in range(200)]
    assert np.mean(caught) >= 0.8


def test_thresholds_shrink_as_windows_grow():
    rng = np.random.default_rng(2)
    reference = Distribution.categorical(rng.integers(0, 10, 5000))
    assert reference.threshold(100) > reference.threshold(500) > 0


def test_images_and_word_lists_become_a_few_interpretable_series():
    images = np.zeros((2, 784), np.int64)
    images[1, :392] = 255
    series = feature_series("image", images)
    np.testing.assert_allclose(series["mean_intensity"], [0.0, 0.5])
    np.testing.assert_allclose(series["ink_fraction"], [0.0, 0.5])
    words = np.array([[5, 2, 9, 0], [12_000, 4, 0, 0]])
    vocabulary = Domain(min=0, max=9_999)
    series = feature_series("sequence", words, vocabulary)
    np.testing.assert_allclose(series["length"], [3, 2])
    np.testing.assert_allclose(series["oov_rate"], [1 / 3, 1 / 2])
    assert out_of_domain("sequence", words, vocabulary).tolist() == [False, True]
