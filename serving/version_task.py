"""What the server knows of a pushed version's task, from `<version>/assets.extra/`: the task
contract (`task.json`: the label's name, the problem type, the classes) and a binary model's
launch threshold (`threshold.json`), for the feedback log's margins and the labels' domains.

    task = read_version_task(version_dir)   # TaskContract, or None for a version without one
    launch_threshold(version_dir)           # 0.5 when the version carries none

Both are read once per version folder (a version never changes once published).
"""

from __future__ import annotations

import functools
import json
import logging
import os

import tensorflow as tf

from contract.signatures import DECISION_THRESHOLD
from contract.task import TaskContract
from contract.version_assets import ASSETS_EXTRA, TASK_FILE, THRESHOLD_FILE

log = logging.getLogger("dlwp.serving")


def _read_text(version_dir: str, name: str) -> str | None:
    path = os.path.join(version_dir, ASSETS_EXTRA, name)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return f.read()


@functools.lru_cache(maxsize=1024)
def read_version_task(version_dir: str | None) -> TaskContract | None:
    """The task contract of the version in `version_dir`, or None when it has none (pushed
    before versions carried it) or it cannot be read (logged once)."""
    if not version_dir:
        return None
    try:
        text = _read_text(version_dir, TASK_FILE)
        return None if text is None else TaskContract.from_json(text)
    except (ValueError, tf.errors.OpError) as error:
        log.warning("version %s: %s unreadable, read as absent: %s", version_dir, TASK_FILE, error)
        return None


@functools.lru_cache(maxsize=1024)
def launch_threshold(version_dir: str | None) -> float:
    """A binary version's launch threshold (`threshold.json`'s `live`); DECISION_THRESHOLD
    when the version has none or it cannot be read (logged once)."""
    if not version_dir:
        return DECISION_THRESHOLD
    try:
        text = _read_text(version_dir, THRESHOLD_FILE)
        return DECISION_THRESHOLD if text is None else float(json.loads(text)["live"])
    except (ValueError, KeyError, TypeError, tf.errors.OpError) as error:
        log.warning(
            "version %s: %s unreadable, threshold %s: %s",
            version_dir,
            THRESHOLD_FILE,
            DECISION_THRESHOLD,
            error,
        )
        return DECISION_THRESHOLD
