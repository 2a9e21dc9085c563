"""Feature kinds and problem types: the vocabulary a task spec, the Transform step, the model's
signatures and the drift monitor share (docs/architecture.md)."""

from __future__ import annotations

import dataclasses
import enum


class _StrictEnum(str, enum.Enum):
    """A string enum whose unknown values raise a ValueError that names them and the choices."""

    @classmethod
    def _missing_(cls, value: object) -> _StrictEnum:
        choices = ", ".join(member.value for member in cls)
        raise ValueError(f"unknown {cls._label()} {value!r}; expected one of: {choices}")

    @classmethod
    def _label(cls) -> str:
        return "value"

    def __str__(self) -> str:
        return str(self.value)


class FeatureKind(_StrictEnum):
    """How a raw feature is given and prepared (components/preprocessing.py):

    - IMAGE: int pixels 0-255, [batch, 784];
    - SEQUENCE: word indices, [batch, length] padded with 0;
    - NUMERIC: one float per example, NaN for missing;
    - CATEGORICAL: one string per example, "" for missing;
    - DATE: one date or timestamp string per example (`2012-01-31`, `2012/01/31`, with or
      without a time), "" for missing.
    """

    IMAGE = "image"
    SEQUENCE = "sequence"
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    DATE = "date"

    @classmethod
    def _label(cls) -> str:
        return "feature kind"

    @property
    def one_value(self) -> bool:
        """True for kinds with one value per example (a table's column)."""
        return self in (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL, FeatureKind.DATE)


class ProblemType(_StrictEnum):
    """The book's table 6.1 problem types."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @classmethod
    def _label(cls) -> str:
        return "problem type"


@dataclasses.dataclass(frozen=True)
class Feature:
    """A model input: its name and kind; `int_range` is the [min, max] of an integer feature's
    values, when known (pixels, word indices)."""

    name: str
    kind: FeatureKind
    int_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FeatureKind(self.kind))


# The word-index feature of the book's text datasets (keras's imdb and reuters): its 0s are
# padding, which the feedback log leaves out as the training data does.
WORDS = "words"
