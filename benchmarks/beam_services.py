"""Beam's portable Fn API path on this machine: a job server and a pool of SDK workers, each a
process of its own, as Flink, Spark and Dataflow run them (docs/kubernetes.md "Beam off the
in-memory runner").

    with portable_beam() as beam_args:
        cli.main(["run", "--csv", csv, ..., *(f"--beam-arg={arg}" for arg in beam_args)])

The job server (`local_job_service_main`) runs each pipeline's stages; the worker pool
(`worker_pool_main`, Beam's EXTERNAL environment, the sidecar of Beam on Flink or Spark on
Kubernetes) starts an SDK worker process for each job, which imports dlwp's module functions
and unpickles its DoFns.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from benchmarks.servers import free_port

START_S = 60.0


def _wait_for_port(port: int, process: subprocess.Popen, name: str, log: str) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Beam's {name} exited with {process.returncode}: see {log}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"Beam's {name} did not listen on port {port} within {START_S:.0f} s")


@contextlib.contextmanager
def portable_beam(log_dir: str) -> Iterator[list[str]]:
    """Starts a job server and an SDK worker pool; yields the Beam options that use them.

    Args:
        log_dir: where the two services write their logs (`job-server.log`, `worker-pool.log`).
    """
    os.makedirs(log_dir, exist_ok=True)
    # The pool starts its workers as `python ...`: this interpreter, with dlwp installed.
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path}
    job_port, worker_port = free_port(), free_port()
    services = {
        "job server": (
            ["apache_beam.runners.portability.local_job_service_main", "--port", str(job_port)],
            job_port,
            "job-server.log",
        ),
        "worker pool": (
            ["apache_beam.runners.worker.worker_pool_main", "--service_port", str(worker_port)],
            worker_port,
            "worker-pool.log",
        ),
    }
    started: list[subprocess.Popen] = []
    try:
        for name, (module_args, port, log_name) in services.items():
            log = os.path.join(log_dir, log_name)
            with open(log, "w") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", *module_args],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # stopped with the SDK workers it started
                )
            started.append(process)
            _wait_for_port(port, process, name, log)
        yield [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{worker_port}",
        ]
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def jobs_run(log_dir: str) -> int:
    """How many Beam jobs the job server of `portable_beam(log_dir)` ran."""
    with open(os.path.join(log_dir, "job-server.log")) as f:
        return sum("Running job" in line for line in f)


def workers_started(log_dir: str) -> int:
    """How many SDK worker processes the pool of `portable_beam(log_dir)` started."""
    with open(os.path.join(log_dir, "worker-pool.log")) as f:
        return sum(line.startswith("Starting worker with command") for line in f)
