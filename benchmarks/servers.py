"""Server subprocesses for the benchmark: start, wait until a model is AVAILABLE, pause while
other variants are measured, stop with SIGTERM and report how they exited."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from benchmarks import baseline

# The repository root: servers run there so `python -m benchmarks....` finds this package.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READY_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 60.0
# A server stopped in the middle of a call would charge the whole pause to that call in a
# profile; the last answered request's bookkeeping ends well within this.
SETTLE_S = 0.5
LOG_TAIL_CHARS = 3000


class ServerFailedError(RuntimeError):
    """A server exited or never became ready; the message carries the tail of its log."""


@dataclass
class ServerProcess:
    """A running server: its process, ports and log file."""

    name: str
    process: subprocess.Popen
    port: int
    log_path: str
    grpc_port: int | None = None
    started_s: float = 0.0
    ready_s: float | None = None
    # Exit codes after SIGTERM that need no explanation (Flask's dev server dies of the signal).
    clean_exit_codes: tuple[int, ...] = (0,)

    def log_tail(self) -> str:
        """The end of the server's combined stdout and stderr."""
        with open(self.log_path, errors="replace") as log:
            return log.read()[-LOG_TAIL_CHARS:]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dlwp_serve_command(model_base: str, port: int, grpc_port: int, batching: bool) -> list[str]:
    """`dlwp serve` arguments (without the program) for the benchmark's settings."""
    args = ["serve", "--model-base", model_base, "--port", str(port), "--grpc-port", str(grpc_port)]
    if batching:
        args += [
            "--enable-batching",
            "--max-batch-size",
            "32",
            "--batch-timeout-micros",
            "2000",
            "--num-batch-threads",
            "2",
            "--max-enqueued-batches",
            "1000",
        ]
    return args


def dlwp_program() -> str:
    """The `dlwp` console script of the running interpreter's environment."""
    return os.path.join(os.path.dirname(sys.executable), "dlwp")


def start_server(
    name: str,
    command: list[str],
    port: int,
    log_dir: str,
    grpc_port: int | None = None,
    cwd: str = REPO_ROOT,
    extra_env: dict[str, str] | None = None,
) -> ServerProcess:
    """Starts `command` in `cwd` with its output in `<log_dir>/<name>.log`; `extra_env` adds to
    (or overrides) the environment."""
    log_path = os.path.join(log_dir, f"{name}.log")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **(extra_env or {}))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return ServerProcess(name, process, port, log_path, grpc_port, started_s=time.monotonic())


def start_baseline_server(
    name: str,
    checkout: baseline.BaselineCheckout,
    serve_args: list[str],
    port: int,
    log_dir: str,
    grpc_port: int | None,
) -> ServerProcess:
    """Starts `dlwp <serve_args>` from the baseline checkout's code (benchmarks/baseline.py)."""
    return start_server(
        name,
        baseline.serve_command(serve_args),
        port,
        log_dir,
        grpc_port,
        cwd=checkout.root,
        extra_env=baseline.serve_environment(checkout),
    )


def model_state(port: int, model: str) -> tuple[int, str | None]:
    """(HTTP status, state of the first version) of `GET /v1/models/<model>`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", f"/v1/models/{model}")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        return response.status, None
    statuses = json.loads(body).get("model_version_status") or [{}]
    return response.status, statuses[0].get("state")


def wait_until_available(
    server: ServerProcess, models: list[str], timeout_s: float = READY_TIMEOUT_S
) -> None:
    """Polls `GET /v1/models/<model>` until each answers 200 with state AVAILABLE.

    Raises:
        ServerFailedError: the process exited, or the timeout passed.
    """
    deadline = time.monotonic() + timeout_s
    pending = list(models)
    last_seen = "no answer"
    while pending:
        if server.process.poll() is not None:
            raise ServerFailedError(
                f"{server.name} exited with {server.process.returncode} before its models were "
                f"AVAILABLE; log tail:\n{server.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise ServerFailedError(
                f"{server.name}: {pending} not AVAILABLE after {timeout_s:.0f} s (last answer: "
                f"{last_seen}); log tail:\n{server.log_tail()}"
            )
        try:
            status, state = model_state(server.port, pending[0])
            last_seen = f"HTTP {status}, state {state}"
            if status == 200 and state == "AVAILABLE":
                pending.pop(0)
                continue
        except (OSError, http.client.HTTPException, ValueError) as error:
            last_seen = f"{type(error).__name__}: {error}"
        time.sleep(0.25)
    server.ready_s = time.monotonic() - server.started_s


def pause(server: ServerProcess) -> None:
    """Stops the server's processes (SIGSTOP) once settled, so an idle server takes no CPU from
    the one being measured."""
    time.sleep(SETTLE_S)
    os.killpg(server.process.pid, signal.SIGSTOP)


def resume(server: ServerProcess) -> None:
    """Continues a paused server."""
    os.killpg(server.process.pid, signal.SIGCONT)


def stop(server: ServerProcess, timeout_s: float = STOP_TIMEOUT_S) -> dict:
    """Sends SIGTERM and waits; kills the process group if it does not exit in time.

    Returns:
        How it went: exit code, seconds to exit, whether it had to be killed.
    """
    if server.process.poll() is not None:
        return {
            "exit_code": server.process.returncode,
            "exit_s": 0.0,
            "killed": False,
            "note": "had already exited",
        }
    resume(server)
    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        exit_code = server.process.wait(timeout=timeout_s)
        killed = False
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        exit_code = server.process.wait()
        killed = True
    stopped: dict[str, object] = {
        "exit_code": exit_code,
        "exit_s": round(time.monotonic() - sent, 2),
        "killed": killed,
    }
    if exit_code not in server.clean_exit_codes or killed:
        stopped["log_tail"] = server.log_tail()
    return stopped
