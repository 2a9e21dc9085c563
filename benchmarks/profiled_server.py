"""Runs `dlwp` under cProfile in every thread and writes one merged pstats file at exit.

`python -m cProfile` sees only the main thread; a server does its work in an event loop and in
worker threads, so each new thread gets its own profiler here and all are merged at the end.

    python -m benchmarks.profiled_server --out server.pstats -- serve --model-base DIR ...
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import threading
from collections.abc import Sequence

_thread_profiles: list[cProfile.Profile] = []


class _Snapshot:
    """A profiler's stats as `pstats.Stats` reads them, taken without disabling the profiler
    (disabling from another thread would switch off the main thread's profiler instead)."""

    def __init__(self, profile: cProfile.Profile):
        profile.snapshot_stats()
        self.stats = profile.stats

    def create_stats(self) -> None:
        """Already created in `__init__`."""


def _profile_new_thread(frame, event, arg) -> None:
    # Called once as a new thread's first profile event: swap in a C profiler for that thread.
    sys.setprofile(None)
    profile = cProfile.Profile()
    profile.enable()
    _thread_profiles.append(profile)


def run_profiled(dlwp_args: list[str], out_path: str) -> int:
    """Runs `dlwp <dlwp_args>` with every thread profiled; returns its exit code."""
    from pipelines.cli import main as dlwp_main

    threading.setprofile(_profile_new_thread)
    main_profile = cProfile.Profile()
    main_profile.enable()
    try:
        exit_code = dlwp_main(dlwp_args)
    except SystemExit as exit_:
        exit_code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        main_profile.disable()
        threading.setprofile(None)
        merged = pstats.Stats(main_profile)
        for profile in list(_thread_profiles):
            merged.add(_Snapshot(profile))
        merged.dump_stats(out_path)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Parses `--out FILE -- DLWP_ARGS...` and runs the profiled command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="pstats file written when dlwp exits")
    parser.add_argument("dlwp_args", nargs=argparse.REMAINDER, help="arguments of dlwp")
    args = parser.parse_args(argv)
    dlwp_args = args.dlwp_args[1:] if args.dlwp_args[:1] == ["--"] else args.dlwp_args
    return run_profiled(dlwp_args, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
