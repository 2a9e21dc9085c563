"""CPU time of the machine and of given processes (Linux `/proc`), to show who used the cores
during a benchmark cell: the server, the clients, or something else on the machine."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def machine_busy_s() -> float:
    """CPU seconds all cores spent not idle since boot."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks[:8]) - idle - iowait) / CLOCK_TICKS_PER_S


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds of the machine and of named processes at one moment."""

    wall_s: float
    machine_s: float
    processes_s: dict[str, float]


def snapshot(pids: dict[str, list[int]]) -> CpuSnapshot:
    """CPU seconds now of the machine and of each named group of processes."""
    return CpuSnapshot(
        time.monotonic(),
        machine_busy_s(),
        {name: sum(process_cpu_s(pid) for pid in group) for name, group in pids.items()},
    )


def cores_used(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Average cores busy between two snapshots: the machine, each group, and `other` (the
    machine less the groups: processes outside the benchmark)."""
    wall_s = after.wall_s - before.wall_s
    used = {
        name: (after.processes_s[name] - before.processes_s[name]) / wall_s
        for name in before.processes_s
    }
    used["machine"] = (after.machine_s - before.machine_s) / wall_s
    used["other"] = used["machine"] - sum(
        value for name, value in used.items() if name != "machine"
    )
    return {name: round(value, 2) for name, value in used.items()}
