"""The drift window of a model version: its most recent examples, as monitored series, which the
drift monitor measures against the reference (docs/monitoring.md).

    window = DriftWindow()
    window.add(now, {"rooms": values})          # one batch per update, arrays of equal length
    window.trim(now, size=500, max_age_s=3600)  # the last 500 examples, none older than 1 h
    window.values("rooms")
"""

from __future__ import annotations

import collections
import dataclasses
from typing import NamedTuple

import numpy as np


class WindowEntry(NamedTuple):
    """One batch of examples: when it was added (time.monotonic), how many, and its series
    (series name -> one value per example)."""

    when: float
    samples: int
    series: dict[str, np.ndarray]


class DriftWindow:
    """Recent examples, oldest first."""

    def __init__(self) -> None:
        self.entries: collections.deque[WindowEntry] = collections.deque()

    def add(self, when: float, series: dict[str, np.ndarray]) -> None:
        """Adds a batch (series of equal length); an empty one is left out."""
        samples = len(next(iter(series.values())))
        if samples:
            self.entries.append(WindowEntry(when, samples, series))

    def trim(self, now: float, size: int, max_age_s: float) -> None:
        """Drops the entries older than `max_age_s`, then the oldest examples beyond `size`."""
        while self.entries and now - self.entries[0].when > max_age_s:
            self.entries.popleft()
        excess = self.samples - size
        while excess > 0:
            oldest = self.entries.popleft()
            if oldest.samples > excess:  # keep the newest part of the oldest entry
                kept = {name: values[excess:] for name, values in oldest.series.items()}
                self.entries.appendleft(
                    oldest._replace(samples=oldest.samples - excess, series=kept)
                )
            excess -= min(oldest.samples, excess)

    @property
    def samples(self) -> int:
        """Examples in the window."""
        return sum(entry.samples for entry in self.entries)

    def values(self, name: str) -> np.ndarray:
        """One series over the window, oldest first."""
        parts = [entry.series[name] for entry in self.entries if name in entry.series]
        return np.concatenate(parts) if parts else np.array([])


@dataclasses.dataclass
class VersionWindows:
    """The windows of one model version: its raw features' series, and its predictions (calls
    without raw features, such as classify, feed only the predictions)."""

    features: DriftWindow = dataclasses.field(default_factory=DriftWindow)
    predictions: DriftWindow = dataclasses.field(default_factory=DriftWindow)

    def trim(self, now: float, size: int, max_age_s: float) -> None:
        """Trims both windows (see `DriftWindow.trim`)."""
        self.features.trim(now, size, max_age_s)
        self.predictions.trim(now, size, max_age_s)

    @property
    def samples(self) -> int:
        """The examples of the fuller window."""
        return max(self.features.samples, self.predictions.samples)

    @property
    def empty(self) -> bool:
        """True once both windows hold nothing (the version gets no traffic any more)."""
        return not self.features.entries and not self.predictions.entries
