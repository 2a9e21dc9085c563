"""Publishes a model version's exports (docs/exports.md):

    <exports_dir>/latest.json              {"version": N}, the newest published version
    <exports_dir>/<N>/parity.json          every format: published or not, and why
    <exports_dir>/<N>/golden.json          a few test examples and the SavedModel's answers
    <exports_dir>/<N>/<format>/            the files of each format that passed

The version folder appears whole (written beside, then renamed), and so does each JSON file.
"""

import json
import os
from typing import Any

import numpy as np
import tensorflow as tf
from tfx.utils import io_utils

from components.exporting.report import ExportReport
from contract.versions import publish_folder, write_json

PARITY_FILE = "parity.json"
GOLDEN_FILE = "golden.json"
LATEST_FILE = "latest.json"
_INDENT = 1


def _jsonable(value: Any) -> Any:
    """The JSON form of the numpy values the report holds."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON: {type(value)}")


def write_report_json(path: str, content: Any) -> None:
    """Writes one of the exports' JSON files atomically; NaN is refused, not written."""
    write_json(path, content, indent=_INDENT, allow_nan=False, default=_jsonable)


def publish_exports(
    report: ExportReport, work_dir: str, exports_dir: str, model: str, version: int
) -> str:
    """Publishes the formats that passed (their files are under `work_dir/<format>/`) as
    `<exports_dir>/<version>/`, all at once; moves `latest.json` forward.

    Returns:
        The version folder.

    Raises:
        FileExistsError: that version is published already (exports never change).
    """

    def fill(staging: str) -> None:
        for name, result in report.formats.items():
            if result.published:
                io_utils.copy_dir(os.path.join(work_dir, name), os.path.join(staging, name))
        write_report_json(os.path.join(staging, GOLDEN_FILE), report.golden_json(model, version))
        write_report_json(os.path.join(staging, PARITY_FILE), report.parity_json(model, version))

    target = publish_folder(os.path.join(exports_dir, str(version)), fill)
    latest_path = os.path.join(exports_dir, LATEST_FILE)
    latest = 0
    if tf.io.gfile.exists(latest_path):
        with tf.io.gfile.GFile(latest_path) as f:
            latest = json.loads(f.read()).get("version", 0)
    if version >= latest:
        write_report_json(latest_path, {"version": version})
    return target
