"""Cells disturbed by other processes on the machine are measured again once it is quiet.

The benchmark shares the machine's cores; a test suite or a build running meanwhile lowers the
numbers. Each cell records the cores used by processes outside the benchmark (`other`); above
`threshold_cores`, the guard waits for a quiet machine (within a run-wide time budget) and
measures the cell again, keeping the least disturbed attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchmarks import cpu_usage
from benchmarks.load_generator import CellResult

QUIET_SAMPLE_S = 1.0


def busy_cores_outside(seconds: float) -> float:
    """Cores the machine keeps busy during `seconds` in which the benchmark itself is idle."""
    before = cpu_usage.snapshot({})
    time.sleep(seconds)
    return cpu_usage.cores_used(before, cpu_usage.snapshot({}))["machine"]


class ContentionGuard:
    """Measures cells, again when other processes disturbed them.

    Args:
        threshold_cores: cores used outside the benchmark above which a cell is disturbed.
        retries: how many more times a disturbed cell may be measured.
        wait_budget_s: seconds the whole run may spend waiting for a quiet machine.
    """

    def __init__(self, threshold_cores: float, retries: int, wait_budget_s: float):
        self.threshold_cores = threshold_cores
        self.retries = retries
        self.wait_budget_s = wait_budget_s

    def measure(
        self, measure: Callable[[], CellResult], groups: dict[str, list[int]]
    ) -> tuple[CellResult, dict[str, float], int]:
        """Runs `measure` with the cores of `groups` recorded.

        Returns:
            The least disturbed attempt's result and cores, and the number of attempts.
        """
        best: tuple[CellResult, dict[str, float]] | None = None
        attempts = 0
        while True:
            attempts += 1
            before = cpu_usage.snapshot(groups)
            result = measure()
            cores = cpu_usage.cores_used(before, cpu_usage.snapshot(groups))
            if best is None or cores["other"] < best[1]["other"]:
                best = (result, cores)
            if cores["other"] <= self.threshold_cores or attempts > self.retries:
                break
            if not self.wait_for_quiet():
                break
        return best[0], best[1], attempts

    def wait_for_quiet(self) -> bool:
        """Waits, within the remaining budget, until the machine is quiet; False if it never was."""
        while self.wait_budget_s > 0:
            started = time.monotonic()
            busy = busy_cores_outside(QUIET_SAMPLE_S)
            self.wait_budget_s -= time.monotonic() - started
            if busy <= self.threshold_cores:
                return True
        return False
