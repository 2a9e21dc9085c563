"""How `dlwp serve` starts: one server in this process, or a supervisor over N workers.

A light import: with --workers N > 1 this process supervises and never loads TensorFlow
(docs/serving.md, "Workers").
"""

from __future__ import annotations

from collections.abc import Callable

from serving.settings import ServeSettings


def serve(settings: ServeSettings, announce: Callable[[str], object]) -> int:
    """Serves until SIGTERM or SIGINT with `settings.workers` processes; returns the exit code."""
    if settings.workers > 1:
        from serving.worker_pool import WorkerPool

        return WorkerPool(settings, announce).run()
    from serving.server import serve as serve_here

    return serve_here(settings, announce=announce)
