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
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

JENSEN_SHANNON = "jensen_shannon"
L_INFINITY = "l_infinity"
BINS = 10
BOOTSTRAP_SAMPLES = 400
NULL_QUANTILE = 0.99
MARGIN = 1.3  # the finite reference itself is a sample: live traffic varies a little more


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """JS divergence (base 2) of two distributions over the same bins."""
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


@dataclasses.dataclass
class Distribution:
    """A reference distribution: numeric (bin edges + probabilities) or categorical."""

    measure: str
    probabilities: np.ndarray
    edges: np.ndarray | None = None  # inner edges of the numeric bins
    categories: tuple = ()
    values: np.ndarray | None = None  # the reference sample, for the bootstrap
    _strings: bool = False
    _thresholds: dict[int, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def numeric(cls, values: Sequence[float], bins: int = BINS) -> "Distribution":
        values = np.asarray(values, np.float64)
        values = values[~np.isnan(values)]
        quantiles = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]) if len(values) else []
        edges = np.unique(quantiles)
        reference = cls(JENSEN_SHANNON, np.zeros(len(edges) + 1), edges=edges, values=values)
        reference.probabilities = reference.histogram(values)
        return reference

    @classmethod
    def categorical(cls, values: Sequence) -> "Distribution":
        values = np.asarray(values)
        strings = values.dtype.kind in "OUS"
        if strings:
            values = values.astype(object)
        categories, counts = np.unique(values, return_counts=True)
        return cls(
            L_INFINITY,
            counts / max(1, counts.sum()),
            categories=tuple(categories.tolist()),
            values=values,
            _strings=strings,
        )

    def histogram(self, values: np.ndarray) -> np.ndarray:
        """The frequencies of `values` over this distribution's bins or categories (unseen
        categories are left out here; `distance` counts them)."""
        if self.measure == JENSEN_SHANNON:
            counts = np.bincount(
                np.searchsorted(self.edges, values, side="right"), minlength=len(self.edges) + 1
            )
        elif not self.categories:
            counts = np.zeros(0)
        else:  # categories are sorted (np.unique): search, then keep the exact matches
            known = np.asarray(self.categories, dtype=object if self._strings else None)
            positions = np.minimum(np.searchsorted(known, values), len(known) - 1)
            seen = known[positions] == values
            counts = np.bincount(positions[seen], minlength=len(known))
        return counts / max(1, len(values))

    def distance(self, values: Sequence) -> float:
        """The distance of a sample to this distribution."""
        values = np.asarray(values)
        if self.measure == JENSEN_SHANNON:
            values = values[~np.isnan(values.astype(np.float64))]
            return jensen_shannon(self.histogram(values), self.probabilities)
        frequencies = self.histogram(values)
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
