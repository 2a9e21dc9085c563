"""The drift reference of a pushed version (`assets.extra/drift_reference.json`): a typed,
versioned format, produced by the DriftReferenceGen component (components/drift_reference.py),
published by the Pusher, read by the drift monitor (serving/drift_monitor.py).

    reference = read_reference(version_dir)      # None when the version has none
    reference.features["image"].series["mean_intensity"]   # train values of one series

The series are those of `contract/drift_series.py`, on a sample of the train split; the
predictions are the model's on held-out examples; feature domains come from the version's
schema (`contract/schema_domains.py`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from contract import text_files
from contract.features import FeatureKind, ProblemType
from contract.version_assets import ASSETS_EXTRA, REFERENCE_FILE

FORMAT_VERSION = 1


class DriftReferenceError(ValueError):
    """A drift reference file cannot be read: broken JSON, an unknown format version, or a
    missing field; the message names the file and the problem."""


@dataclasses.dataclass(frozen=True)
class FeatureReference:
    """One raw feature: its kind and its series (summary name -> train values)."""

    kind: FeatureKind
    series: dict[str, list[Any]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FeatureKind(self.kind))


@dataclasses.dataclass(frozen=True)
class DriftReference:
    """What production traffic of one model version is compared with.

    Attributes:
        problem_type: binary, multiclass or regression.
        train_examples: how many train examples the series were computed on.
        features: feature name -> its reference.
        predictions: the prediction series on held-out examples (class ids, or values).
        format_version: FORMAT_VERSION when written.
    """

    problem_type: ProblemType
    train_examples: int
    features: dict[str, FeatureReference]
    predictions: list[Any]
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "problem_type", ProblemType(self.problem_type))

    def to_json(self) -> str:
        """The reference as JSON text (NaN is never written: series hold no missing values)."""
        return json.dumps(dataclasses.asdict(self), allow_nan=False)

    @classmethod
    def from_json(cls, text: str, source: str = "drift reference") -> DriftReference:
        """Parses what `to_json` wrote.

        Raises:
            DriftReferenceError: naming `source` and what is wrong with it.
        """
        try:
            content = json.loads(text)
        except ValueError as error:
            raise DriftReferenceError(f"{source} is not JSON: {error}") from None
        if not isinstance(content, dict):
            raise DriftReferenceError(f"{source} is not a drift reference (not an object)")
        version = content.get("format_version")
        if version != FORMAT_VERSION:
            raise DriftReferenceError(
                f"{source} has format_version {version!r}; this server reads version "
                f"{FORMAT_VERSION}: push the model again with this dlwp (dlwp run)"
            )
        try:
            features = {
                name: FeatureReference(**feature) for name, feature in content["features"].items()
            }
            return cls(**{**content, "features": features})
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DriftReferenceError(
                f"{source} is broken: {type(error).__name__}: {error}"
            ) from None


def write_reference(reference: DriftReference, path: str) -> None:
    """Writes the reference through tf.io.gfile (`gs://` works)."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        f.write(reference.to_json())


def read_reference(version_dir: str) -> DriftReference | None:
    """The reference of a pushed version, or None when the version carries none.

    Raises:
        DriftReferenceError: the file exists but cannot be read.
    """
    path = os.path.join(version_dir, ASSETS_EXTRA, REFERENCE_FILE)
    if not text_files.exists(path):
        return None
    return DriftReference.from_json(text_files.read_text(path), source=path)
