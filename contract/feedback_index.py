"""The feedback index: which logged example is where, and what people labelled it
(docs/monitoring.md, "Feedback"). Read by the server (serving/feedback_index.py adds the writing),
by `dlwp run --extra-data` and by the audits.

    reader = IndexReader("<home>/feedback/houses")
    for logged, label in reader.labelled():
        example = reader.read_example(logged)   # the serialized tf.Example the server logged

Each server process writes one SQLite file per model, `index-<start>-<pid>.sqlite` (WAL), beside
the TFRecord files it logs to, and reads every index file of the folder: a process never writes
another's file, so there is no lock to share between servers. A row names its record by the
TFRecord file's final base name and its ordinal in that file, so it stays right when a `.partial`
is renamed or recovered. Labels of a row may sit in any file; the latest (`labelled_at_ms`) wins.
"""

from __future__ import annotations

import dataclasses
import glob
import heapq
import os
import pathlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

LOG_PREFIX = "feedback-"
LOG_SUFFIX = ".tfrecord.gz"
PARTIAL_SUFFIX = ".partial"
INDEX_PREFIX = "index-"
INDEX_SUFFIX = ".sqlite"
BUSY_TIMEOUT_S = 5.0
# SQLite's default limit on the variables of one statement is 999 on old builds.
_IN_CHUNK = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS logged (
    request_id TEXT NOT NULL,
    request_index INTEGER NOT NULL,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    arm TEXT NOT NULL,
    problem_type TEXT NOT NULL,
    prediction REAL,
    margin REAL,
    probability REAL NOT NULL,
    logged_at_ms INTEGER NOT NULL,
    file TEXT NOT NULL,
    ordinal INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS logged_by_request ON logged (request_id, request_index);
CREATE INDEX IF NOT EXISTS logged_hardest_first ON logged (margin IS NULL, margin, logged_at_ms);
CREATE TABLE IF NOT EXISTS labels (
    request_id TEXT NOT NULL,
    request_index INTEGER NOT NULL,
    value REAL NOT NULL,
    labelled_at_ms INTEGER NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (request_id, request_index)
);
"""
_LOGGED_COLUMNS = (
    "request_id, request_index, model, version, arm, problem_type, prediction, margin, "
    "probability, logged_at_ms, file, ordinal"
)
_LABEL_COLUMNS = "request_id, request_index, value, labelled_at_ms, source"


class FeedbackIndexError(Exception):
    """The index cannot be used here (e.g. the feedback folder is on object storage), or a
    logged record is no longer where the index says."""


@dataclasses.dataclass(frozen=True)
class LoggedExample:
    """One logged example, as the index knows it.

    Attributes:
        request_id: the request's id (the client's X-Request-Id, or one the server made).
        index: the example's row in its request.
        model, version: what answered it.
        arm: the traffic-split arm that routed it, "" when unsplit.
        problem_type: binary, multiclass or regression ("" when the server could not tell).
        prediction: the served class id (as a float) or regression value.
        margin: 0 for the hardest example, 1 for the surest; None for regression.
        probability: the probability it was logged with (serving/sampling.py).
        logged_at_ms: when, in milliseconds since the epoch.
        file: the base name of its TFRecord file (the final name, without `.partial`).
        ordinal: its record number in that file, from 0.
    """

    request_id: str
    index: int
    model: str
    version: int
    arm: str
    problem_type: str
    prediction: float
    margin: float | None
    probability: float
    logged_at_ms: int
    file: str
    ordinal: int

    @property
    def key(self) -> tuple[str, int]:
        """(request_id, index): what a label names."""
        return (self.request_id, self.index)

    @classmethod
    def from_row(cls, row: Sequence) -> LoggedExample:
        """The example of a `SELECT {_LOGGED_COLUMNS}` row (a NULL prediction reads as NaN)."""
        fields = list(row)
        fields[6] = float("nan") if fields[6] is None else fields[6]
        return cls(*fields)

    def to_row(self) -> tuple:
        """The values of an INSERT in the column order of the `logged` table."""
        return dataclasses.astuple(self)


@dataclasses.dataclass(frozen=True)
class Label:
    """A person's label of one logged example.

    Attributes:
        request_id, index: the example's request and row.
        value: the class id (as a float) or the regression value.
        labelled_at_ms: when, in milliseconds since the epoch.
        source: "api" (POST :feedback) or "page" (the labelling page).
    """

    request_id: str
    index: int
    value: float
    labelled_at_ms: int
    source: str

    @property
    def key(self) -> tuple[str, int]:
        """(request_id, index): the example it labels."""
        return (self.request_id, self.index)


def file_stamp(stamp_us: int) -> str:
    """A UTC start time as it appears in feedback file names: `20261201T101500.000123Z`."""
    seconds, micros = divmod(stamp_us, 1_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def is_local(folder: str) -> bool:
    """Whether `folder` is a local (or mounted) path, where SQLite and file locks work."""
    return "://" not in folder or folder.startswith("file://")


def check_local(folder: str) -> None:
    """Raises FeedbackIndexError when `folder` is on object storage (gs://...)."""
    if not is_local(folder):
        raise FeedbackIndexError(
            f"the feedback index needs a local or mounted folder, and {folder} is a URL "
            "(SQLite cannot share a file on object storage); give --feedback-dir a local path "
            "or a mounted bucket (e.g. gcsfuse), or do without labels, audits and :feedback"
        )


def index_files(folder: str) -> list[str]:
    """The index files in `folder` (not its subfolders), sorted by name (start time)."""
    return sorted(glob.glob(os.path.join(glob.escape(folder), f"{INDEX_PREFIX}*{INDEX_SUFFIX}")))


def is_server_log(name: str) -> bool:
    """Whether a file name is one the feedback log writes (final or `.partial`)."""
    base = os.path.basename(name)
    return base.startswith(LOG_PREFIX) and base.endswith((LOG_SUFFIX, LOG_SUFFIX + PARTIAL_SUFFIX))


def connect(path: str, read_only: bool) -> sqlite3.Connection:
    """A connection to an index file, in autocommit mode (transactions are explicit)."""
    uri = pathlib.Path(path).absolute().as_uri() + ("?mode=ro" if read_only else "")
    connection = sqlite3.connect(
        uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return connection


def readable_records(path: str) -> Iterator[bytes]:
    """The readable records of a GZIP TFRecord file; a truncated end (a `.partial` file whose
    writer was killed, or is still writing) ends the iteration."""
    import tensorflow as tf

    iterator = iter(tf.data.TFRecordDataset(path, "GZIP").as_numpy_iterator())
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except tf.errors.DataLossError:
            return


def read_records(folder: str, logged: Sequence[LoggedExample]) -> list[bytes]:
    """The serialized tf.Examples of `logged` examples of `folder`, in their order; each file is
    read once, from its final name or, while it is being written, its `.partial`.

    Raises:
        FeedbackIndexError: a record is not in its file (the file was moved or deleted).
    """
    wanted: dict[str, set[int]] = {}
    for example in logged:
        wanted.setdefault(example.file, set()).add(example.ordinal)
    found: dict[tuple[str, int], bytes] = {}
    for name, ordinals in wanted.items():
        final = os.path.join(folder, name)
        for path in (final, final + PARTIAL_SUFFIX, final):  # renamed while we looked
            if not os.path.exists(path):
                continue
            last = max(ordinals)
            for ordinal, record in enumerate(readable_records(path)):
                if ordinal in ordinals:
                    found[(name, ordinal)] = record
                if ordinal >= last:
                    break
            break
    missing = [e for e in logged if (e.file, e.ordinal) not in found]
    if missing:
        raise FeedbackIndexError(
            f"record {missing[0].ordinal} of {missing[0].file} is not in {folder} "
            f"({len(missing)} logged examples missing): the file was moved, cut or deleted; "
            "put it back, or start a new feedback folder"
        )
    return [found[(e.file, e.ordinal)] for e in logged]


class IndexReader:
    """Reads every index file of a model's feedback folder (module docstring).

    Thread-safe; new files (servers started later) are found at each call.

    Raises:
        FeedbackIndexError: `model_folder` is not local (`check_local`).
    """

    def __init__(self, model_folder: str):
        check_local(model_folder)
        self.folder = model_folder.removeprefix("file://")
        self._lock = threading.RLock()
        self._readers: dict[str, sqlite3.Connection] = {}
        self._own_path = ""
        self._own: sqlite3.Connection | None = None

    def _connections(self) -> list[sqlite3.Connection]:
        """A connection per index file: this process's own (writable) one, the others read-only."""
        connections = []
        for path in index_files(self.folder):
            if path == self._own_path and self._own is not None:
                connections.append(self._own)
                continue
            if path not in self._readers:
                self._readers[path] = connect(path, read_only=True)
            connections.append(self._readers[path])
        return connections

    @staticmethod
    def _query(connection: sqlite3.Connection, sql: str, args: Sequence = ()) -> Iterable[tuple]:
        try:
            return connection.execute(sql, args)
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):  # a file another process is creating just now
                return ()
            raise

    def find(self, request_id: str, index: int | None = None) -> list[LoggedExample]:
        """Every logged row of the request (`index` None), or its row `index`, in every file."""
        sql = f"SELECT {_LOGGED_COLUMNS} FROM logged WHERE request_id = ?"
        args: tuple = (request_id,)
        if index is not None:
            sql, args = sql + " AND request_index = ?", (request_id, index)
        with self._lock:
            rows = [
                LoggedExample.from_row(row)
                for connection in self._connections()
                for row in self._query(connection, sql, args)
            ]
        return sorted(rows, key=lambda e: (e.index, e.logged_at_ms))

    def latest_labels(
        self, keys: Iterable[tuple[str, int]] | None = None
    ) -> dict[tuple[str, int], Label]:
        """(request_id, index) -> the latest label of that example, over every file; of the
        examples `keys` only, when given (looked up by the labels' primary key, so storing a
        label does not read every label there is)."""
        queries: list[tuple[str, Sequence[str]]]
        if keys is None:
            queries = [(f"SELECT {_LABEL_COLUMNS} FROM labels", ())]
            wanted = None
        else:
            wanted = set(keys)
            ids = sorted({request_id for request_id, _ in wanted})
            queries = [
                (
                    f"SELECT {_LABEL_COLUMNS} FROM labels WHERE request_id IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                )
                for chunk in (ids[i : i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK))
            ]
        latest: dict[tuple[str, int], Label] = {}
        with self._lock:
            for connection in self._connections():
                for sql, parameters in queries:
                    for row in self._query(connection, sql, parameters):
                        label = Label(*row)
                        if wanted is not None and label.key not in wanted:
                            continue
                        previous = latest.get(label.key)
                        if previous is None or label.labelled_at_ms >= previous.labelled_at_ms:
                            latest[label.key] = label
        return latest

    def _logged_of(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], LoggedExample]:
        """The logged row of each key (the latest logged, when a request id came twice)."""
        wanted = set(keys)
        ids = sorted({request_id for request_id, _ in wanted})
        rows: dict[tuple[str, int], LoggedExample] = {}
        with self._lock:
            connections = self._connections()
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                sql = (
                    f"SELECT {_LOGGED_COLUMNS} FROM logged WHERE request_id IN "
                    f"({','.join('?' * len(chunk))})"
                )
                for connection in connections:
                    for row in self._query(connection, sql, chunk):
                        logged = LoggedExample.from_row(row)
                        previous = rows.get(logged.key)
                        if logged.key in wanted and (
                            previous is None or logged.logged_at_ms > previous.logged_at_ms
                        ):
                            rows[logged.key] = logged
        return rows

    def labelled(self, since_ms: int | None = None) -> list[tuple[LoggedExample, Label]]:
        """The latest label of each labelled row (labelled after `since_ms`, when given), with
        the row, ordered by the time it was logged."""
        labels = {
            key: label
            for key, label in self.latest_labels().items()
            if since_ms is None or label.labelled_at_ms > since_ms
        }
        logged = self._logged_of(labels)
        pairs = [(logged[key], label) for key, label in labels.items() if key in logged]
        return sorted(pairs, key=lambda pair: (pair[0].logged_at_ms, pair[0].key))

    def unlabelled(self, limit: int) -> list[LoggedExample]:
        """Up to `limit` rows without a label, hardest first: margin ascending, then the rows
        without a margin (regression) in the order they were logged."""
        labelled = set(self.latest_labels())
        sql = (
            f"SELECT {_LOGGED_COLUMNS} FROM logged "
            "ORDER BY margin IS NULL, margin, logged_at_ms, request_id, request_index"
        )

        def order(e: LoggedExample) -> tuple:
            return (e.margin is None, e.margin or 0.0, e.logged_at_ms, e.request_id, e.index)

        with self._lock:
            streams = [
                map(LoggedExample.from_row, self._query(connection, sql))
                for connection in self._connections()
            ]
            seen: set[tuple[str, int]] = set()
            chosen = []
            for logged in heapq.merge(*streams, key=order):
                if logged.key in labelled or logged.key in seen:
                    continue
                seen.add(logged.key)
                chosen.append(logged)
                if len(chosen) >= limit:
                    break
        return chosen

    def counts(self) -> dict[tuple[int, str], tuple[int, int]]:
        """(version, arm) -> (examples logged, examples labelled), over every file."""
        logged: dict[tuple[int, str], int] = {}
        with self._lock:
            for connection in self._connections():
                sql = "SELECT version, arm, COUNT(*) FROM logged GROUP BY version, arm"
                for version, arm, count in self._query(connection, sql):
                    logged[(version, arm)] = logged.get((version, arm), 0) + count
        labelled: dict[tuple[int, str], int] = {}
        for example, _ in self.labelled():
            where = (example.version, example.arm)
            labelled[where] = labelled.get(where, 0) + 1
        return {where: (n, labelled.get(where, 0)) for where, n in sorted(logged.items())}

    def read_example(self, logged: LoggedExample) -> bytes:
        """The serialized tf.Example of a logged row, read from its TFRecord file.

        Raises:
            FeedbackIndexError: the record is not in its file.
        """
        (record,) = read_records(self.folder, [logged])
        return record

    def read_examples(self, logged: Sequence[LoggedExample]) -> list[bytes]:
        """The serialized tf.Examples of several rows, each file read once (`read_records`)."""
        return read_records(self.folder, logged)

    def close(self) -> None:
        """Closes the connections; the reader can be used again (it reconnects)."""
        with self._lock:
            for connection in self._readers.values():
                connection.close()
            self._readers.clear()
