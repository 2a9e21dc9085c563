"""Request observers: what watches the traffic (the drift monitor, the feedback log) without
slowing it down.

`ObservingBackend` wraps any backend (in-process or the TF Serving gateway), so REST and gRPC,
predict, classify and regress are all seen the same way: when a model call completes, every
observer gets the model, version, signature, the inputs (as the signature took them), the
outputs and the request's trace (its id and split arm: serving/request_ids.py). `observe` runs
on the thread that completed the call: it must only hand the data over (e.g. to a queue) and
return; an observer's failure is logged and never reaches the request.
"""

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Protocol

import numpy as np

from serving.request_ids import Trace

log = logging.getLogger("dlwp.serving")


class RequestObserver(Protocol):
    """Sees each completed model call; must not block."""

    def observe(
        self,
        model: str,
        version: int,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
        trace: Trace | None = None,
    ) -> None: ...

    def close(self) -> None: ...


class _ObservedTarget:
    def __init__(self, target, observers: Sequence[RequestObserver]):
        self._target, self._observers = target, observers
        self.model, self.version = target.model, target.version
        self.signature_defs = target.signature_defs

    def submit(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        trace: Trace | None = None,
    ) -> Future:
        future = self._target.submit(signature_name, inputs, trace)
        model, version = self.model, self.version

        def completed(done: Future) -> None:
            if done.cancelled() or done.exception() is not None:
                return
            outputs = done.result()
            for observer in self._observers:
                try:
                    observer.observe(model, version, signature_name, inputs, outputs, trace=trace)
                except Exception:  # an observer never fails a request
                    log.exception("request observer %r failed", observer)

        future.add_done_callback(completed)
        return future

    def release(self) -> None:
        self._target.release()


class ObservingBackend:
    """A backend whose completed model calls are shown to `observers`."""

    def __init__(self, backend, observers: Sequence[RequestObserver]):
        self._backend, self.observers = backend, list(observers)

    def resolve(self, model: str, version: int | None, label: str | None) -> _ObservedTarget:
        return _ObservedTarget(self._backend.resolve(model, version, label), self.observers)

    def __getattr__(self, name: str):  # status, is_served, ready, manager, ...
        return getattr(self._backend, name)

    def close(self) -> None:
        self._backend.close()
        for observer in self.observers:
            observer.close()
