"""Server-side batching, like TF Serving's `--enable_batching`.

Requests for the same model version, signature and per-example input shape wait in one queue;
a batch thread takes up to `max_batch_size` examples as soon as that many are queued or the
oldest has waited `batch_timeout_micros`, runs them as one call and hands each request its rows.
A queue that already holds `max_enqueued_batches` full batches refuses new work at once
(RESOURCE_EXHAUSTED, HTTP 429) instead of letting latency grow without bound.
"""

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future
from typing import Any

import numpy as np

from serving.errors import InvalidArgument, ResourceExhausted
from serving.settings import BatchingOptions

RunFn = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


@dataclasses.dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    size: int
    future: Future
    enqueued_s: float


@dataclasses.dataclass
class _Queue:
    run: RunFn
    tasks: deque = dataclasses.field(default_factory=deque)
    size: int = 0


# A queue per caller's key and input shapes: only requests of the same shapes batch together.
_QueueKey = tuple[Hashable, tuple[Any, ...]]


class BatchScheduler:
    """Batches requests across callers; `submit` returns a Future of one request's outputs.

    Usage:
        scheduler = BatchScheduler(BatchingOptions(max_batch_size=32))
        outputs = scheduler.submit(key, servable_run, {"image": rows}).result()
    """

    def __init__(
        self, options: BatchingOptions, on_batch: Callable[[Any, int], None] | None = None
    ):
        self.options = options
        self._on_batch = on_batch if on_batch is not None else (lambda key, size: None)
        self._queues: dict[_QueueKey, _Queue] = {}
        self._condition = threading.Condition()
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, key: Hashable, run: RunFn, inputs: Mapping[str, np.ndarray]) -> Future:
        """Queues one request. `key` names the model version and signature it runs on.

        Raises:
          InvalidArgument: the request alone is larger than a batch.
          ResourceExhausted: the queue is full.
        """
        size = _batch_size(inputs)
        if size > self.options.max_batch_size:
            raise InvalidArgument(
                f"the request has {size} examples, more than the maximum batch size "
                f"{self.options.max_batch_size}; split it"
            )
        shape_key = (key, tuple((k, v.dtype.str, v.shape[1:]) for k, v in sorted(inputs.items())))
        future: Future = Future()
        capacity = self.options.max_enqueued_batches * self.options.max_batch_size
        with self._condition:
            queue = self._queues.setdefault(shape_key, _Queue(run))
            if queue.size + size > capacity:
                raise ResourceExhausted(
                    f"the batch queue is full ({self.options.max_enqueued_batches} batches of "
                    f"{self.options.max_batch_size} waiting); retry later"
                )
            queue.tasks.append(_Task(inputs, size, future, time.monotonic()))
            queue.size += size
            self._condition.notify()
        return future

    def stop(self) -> None:
        """Stops the batch threads once the queues are empty."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)

    def _next_batch(self) -> tuple[_QueueKey, _Queue, list[_Task]] | None:
        """Under the lock: the batch to run now, or None and how long to wait."""
        timeout_s = self.options.batch_timeout_micros / 1e6
        now = time.monotonic()
        ready = [
            (key, queue)
            for key, queue in self._queues.items()
            if queue.tasks
            and (
                queue.size >= self.options.max_batch_size
                or now - queue.tasks[0].enqueued_s >= timeout_s
                or self._stopped
            )
        ]
        if not ready:
            return None
        key, queue = min(ready, key=lambda item: item[1].tasks[0].enqueued_s)
        tasks, size = [], 0
        while queue.tasks and size + queue.tasks[0].size <= self.options.max_batch_size:
            task = queue.tasks.popleft()
            queue.size -= task.size
            if task.future.set_running_or_notify_cancel():  # False: its caller gave up
                tasks.append(task)
                size += task.size
        if not queue.tasks:
            del self._queues[key]
        return key, queue, tasks

    def _wait_s(self) -> float | None:
        oldest = [q.tasks[0].enqueued_s for q in self._queues.values() if q.tasks]
        if not oldest:
            return None
        return max(0.0, min(oldest) + self.options.batch_timeout_micros / 1e6 - time.monotonic())

    def _work(self) -> None:
        while True:
            with self._condition:
                batch = self._next_batch()
                while batch is None:
                    if self._stopped and not self._queues:
                        return
                    self._condition.wait(self._wait_s())
                    batch = self._next_batch()
            key, queue, tasks = batch
            if tasks:
                self._run(key, queue.run, tasks)

    def _run(self, key: _QueueKey, run: RunFn, tasks: list[_Task]) -> None:
        sizes = [t.size for t in tasks]
        try:
            if len(tasks) == 1:
                batched = tasks[0].inputs
            else:
                batched = {
                    name: np.concatenate([t.inputs[name] for t in tasks])
                    for name in tasks[0].inputs
                }
            outputs = run(batched)
            total = sum(sizes)
            for name, value in outputs.items():
                if value.ndim == 0 or value.shape[0] != total:
                    raise InvalidArgument(
                        f"output '{name}' has no batch dimension of {total}; this signature "
                        "cannot be batched (serve it with batching off)"
                    )
        except Exception as error:  # noqa: BLE001 - the batch's failure is each request's
            for task in tasks:
                task.future.set_exception(error)
            return
        self._on_batch(key[0], sum(sizes))
        start = 0
        for task in tasks:
            task.future.set_result({k: v[start : start + task.size] for k, v in outputs.items()})
            start += task.size


def _batch_size(inputs: Mapping[str, np.ndarray]) -> int:
    sizes = {v.shape[0] if v.ndim else -1 for v in inputs.values()}  # -1: a scalar input
    if len(sizes) != 1 or -1 in sizes:
        raise InvalidArgument(
            "batching needs every input to have the same first (batch) dimension; got shapes "
            + ", ".join(f"{k} {list(v.shape)}" for k, v in inputs.items())
        )
    return sizes.pop()
