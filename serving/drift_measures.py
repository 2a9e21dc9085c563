"""Distances between a window of recent values and the training reference, and thresholds
calibrated for the window's size.

- numeric series: Jensen-Shannon divergence (base 2, in [0, 1]) between histograms over bins cut
  at the reference's deciles (open-ended at both ends), as TFDV and Vertex AI use for numbers;
- categorical series (strings, class ids): L-infinity distance between the category
  frequencies, as TFDV uses for categories.

A distance computed on n samples is noisy even without drift, and more so for small n. The
threshold therefore comes from the reference itself: draw n values from it, many times
(bootstrap), measure each sample's distance to the reference, take the 99th percentile and add a
margin. Traffic from the training distribution then stays below it in about 99 % of windows.

    reference = Distribution.numeric(train_values)
    measured = measure_window(reference, recent_values)   # distance, threshold, histograms
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.distance import jensenshannon

JENSEN_SHANNON = "jensen_shannon"
L_INFINITY = "l_infinity"
BINS = 10
BOOTSTRAP_SAMPLES = 400
NULL_QUANTILE = 0.99
MARGIN = 1.3  # the finite reference itself is a sample: live traffic varies a little more
THRESHOLD_STEP = 50  # thresholds are calibrated at sizes rounded down to this step


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """JS divergence (base 2, in [0, 1]) of two distributions over the same bins.

    An empty histogram (all zeros: a window whose values were all missing) shares no mass with
    the other, so the divergence is half the other's mass, and 0 between two empty ones.
    """
    p_mass, q_mass = float(np.sum(p)), float(np.sum(q))
    if p_mass == 0 or q_mass == 0:
        return 0.5 * (p_mass + q_mass)
    # scipy gives the distance, the divergence's square root; rounding can make a divergence
    # of about 0 slightly negative, whose root is NaN: that is 0.
    with np.errstate(invalid="ignore"):
        distance = jensenshannon(p, q, base=2)
    return float(np.nan_to_num(distance) ** 2)


@dataclasses.dataclass
class Distribution:
    """A reference distribution: numeric (bin edges + probabilities) or categorical."""

    measure: str
    probabilities: np.ndarray
    values: np.ndarray  # the reference sample, for the bootstrap
    edges: np.ndarray | None = None  # inner edges of the numeric bins
    categories: tuple = ()
    _strings: bool = False
    _thresholds: dict[int, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def numeric(cls, values: ArrayLike, bins: int = BINS) -> Distribution:
        """The distribution of a numeric series: `bins` bins cut at its quantiles."""
        numbers = np.asarray(values, np.float64)
        numbers = numbers[~np.isnan(numbers)]
        inner = np.linspace(0, 1, bins + 1)[1:-1]
        edges = np.unique(np.quantile(numbers, inner)) if len(numbers) else np.zeros(0)
        reference = cls(JENSEN_SHANNON, np.zeros(len(edges) + 1), numbers, edges=edges)
        reference.probabilities = reference.histogram(numbers)
        return reference

    @classmethod
    def categorical(cls, values: ArrayLike) -> Distribution:
        """The distribution of a categorical series (strings, or class ids)."""
        items = np.asarray(values)
        strings = items.dtype.kind in "OUS"
        if strings:
            items = items.astype(object)
        categories, counts = np.unique(items, return_counts=True)
        return cls(
            L_INFINITY,
            counts / max(1, counts.sum()),
            items,
            categories=tuple(categories.tolist()),
            _strings=strings,
        )

    def histogram(self, values: np.ndarray) -> np.ndarray:
        """The frequencies of `values` over this distribution's bins or categories (unseen
        categories are left out here; `distance` counts them)."""
        if self.edges is not None:
            counts = np.bincount(
                np.searchsorted(self.edges, values, side="right"), minlength=len(self.edges) + 1
            )
        elif not self.categories:
            counts = np.zeros(0, np.int64)
        else:  # categories are sorted (np.unique): search, then keep the exact matches
            known = np.asarray(self.categories, dtype=object if self._strings else None)
            positions = np.minimum(np.searchsorted(known, values), len(known) - 1)
            seen = known[positions] == values
            counts = np.bincount(positions[seen], minlength=len(known))
        return counts / max(1, len(values))

    def distance(self, values: ArrayLike) -> float:
        """The distance of a sample to this distribution."""
        sample = np.asarray(values)
        if self.measure == JENSEN_SHANNON:
            sample = sample[~np.isnan(sample.astype(np.float64))]
            return jensen_shannon(self.histogram(sample), self.probabilities)
        frequencies = self.histogram(sample)
        unseen = 1.0 - frequencies.sum()  # mass on categories the reference never saw
        return float(max(np.max(np.abs(frequencies - self.probabilities), initial=0.0), unseen))

    def threshold(self, n: int, seed: int = 0) -> float:
        """The distance that n samples of the reference itself exceed in 1 % of draws, times
        MARGIN; cached per n."""
        if n not in self._thresholds:
            rng = np.random.default_rng(seed)
            null = [
                self.distance(rng.choice(self.values, n, replace=True))
                for _ in range(BOOTSTRAP_SAMPLES)
            ]
            self._thresholds[n] = float(np.quantile(null, NULL_QUANTILE) * MARGIN)
        return self._thresholds[n]


def threshold_size(n: int) -> int:
    """The sample size a window of n values is calibrated at (rounded down to THRESHOLD_STEP)."""
    return max(THRESHOLD_STEP, n - n % THRESHOLD_STEP)


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One series of a window measured against its reference (`/monitoring/drift` shows it).

    Attributes:
        measure: JENSEN_SHANNON or L_INFINITY.
        samples: values in the window.
        distance: the window's distance to the reference.
        threshold: the threshold at the window's size.
        drifted: distance > threshold.
        bins: the inner bin edges (numeric) or the categories, as strings.
        reference: the reference's frequency per bin or category.
        recent: the window's.
    """

    measure: str
    samples: int
    distance: float
    threshold: float
    drifted: bool
    bins: list[Any]
    reference: list[float]
    recent: list[float]

    def as_json(self) -> dict[str, Any]:
        """The measurement as `/monitoring/drift` answers it."""
        return dataclasses.asdict(self)


def measure_window(distribution: Distribution, values: np.ndarray) -> Measurement:
    """The distance of a window's values to `distribution`, with its threshold."""
    distance = distribution.distance(values)
    threshold = distribution.threshold(threshold_size(len(values)))
    return Measurement(
        measure=distribution.measure,
        samples=len(values),
        distance=distance,
        threshold=threshold,
        drifted=distance > threshold,
        bins=(
            distribution.edges.tolist()
            if distribution.edges is not None
            else [str(c) for c in distribution.categories]
        ),
        reference=distribution.probabilities.tolist(),
        recent=distribution.histogram(values).tolist(),
    )
