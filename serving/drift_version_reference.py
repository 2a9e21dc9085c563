"""What the drift monitor compares one model version's traffic with: the version's drift
reference (contract/drift_reference.py) as a distribution per series, and the feature domains of
the version's schema (contract/schema_domains.py), for counting schema anomalies.

    reference = read_version_reference(version_dir)   # None when the version carries none
    reference.series["image.mean_intensity"].distance(values)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import NamedTuple

from google.protobuf import text_format

from contract.drift_reference import DriftReference, DriftReferenceError, read_reference
from contract.drift_series import is_numeric_series, series_name
from contract.features import FeatureKind, ProblemType
from contract.schema_domains import Domain, version_domains
from contract.version_assets import ASSETS_EXTRA, REFERENCE_FILE, SCHEMA_FILE
from serving.drift_measures import Distribution


class MonitoredFeature(NamedTuple):
    """A raw feature the monitor turns into series: its kind and its schema domain."""

    kind: FeatureKind
    domain: Domain | None


@dataclasses.dataclass(frozen=True)
class VersionReference:
    """The reference of one model version, ready to measure against.

    Attributes:
        problem_type: how to read the predictions (class ids, or values).
        features: raw feature name -> its kind and domain.
        series: series label (contract/drift_series.py's `series_name`) -> its distribution.
        prediction: the distribution of the predictions on held-out examples.
    """

    problem_type: ProblemType
    features: dict[str, MonitoredFeature]
    series: dict[str, Distribution]
    prediction: Distribution

    @classmethod
    def build(
        cls, reference: DriftReference, domains: Mapping[str, Domain | None]
    ) -> VersionReference:
        """The distributions of `reference`; `domains` gives each feature's schema domain."""
        series = {}
        for name, feature in reference.features.items():
            numeric = is_numeric_series(feature.kind)
            for summary, values in feature.series.items():
                series[series_name(name, summary)] = (
                    Distribution.numeric(values) if numeric else Distribution.categorical(values)
                )
        regression = reference.problem_type is ProblemType.REGRESSION
        return cls(
            problem_type=reference.problem_type,
            features={
                name: MonitoredFeature(feature.kind, domains.get(name))
                for name, feature in reference.features.items()
            },
            series=series,
            prediction=(
                Distribution.numeric(reference.predictions)
                if regression
                else Distribution.categorical(reference.predictions)
            ),
        )


def read_version_reference(version_dir: str) -> VersionReference | None:
    """The reference of a pushed version, or None when it carries none.

    Raises:
        DriftReferenceError: the reference or the schema beside it cannot be read (broken, or
            of an unknown format); the message names the file.
    """
    reference = read_reference(version_dir)
    if reference is None:
        return None
    schema_path = os.path.join(version_dir, ASSETS_EXTRA, SCHEMA_FILE)
    try:
        domains = version_domains(version_dir, list(reference.features))
    except text_format.ParseError as error:
        raise DriftReferenceError(f"{schema_path} is broken: {error}") from None
    try:
        return VersionReference.build(reference, domains)
    except (TypeError, ValueError) as error:  # e.g. a numeric series that holds strings
        path = os.path.join(version_dir, ASSETS_EXTRA, REFERENCE_FILE)
        raise DriftReferenceError(f"{path} is broken: {type(error).__name__}: {error}") from None
