"""The raw-feature form `serving_default` takes, as numpy batches (components/signatures.py)."""

from __future__ import annotations

import numpy as np


def concatenate_batches(arrays: list[np.ndarray]) -> np.ndarray:
    """Batches of one input as one batch, along the first axis; word lists (2-D, padded with 0
    as `serving_default` takes them) are padded with 0 to the longest."""
    if arrays[0].ndim == 2:
        width = max(a.shape[1] for a in arrays)
        # np.pad costs tens of µs even when there is nothing to pad: only the narrower ones.
        arrays = [
            a if a.shape[1] == width else np.pad(a, ((0, 0), (0, width - a.shape[1])))
            for a in arrays
        ]
    return np.concatenate(arrays)
