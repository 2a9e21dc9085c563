"""One worker of `dlwp serve --workers N`: the whole ServingStack (its own models, REST and
gRPC on the ports it shares with the other workers), started by the supervisor
(serving/worker_pool.py) as `python -m serving.worker RUN_DIR INDEX`.

It keeps its byte of the shared readiness (serving/worker_readiness.py) up to date, sends its
drift intake and labels to the hub (serving/hub_client.py), and writes its Prometheus values
to the run folder's multiprocess files. It drains on SIGTERM like one process does, and on its
own if the supervisor dies.
"""

import dataclasses
import logging
import os
import pickle
import signal
import sys
import threading
import time

from serving.errors import StartupError
from serving.hub_client import HubClient
from serving.worker_readiness import SharedReadiness

log = logging.getLogger("dlwp.serving")

# Names in the run folder.
SETTINGS_FILE, READINESS_FILE, PROMETHEUS_DIR = "settings.pickle", "readiness", "prometheus"
READINESS_INTERVAL_S = 0.1


def startup_error_file(run_dir: str, index: int) -> str:
    """Where worker `index` writes why it could not start (the supervisor reports it)."""
    return os.path.join(run_dir, f"startup-error-{index}")


@dataclasses.dataclass
class WorkerContext:
    """What a ServingStack needs to be one of several workers."""

    index: int
    run_dir: str
    readiness: SharedReadiness
    hub: HubClient


def _watch(stack, context: WorkerContext, supervisor: int) -> None:
    """Publishes this worker's readiness; drains if the supervisor is gone."""
    signalled = False
    while True:
        context.readiness.set_listening(context.index, stack.http.started)
        ready = stack.http.started and not stack.state.draining and stack.backend.ready()
        context.readiness.set_ready(context.index, ready)
        if os.getppid() != supervisor and not signalled:
            log.error("worker %d: the supervisor is gone; draining", context.index)
            os.kill(os.getpid(), signal.SIGTERM)
            signalled = True
        time.sleep(READINESS_INTERVAL_S)


def main(argv: list[str]) -> int:
    run_dir, index = argv[0], int(argv[1])
    supervisor = os.getppid()
    # Until uvicorn takes the signals over: Ctrl-C is the supervisor's to forward, and a stop
    # while the models load is a clean exit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s worker {index}: %(message)s", "%H:%M:%S"))
    logging.getLogger("dlwp.serving").addHandler(handler)
    logging.getLogger("dlwp.serving").setLevel(logging.INFO)
    with open(os.path.join(run_dir, SETTINGS_FILE), "rb") as file:
        settings = pickle.load(file)
    readiness = SharedReadiness(os.path.join(run_dir, READINESS_FILE), settings.workers)
    context = WorkerContext(index, run_dir, readiness, HubClient(run_dir))
    import prometheus_client

    from serving.ports import shared_listening_socket
    from serving.server import ServingStack

    prometheus_client.disable_created_metrics()

    try:
        stack = ServingStack(settings, worker=context)
        sockets = [shared_listening_socket(settings.host, settings.port)]
    except (StartupError, OSError) as error:
        with open(startup_error_file(run_dir, index), "w") as file:
            file.write(str(error))
        return 2
    threading.Thread(
        target=_watch, args=(stack, context, supervisor), name="readiness", daemon=True
    ).start()
    try:
        stack.http.run(sockets=sockets)
    finally:
        readiness.set_ready(index, False)
        stack.close()
        context.hub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
