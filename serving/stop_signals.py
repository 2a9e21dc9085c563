"""SIGTERM and SIGINT, handled while a server runs (serving/server.py, serving/worker_pool.py)."""

import contextlib
import signal
import threading


@contextlib.contextmanager
def handling_stop_signals(handle):
    """Calls `handle(signum, frame)` on SIGTERM and SIGINT inside the block, then puts the
    previous handlers back; in a thread other than the main one (tests: the owner stops the
    server) it installs nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
