"""Progress inside a pipeline step (an epoch, an exported format), for the person waiting.

A component reports through the `dlwp.progress` logger. The local runner prints each record
as a line under the running step (pipelines/progress.py); on a cluster the records are plain
log lines of the component's pod.

    from components.step_progress import report
    report("epoch 3/20  loss 0.41  accuracy 0.853  val_accuracy 0.861  4.1 s")
"""

from __future__ import annotations

import logging

LOGGER_NAME = "dlwp.progress"

_logger = logging.getLogger(LOGGER_NAME)


def report(line: str) -> None:
    """Reports one progress line of the running step."""
    _logger.info(line)
