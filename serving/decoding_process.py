"""A body-decoding process (serving/body_decoding.py): `python -m serving.decoding_process`.

It reads request bodies from stdin and writes back what json_arrays.decode makes of them,
pickled in slices (serving/chunked_pickle.py), until stdin closes. Each message is a header
(struct HEADER: a status, the payload's length in bytes, the number of buffers), the payload,
and each buffer as its length (struct LENGTH) and its bytes: the arrays' data, which the server
reads straight into their memory. A request's status is REQUEST, and it has no buffers.

It imports this module, json_arrays, json_codec and chunked_pickle, and with them only numpy,
orjson and json: never TensorFlow (seconds and hundreds of MB per process) nor grpc. It is
started as a module of its own, not by multiprocessing, which would import the server's main
module again in it.
"""

import contextlib
import ctypes
import logging
import os
import signal
import struct
import sys

from serving import chunked_pickle, json_arrays, json_codec

HEADER = struct.Struct("<BQI")
LENGTH = struct.Struct("<Q")
REQUEST, DECODED, INVALID_JSON, NOT_AN_OBJECT, FAILED = range(5)
# chunked_pickle walks a body as deep as it nests (orjson allows MAX_JSON_DEPTH levels), and
# pickle recurses as deep; Python's default limit (1,000) is below that.
_PICKLE_RECURSION_LIMIT = 4 * json_codec.MAX_JSON_DEPTH
_NICENESS = 10


def _give_back_memory() -> None:
    """Returns the heap a body's objects freed to the OS (glibc's malloc_trim): a process
    idled at 100 MB after a 31 MB body without it, at 37 MB with it (40 MB before)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL(None).malloc_trim(0)


def decode_pickled(raw: bytes) -> tuple[int, bytes, list[memoryview]]:
    """What json_arrays.decode makes of `raw`: (DECODED, the pickle, its arrays' buffers), or
    (a refusal's status, its message in UTF-8, no buffers)."""
    try:
        body = json_arrays.decode(raw)  # parsed under the usual limit, as on the event loop
    except json_arrays.NotAnObject as error:
        return NOT_AN_OBJECT, str(error).encode(), []
    except json_codec.InvalidJson as error:
        return INVALID_JSON, str(error).encode(), []
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _PICKLE_RECURSION_LIMIT))
    try:
        return (DECODED, *chunked_pickle.dumps(body))
    finally:
        sys.setrecursionlimit(limit)


def main() -> None:
    """Answers requests from stdin on stdout until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's: it closes stdin
    # A large body waits for the server's own threads when the cores are busy (four 31 MB
    # bodies on 2 cores: /healthz's median 1.6 to 2.8 ms with this, 2.3 to 7 without).
    os.nice(_NICENESS)
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries the answers only
    while True:
        header = requests.read(HEADER.size)
        if len(header) < HEADER.size:
            return
        _, size, _ = HEADER.unpack(header)
        raw = requests.read(size)
        try:
            status, payload, buffers = decode_pickled(raw)
        except Exception as error:  # a bug: logged here, and the server answers 500
            logging.getLogger("dlwp.serving").exception("decoding a request body failed")
            status, payload, buffers = FAILED, f"{type(error).__name__}: {error}".encode(), []
        answers.write(HEADER.pack(status, len(payload), len(buffers)))
        answers.write(payload)
        for buffer in buffers:
            answers.write(LENGTH.pack(buffer.nbytes))
            answers.write(buffer)
        answers.flush()
        del raw, payload, buffers
        _give_back_memory()


if __name__ == "__main__":
    main()
