"""REST load from `wrk` (a C load generator, Debian's package): POST one body to one URL from
`concurrency` open connections, and read its latency percentiles from a Lua `done` hook.

    result = run_wrk(url, body, concurrency=32, duration_s=5.0)
    result.rps, result.p99_ms, result.errors
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
import time

from benchmarks.load_generator import CellResult

RESULT_PREFIX = "DLWP_WRK "
# wrk's own threads: one per core, never more than the connections.
WRK_THREADS = 2
# Every request sends the body of the file named by DLWP_WRK_BODY; `done` prints one JSON line.
SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(os.getenv("DLWP_WRK_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f}\\n', "RESULT_PREFIX",
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(99), latency.mean))
end
""".replace("RESULT_PREFIX", RESULT_PREFIX)


LATENCY_FIELDS = ("p50_us", "p99_us", "mean_us")


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no result."""


def wrk_program() -> str:
    """The `wrk` executable.

    Raises:
        WrkError: it is not installed (`make install` installs Debian's package).
    """
    program = shutil.which("wrk")
    if program is None:
        raise WrkError("wrk is not installed: run `make install` (Debian's wrk package)")
    return program


def wrk_version() -> str:
    """wrk's version line ("wrk debian/4.1.0-3+b2 [epoll] ...")."""
    # wrk prints its version with its usage and exits 1 on -v.
    shown = subprocess.run([wrk_program(), "-v"], capture_output=True, text=True)
    return (shown.stdout + shown.stderr).splitlines()[0].split(" Copyright")[0]


def run_wrk(
    url: str, body: bytes, concurrency: int, duration_s: float, timeout_s: float = 10.0
) -> tuple[CellResult, float]:
    """POSTs `body` to `url` over `concurrency` connections for `duration_s` seconds.

    Returns:
        The cell (errors: socket errors, timeouts and non-2xx answers), and the cores wrk
        itself used meanwhile (its CPU seconds over the wall time).

    Raises:
        WrkError: wrk failed or printed no result line.
    """
    with tempfile.TemporaryDirectory(prefix="dlwp-wrk-") as folder:
        script, body_path = os.path.join(folder, "post.lua"), os.path.join(folder, "body.json")
        with open(script, "w") as out:
            out.write(SCRIPT)
        with open(body_path, "wb") as out:
            out.write(body)
        command = [
            wrk_program(),
            f"-t{min(WRK_THREADS, concurrency)}",
            f"-c{concurrency}",
            f"-d{max(1, round(duration_s))}s",  # whole seconds: wrk reads no fractions
            f"--timeout={max(1, round(timeout_s))}s",
            "-s",
            script,
            url,
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        finished = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=dict(os.environ, DLWP_WRK_BODY=body_path),
            timeout=duration_s + timeout_s + 30,
        )
        wall_s = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [line for line in finished.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if finished.returncode != 0 or not lines:
        output = (finished.stdout + finished.stderr).strip()
        raise WrkError(f"wrk failed (exit {finished.returncode}): {output}")
    fields = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return to_cell(fields), round(wrk_cpu_s / wall_s, 2)


def to_cell(fields: dict) -> CellResult:
    """A CellResult of wrk's `done` fields (latencies in µs)."""
    errors = sum(fields[name] for name in ("connect", "read", "write", "status", "timeout"))
    requests = fields["requests"]
    # With no request answered, wrk's percentiles are zeros: no latency was measured.
    ms = {name: fields[name] / 1000.0 if requests else float("nan") for name in LATENCY_FIELDS}
    return CellResult(
        rps=requests / (fields["duration_us"] / 1e6),
        p50_ms=ms["p50_us"],
        p99_ms=ms["p99_us"],
        mean_ms=ms["mean_us"],
        errors=errors,
        requests=requests,
    )
