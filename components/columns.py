"""Split columns: the in-memory form of a split between a loader and the ExampleGen's writer.

A column is a sequence with one value per row. A value is a scalar (int, float, str), a list or
1-D array of ints (an image's pixels, a review's word indices), or None for a missing cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Columns = Mapping[str, Sequence[Any]]


def num_rows(columns: Columns) -> int:
    """The number of rows; all columns must have it."""
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have different lengths: {lengths}")
    return next(iter(lengths.values()), 0)
