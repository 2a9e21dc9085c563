"""The feedback index, writable: the rows the feedback log adds and the labels people give
(contract/feedback_index.py reads it; docs/monitoring.md, "Feedback").

    index = FeedbackIndex("<home>/feedback/houses")            # this process's own file
    index.add_labels([Label(request_id, 0, 3.0, now_ms, "api")])  # committed when it returns
    index.find(request_id)                                     # in every process's file

The process's file, `index-<start>-<pid>.sqlite`, is created at the first write, in WAL mode
(readers in other processes never wait for it), with `synchronous=NORMAL`: a committed row
survives the process being killed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from contract.feedback_index import (
    INDEX_PREFIX,
    INDEX_SUFFIX,
    SCHEMA,
    FeedbackIndexError,
    IndexReader,
    Label,
    LoggedExample,
    check_local,
    connect,
    file_stamp,
    index_files,
)

__all__ = ["FeedbackIndex", "FeedbackIndexError", "Label", "LoggedExample", "model_folders"]


class FeedbackIndex(IndexReader):
    """The index of a model's feedback folder: reads every process's file, writes its own.

    Args:
        model_folder: `<feedback>/<model>`.
        writable: False for a reader that never creates a file (audits, `dlwp run`).
        start_us: the process's start time in the file name (microseconds since the epoch);
            the feedback log passes its own, so its files and its index share it.

    Raises:
        FeedbackIndexError: the folder is on object storage (gs://...).
    """

    def __init__(self, model_folder: str, writable: bool = True, *, start_us: int | None = None):
        super().__init__(model_folder)
        self.writable = writable
        stamp = file_stamp(start_us if start_us is not None else int(time.time() * 1_000_000))
        self._own_path = os.path.join(
            self.folder, f"{INDEX_PREFIX}{stamp}-{os.getpid()}{INDEX_SUFFIX}"
        )

    def _writer(self):
        if not self.writable:
            raise FeedbackIndexError(f"the index of {self.folder} was opened read-only")
        if self._own is None:
            os.makedirs(self.folder, exist_ok=True)
            connection = connect(self._own_path, read_only=False)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.executescript(SCHEMA)
            self._own = connection
        return self._own

    def add_logged(self, rows: Sequence[LoggedExample]) -> None:
        """Adds logged rows in one transaction (the feedback log calls it right after flushing
        their records to the TFRecord file, so a row never names a record that is not there)."""
        if not rows:
            return
        with self._lock:
            connection = self._writer()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(
                    f"INSERT INTO logged VALUES ({','.join('?' * 12)})",
                    [row.to_row() for row in rows],
                )
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def add_labels(self, labels: Sequence[Label]) -> list[Label | None]:
        """Stores `labels` all at once, committed before it returns; a label of an example
        already labelled replaces it.

        Returns:
            Each label's predecessor (the example's latest label in any file), or None.
        """
        with self._lock:
            connection = self._writer()
            connection.execute("BEGIN IMMEDIATE")
            try:
                latest = self.latest_labels([label.key for label in labels])
                previous = []
                for label in labels:
                    previous.append(latest.get(label.key))
                    latest[label.key] = label
                connection.executemany(
                    "INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?)",
                    [
                        (x.request_id, x.index, float(x.value), x.labelled_at_ms, x.source)
                        for x in labels
                    ],
                )
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        return previous

    def close(self) -> None:
        """Closes every connection (this process's file is checkpointed by SQLite)."""
        with self._lock:
            super().close()
            if self._own is not None:
                self._own.close()
                self._own = None


def model_folders(feedback_dir: str) -> dict[str, str]:
    """model -> its feedback folder, for each subfolder of `feedback_dir` holding an index.

    Raises:
        FeedbackIndexError: `feedback_dir` is on object storage.
    """
    check_local(feedback_dir)
    folder = feedback_dir.removeprefix("file://")
    if not os.path.isdir(folder):
        return {}
    return {
        name: os.path.join(folder, name)
        for name in sorted(os.listdir(folder))
        if index_files(os.path.join(folder, name))
    }
