"""Request bodies decoded from JSON, with large ones off the event loop (docs/serving.md,
"Limits"), so that /healthz answers at once while a 32 MB body is parsed.

A thread alone would not free the loop: orjson.loads of a 30 MB numeric body holds the GIL
for 0.7 s in one C call, and numpy's reading of its lists for 0.45 s (measured). A body over
`inline_body_bytes` is decoded (parsed, its tensors made arrays: serving/json_arrays.py) in one
of a few processes of its own (serving/decoding_process.py: numpy and orjson, no TensorFlow;
started as a command, neither forked from a server whose TensorFlow threads are running nor
spawned by multiprocessing, which imports the main module again). The arrays come back
pickled, the rest in slices, which a thread reads with pauses for the loop
(serving/chunked_pickle.py); what the handler then does with such a body (its strings, its
tf.Examples) runs in a thread too (`run`). A small body, the hot path, is decoded inline.
"""

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, TypeVar

from serving import chunked_pickle, decoding_process, json_arrays
from serving.errors import InvalidArgument, Unavailable, echo
from serving.json_codec import InvalidJson

log = logging.getLogger("dlwp.serving")

# Inline, a body this size holds the loop about 10 ms (parse and arrays: 40 ms per MB on the
# 2-core test machine); one in a process costs about 1 ms more to send and read back.
INLINE_BODY_BYTES = 256 * 1024
# Large bodies are rare; two processes decode two at once (more wait their turn, off the
# loop) and cost about 40 MB each while idle.
DECODING_PROCESSES = 2

_Result = TypeVar("_Result")


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the decoding process closed its output")
    return data


class _DecodingProcess:
    """One `python -m serving.decoding_process`, used by one thread at a time."""

    def __init__(self):
        # The folder holding the `serving` package (this file's), whatever the working
        # directory and however the server was started.
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.environ.get("PYTHONPATH")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "serving.decoding_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={
                **os.environ,
                "PYTHONPATH": package_root if not path else package_root + os.pathsep + path,
            },
        )

    def decode(self, raw: bytes) -> tuple[int, bytes, list[bytearray]]:
        """The process's (status, payload, buffers) for `raw`; the buffers are read straight
        into their memory, with the GIL released.

        Raises:
          OSError, EOFError: the process is gone; ValueError: its pipes were closed.
        """
        requests: IO[bytes] = self.process.stdin  # type: ignore[assignment]
        answers: IO[bytes] = self.process.stdout  # type: ignore[assignment]
        requests.write(decoding_process.HEADER.pack(decoding_process.REQUEST, len(raw), 0))
        requests.write(raw)
        requests.flush()
        status, size, count = decoding_process.HEADER.unpack(
            _read_exactly(answers, decoding_process.HEADER.size)
        )
        payload = _read_exactly(answers, size)
        buffers = []
        for _ in range(count):
            (length,) = decoding_process.LENGTH.unpack(
                _read_exactly(answers, decoding_process.LENGTH.size)
            )
            buffer = bytearray(length)
            if answers.readinto(buffer) != length:  # type: ignore[attr-defined]
                raise EOFError("the decoding process closed its output")
            buffers.append(buffer)
        return status, payload, buffers

    def stop(self) -> None:
        """Closes its input, which ends it; kills it if it does not end within 5 s."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):  # it is gone already
                self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class JsonBodyDecoder:
    """Parses REST request bodies; large ones in a few processes, started when the first such
    body comes.

    Usage:
        decoder = JsonBodyDecoder()
        body = await decoder.loads(raw)
        inputs = await decoder.run(len(raw), predict_inputs, body, signature, limit)
        decoder.close()
    """

    def __init__(
        self,
        inline_body_bytes: int = INLINE_BODY_BYTES,
        processes: int = DECODING_PROCESSES,
    ):
        self.inline_body_bytes = inline_body_bytes
        # Each of these threads owns one decoding process; a body waits for a free thread
        # in the executor's queue, not in a thread.
        self._threads = ThreadPoolExecutor(processes, thread_name_prefix="dlwp-decode")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._processes: list[_DecodingProcess] = []
        self._closed = False

    async def loads(self, raw: bytes) -> dict:
        """The JSON object of a body, its tensors as json_arrays.decode makes them.

        Raises:
          InvalidArgument: the body is not JSON, nests too deep, or is not an object.
          Unavailable: two decoding processes died on this body.
        """
        try:
            if len(raw) <= self.inline_body_bytes:
                return json_arrays.decode(raw)
        except json_arrays.NotAnObject:
            raise self._not_an_object(raw) from None
        except InvalidJson as error:
            raise InvalidArgument(echo(str(error))) from None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._decode_elsewhere, raw)

    async def run(self, body_bytes: int, function: Callable[..., _Result], *args: Any) -> _Result:
        """`function(*args)` on what a body of `body_bytes` decoded to: inline for a small
        body, in a thread for a large one, whose Python loops (over strings, over examples)
        would otherwise hold the event loop; the thread yields it every 5 ms."""
        if body_bytes <= self.inline_body_bytes:
            return function(*args)
        return await asyncio.to_thread(function, *args)

    @staticmethod
    def _not_an_object(raw: bytes) -> InvalidArgument:
        return InvalidArgument(
            f"the body must be a JSON object, got {echo(raw.decode('utf-8', 'replace'))}"
        )

    def _decode_elsewhere(self, raw: bytes) -> dict:
        """Runs in one of `_threads`: its process decodes, the thread reads the pickle. A
        process that dies (killed, out of memory) is replaced and the body sent again, once."""
        for _ in range(2):
            process = self._own_process()
            try:
                status, payload, buffers = process.decode(raw)
                break
            except (OSError, EOFError, ValueError) as error:  # ValueError: closed by close()
                self._local.process = None
                self._forget(process)
                log.error("a body-decoding process stopped: %s", error)
        else:
            raise Unavailable(
                "the processes decoding large request bodies stopped; retry the request"
            )
        if status == decoding_process.DECODED:
            return chunked_pickle.loads(payload, buffers)
        if status == decoding_process.NOT_AN_OBJECT:
            raise self._not_an_object(raw)
        if status == decoding_process.INVALID_JSON:
            raise InvalidArgument(echo(payload.decode()))
        raise RuntimeError(f"decoding the body failed: {payload.decode()}")

    def _own_process(self) -> _DecodingProcess:
        """This thread's decoding process, started if it has none or it ended."""
        process = getattr(self._local, "process", None)
        if process is not None and process.process.poll() is not None:
            self._forget(process)
            process = None
        if process is None:
            process = self._local.process = self._start_process()
        return process

    def _start_process(self) -> _DecodingProcess:
        with self._lock:
            if self._closed:
                raise Unavailable("the server is shutting down; retry on another replica")
            process = _DecodingProcess()
            self._processes.append(process)
            return process

    def _forget(self, process: _DecodingProcess) -> None:
        with self._lock:
            if process in self._processes:
                self._processes.remove(process)
        process.stop()

    def process_ids(self) -> list[int]:
        """The pids of the decoding processes started so far and still running."""
        with self._lock:
            return [p.process.pid for p in self._processes if p.process.poll() is None]

    def close(self) -> None:
        """Stops the decoding processes; bodies still queued are not decoded."""
        with self._lock:
            self._closed = True
            processes, self._processes = self._processes, []
        self._threads.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.stop()
