"""Finds a version's report under `<home>/reports/<model>/` (docs/reports.md), for
`dlwp report MODEL [--version V]`; reads plain files, before TensorFlow loads."""

from __future__ import annotations

import json
import os
from typing import Any

from components.errors import DlwpError
from contract.report_files import REPORT_HTML, REPORT_JSON
from contract.versions import parse_version


class ReportNotFoundError(DlwpError):
    """No report for the model or version asked (exit 2); the message says what exists."""


def reported_versions(reports_dir: str) -> list[int]:
    """The versions under `reports_dir` (`<home>/reports/<model>`) that have a report, ascending."""
    if not os.path.isdir(reports_dir):
        return []
    versions = [parse_version(name) for name in os.listdir(reports_dir)]
    return sorted(
        v
        for v in versions
        if v is not None and os.path.isfile(os.path.join(reports_dir, str(v), REPORT_JSON))
    )


def find_report(reports_dir: str, model: str, version: int | None = None) -> tuple[str, dict]:
    """The page's path and the numbers (report.json) of `version`, or of the newest one.

    Raises:
        ReportNotFoundError: the model has no report, or none for `version` (names those that
            exist and how to make one).
    """
    versions = reported_versions(reports_dir)
    if not versions:
        raise ReportNotFoundError(
            f"no report for {model!r} in {reports_dir}: the pipeline writes one for every "
            f"version it pushes; run `dlwp run {model}` (or check --home)"
        )
    if version is None:
        version = versions[-1]
    elif version not in versions:
        raise ReportNotFoundError(
            f"{model!r} has no report for version {version}; reported versions: "
            f"{', '.join(map(str, versions))}"
        )
    folder = os.path.join(reports_dir, str(version))
    with open(os.path.join(folder, REPORT_JSON)) as f:
        report: dict[str, Any] = json.load(f)
    return os.path.join(folder, REPORT_HTML), report
