"""The ceiling: a SavedModel's serving signature called in this process on batches, no server.

Threads call the signature concurrently on batches of `batch_size` instances; the result counts
instances per second and the latency of one batch call.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from benchmarks.load_generator import CellResult, ThreadResult, summarize


def load_signature(saved_model_path: str):
    """The `serving_default` signature of a SavedModel (the loaded object is kept alive on it)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model_path)
    signature = loaded.signatures["serving_default"]
    signature.loaded_model = loaded
    return signature


def measure_inprocess(
    signature,
    instance: np.ndarray,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    batch_size: int = 32,
) -> CellResult:
    """Calls `signature` from `concurrency` threads on batches of `instance` repeated; `rps` in the
    result counts instances (batch calls × `batch_size`)."""
    import tensorflow as tf

    batch = tf.constant(np.repeat(instance[None], batch_size, axis=0), dtype=tf.float32)
    signature(image=batch)
    measure_from = time.monotonic() + warmup_s
    measure_until = measure_from + duration_s
    results = [ThreadResult() for _ in range(concurrency)]

    def call_in_loop(result: ThreadResult) -> None:
        while (started := time.monotonic()) < measure_until:
            scores = signature(image=batch)["scores"]
            ended = time.monotonic()
            if measure_from <= ended <= measure_until:
                result.latencies_s.append(ended - started)
                if scores.shape != (batch_size, 10):
                    result.bad_responses += 1

    threads = [threading.Thread(target=call_in_loop, args=(result,)) for result in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarize(results, duration_s, per_request=batch_size)
