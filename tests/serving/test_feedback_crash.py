"""A server killed with SIGKILL loses at most the last second of its feedback log: the next
logger in the folder recovers the orphaned `.partial` file, and the index rows of the dead
process point to the recovered records (serving/feedback.py, docs/monitoring.md)."""

import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from serving.feedback import FeedbackLogger
from serving.feedback_index import FeedbackIndex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Observes one example every 10 ms, request id `req-<i>`, `rooms` = i, and prints i once it is
# queued; the example's row is written by the logger's thread, so only its flush makes it safe.
CHILD = """
import sys, time
import numpy as np
from serving.feedback import FeedbackLogger

class Trace:
    def __init__(self, request_id):
        self.request_id, self.arm = request_id, ""

logger = FeedbackLogger(sys.argv[1], 1.0, rotate_s=3600)
for i in range(100_000):
    inputs = {"rooms": np.array([float(i)], np.float32)}
    outputs = {"predictions": np.array([2.0 * i], np.float32)}
    logger.observe("houses", 3, "serving_default", inputs, outputs, Trace(f"req-{i}"))
    print(i, flush=True)
    time.sleep(0.01)
"""


def run_and_kill(folder: str, run_s: float) -> tuple[int, float]:
    """Runs the child for `run_s` seconds after its first example, SIGKILLs it; returns the
    last example it said was queued one second or more before the kill, and the kill time."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, folder],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    queued: list[tuple[float, int]] = []
    try:
        first = child.stdout.readline()  # TensorFlow's import takes seconds
        assert first.strip() == "0", "the child did not start"
        queued.append((time.monotonic(), 0))
        end = time.monotonic() + run_s
        while time.monotonic() < end:
            queued.append((time.monotonic(), int(child.stdout.readline())))
        os.kill(child.pid, signal.SIGKILL)
        killed = time.monotonic()
    finally:
        child.kill()
        child.wait(30)
    safe = max(i for at, i in queued if at <= killed - 1.0)
    return safe, killed


def test_a_sigkilled_logger_loses_at_most_its_last_second(tmp_path):
    folder = str(tmp_path / "feedback")
    safe, _ = run_and_kill(folder, run_s=3.0)
    partials = glob.glob(os.path.join(folder, "houses", "*.partial"))
    assert len(partials) == 1, "the killed writer's open file stays .partial"

    FeedbackLogger(folder, 1.0).close()  # a new server's logger: recovers at its start

    model_folder = os.path.join(folder, "houses")
    assert glob.glob(os.path.join(model_folder, "*.partial")) == []
    (recovered,) = glob.glob(os.path.join(model_folder, "feedback-*.tfrecord.gz"))
    assert os.path.basename(recovered) == os.path.basename(partials[0]).removesuffix(".partial")
    records = [
        tf.train.Example.FromString(r)
        for r in tf.data.TFRecordDataset(recovered, "GZIP").as_numpy_iterator()
    ]
    rooms = [e.features.feature["rooms"].float_list.value[0] for e in records]
    assert rooms == list(range(len(rooms)))  # in order, none lost in between
    assert len(rooms) >= safe + 1  # every example queued a second before the kill

    index = FeedbackIndex(model_folder, writable=False)
    rows = index.unlabelled(limit=len(rooms) + 10)
    assert len(rows) >= safe + 1 and len(rows) <= len(rooms)
    assert {row.file for row in rows} == {os.path.basename(recovered)}
    for row, record in zip(rows, index.read_examples(rows), strict=True):
        features = tf.train.Example.FromString(record).features.feature
        i = int(row.request_id.removeprefix("req-"))
        assert features["rooms"].float_list.value[0] == i
        assert features["request_id"].bytes_list.value[0] == row.request_id.encode()
        assert np.isclose(row.prediction, 2.0 * i)
        assert row.ordinal == i  # the ordinal the dead process committed names the record
