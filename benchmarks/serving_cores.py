"""Serving on every core: `dlwp serve` against the app a user would write in 20 lines
(benchmarks/starlette_app.py), the book's naive Flask app and the model called in process, on
the real Fashion-MNIST model (benchmarks/fashion_model.py), one image per request, at
concurrency 1, 8 and 32. See docs/benchmarks.md ("Serving on every core").

    python -m benchmarks.serving_cores [--quick] [--baseline DIR]
                                       [--out benchmarks/results/serving_cores.json]

REST load comes from wrk (benchmarks/wrk_load.py); gRPC load, and REST from the same Python
client for a like-for-like protocol comparison, from benchmarks/load_generator.py. Every server
starts at once and is paused (SIGSTOP) while the others are measured; at each concurrency the
variants run one after the other, in an order that flips from one concurrency to the next. Each
cell records the cores the server's processes (a supervisor and its workers), the load
generator and everything else used. With `--baseline DIR` (benchmarks/baseline.py), `dlwp serve`
from an earlier checkout runs beside the working tree's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import psutil

from benchmarks import baseline, cpu_usage, servers
from benchmarks.baseline import BaselineCheckout
from benchmarks.fashion_model import MODEL_NAME, save_fashion_model, test_image
from benchmarks.load_generator import CellResult, ClientPool, Target
from benchmarks.request_bodies import grpc_predict_request, rest_predict_body
from benchmarks.wrk_load import run_wrk, wrk_version

CONCURRENCIES = (1, 8, 32)
HIGH = "32"
BATCHING_FLAGS = ["--enable-batching", "--max-batch-size", "32", "--batch-timeout-micros", "2000"]
WARM_UP_TIMEOUT_S = 120.0
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Settings:
    """How long each cell runs."""

    duration_s: float = 5.0
    warmup_s: float = 1.0
    concurrencies: tuple[int, ...] = CONCURRENCIES


@dataclass(frozen=True)
class ServerSpec:
    """A server to start: `dlwp serve` flags (`program` "dlwp"), or an anchor app."""

    name: str
    program: str  # "dlwp", "dlwp_baseline", "starlette" or "naive_flask"
    flags: tuple[str, ...] = ()
    # Another server this one needs running (the gateway's TF Serving stand-in).
    backend: str | None = None


@dataclass(frozen=True)
class Variant:
    """One row of the table: which server answers, over which protocol and client."""

    name: str
    server: str
    client: str = "wrk"  # "wrk" (REST), "python_rest" or "python_grpc"


def server_specs(with_baseline: bool) -> list[ServerSpec]:
    """Every server the run starts. The gateway's backend stands in for TF Serving (its binary
    cannot run here): `dlwp serve` with its default workers and no drift monitor, over gRPC."""
    specs = [
        ServerSpec("dlwp", "dlwp"),
        ServerSpec("dlwp_workers1", "dlwp", ("--workers", "1")),
        ServerSpec("dlwp_no_drift", "dlwp", ("--no-drift",)),
        ServerSpec("dlwp_batching", "dlwp", tuple(BATCHING_FLAGS)),
        ServerSpec("tfserving_stand_in", "dlwp", ("--no-drift",)),
        ServerSpec("gateway", "dlwp", ("--backend", "tfserving"), backend="tfserving_stand_in"),
        ServerSpec(
            "gateway_workers1",
            "dlwp",
            ("--backend", "tfserving", "--workers", "1"),
            backend="tfserving_stand_in",
        ),
        ServerSpec("starlette", "starlette"),
        ServerSpec("naive_flask", "naive_flask"),
    ]
    if with_baseline:
        specs += [
            ServerSpec("dlwp_baseline", "dlwp_baseline"),
            ServerSpec("dlwp_no_drift_baseline", "dlwp_baseline", ("--no-drift",)),
            ServerSpec("dlwp_batching_baseline", "dlwp_baseline", tuple(BATCHING_FLAGS)),
            ServerSpec(
                "gateway_baseline",
                "dlwp_baseline",
                ("--backend", "tfserving"),
                backend="tfserving_stand_in",
            ),
        ]
    return specs


def variants(specs: list[ServerSpec]) -> list[Variant]:
    """The table's rows: each server over wrk (not the stand-in itself), and dlwp's gRPC and
    Python-client REST."""
    rows = [Variant(spec.name, spec.name) for spec in specs if spec.name != "tfserving_stand_in"]
    rows += [
        Variant("dlwp_grpc", "dlwp", "python_grpc"),
        Variant("dlwp_python_rest", "dlwp", "python_rest"),
    ]
    if any(spec.name == "dlwp_baseline" for spec in specs):
        rows.append(Variant("dlwp_grpc_baseline", "dlwp_baseline", "python_grpc"))
    return rows


def start(
    spec: ServerSpec,
    root: str,
    started: dict[str, servers.ServerProcess],
    checkout: BaselineCheckout | None,
) -> servers.ServerProcess:
    """Starts the server of `spec` on free ports (its backend must already be in `started`)."""
    port, grpc_port = servers.free_port(), servers.free_port()
    log_dir = os.path.join(root, "logs")
    model_base = os.path.join(root, "models")
    version_dir = os.path.join(model_base, MODEL_NAME, "1")
    if spec.program in ("dlwp", "dlwp_baseline"):
        if spec.backend is not None:
            backend = f"127.0.0.1:{started[spec.backend].grpc_port}"
            args = ["serve", "--port", str(port), "--grpc-port", str(grpc_port)]
            args += ["--tfserving-address", backend]
        else:
            args = servers.dlwp_serve_command(model_base, port, grpc_port, batching=False)
        args += spec.flags
        if spec.program == "dlwp":
            return servers.start_server(
                spec.name, [servers.dlwp_program(), *args], port, log_dir, grpc_port
            )
        assert checkout is not None
        return servers.start_baseline_server(spec.name, checkout, args, port, log_dir, grpc_port)
    if spec.program == "starlette":
        module_args = ["benchmarks.starlette_app", "--model-dir", version_dir]
    else:
        module_args = ["benchmarks.naive_flask_app", "--keras-dir", os.path.join(root, "keras")]
    command = [sys.executable, "-m", *module_args, "--port", str(port)]
    server = servers.start_server(spec.name, command, port, log_dir)
    server.clean_exit_codes = (0, -signal.SIGTERM)
    return server


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a supervisor and its workers)."""
    try:
        parent = psutil.Process(pid)
        return [pid, *(child.pid for child in parent.children(recursive=True))]
    except psutil.NoSuchProcess:
        return [pid]


def resident_mb(server: servers.ServerProcess) -> dict:
    """Resident memory (MB) of the server's first process and of each of its children."""
    processes = [psutil.Process(pid) for pid in process_tree(server.process.pid)]
    sizes = [round(process.memory_info().rss / 2**20) for process in processes]
    return {"main": sizes[0], "children": sizes[1:]}


def predicted_class(port: int, body: bytes) -> int:
    """The class a server predicts for `body`'s image (its first request, which may trace a
    graph: seconds).

    Raises:
        servers.ServerFailedError: the request failed.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WARM_UP_TIMEOUT_S)
    try:
        connection.request("POST", f"/v1/models/{MODEL_NAME}:predict", body, JSON_HEADERS)
        response = connection.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise servers.ServerFailedError(f"the first request failed: {error}") from error
    finally:
        connection.close()
    if response.status != 200:
        raise servers.ServerFailedError(f"the first request: HTTP {response.status} {payload!r}")
    row = json.loads(payload)["predictions"][0]
    return int(np.argmax(row["scores"] if isinstance(row, dict) else row))


class Run:
    """The started servers, paused; `measure` resumes what a variant needs for one cell."""

    def __init__(self, started: dict[str, servers.ServerProcess], specs: list[ServerSpec]):
        self.started = started
        self.specs = {spec.name: spec for spec in specs}
        self.image = np.asarray(test_image())
        self.body = rest_predict_body(self.image)
        self.grpc_body = grpc_predict_request(MODEL_NAME, self.image)

    def needed(self, server: str) -> list[servers.ServerProcess]:
        """The server and its backend, if any."""
        backend = self.specs[server].backend
        return [self.started[server], *([self.started[backend]] if backend else [])]

    def target(self, variant: Variant) -> Target:
        """The Python client's target for a variant."""
        server = self.started[variant.server]
        if variant.client == "python_grpc":
            assert server.grpc_port is not None
            # A channel per client thread: one HTTP/2 connection each, as many clients would
            # open, so the kernel spreads them over the workers (SO_REUSEPORT balances
            # connections, not the calls multiplexed on one).
            return Target(
                "grpc",
                "127.0.0.1",
                server.grpc_port,
                MODEL_NAME,
                self.grpc_body,
                channel_per_client=True,
            )
        # One row of two outputs (scores, class_ids): the client checks `(rows, outputs)`.
        return Target("rest", "127.0.0.1", server.port, MODEL_NAME, self.body, (1, 2))

    def measure(
        self, variant: Variant, concurrency: int, settings: Settings, pool: ClientPool
    ) -> dict:
        """One cell, with the cores each party used (`other`: the rest of the machine, the
        kernel's loopback networking among it)."""
        needed = self.needed(variant.server)
        for server in needed:
            servers.resume(server)
        try:
            return self._measure(variant, concurrency, settings, pool, needed)
        finally:
            for server in needed:
                servers.pause(server)

    def _measure(self, variant, concurrency, settings, pool, needed) -> dict:
        """The cell of `measure`, its servers (`needed`) running."""
        server = self.started[variant.server]
        groups = {"server": process_tree(server.process.pid), "benchmark": [os.getpid()]}
        if len(needed) > 1:
            groups["backend"] = process_tree(needed[1].process.pid)
        if variant.client == "wrk":
            url = f"http://127.0.0.1:{server.port}/v1/models/{MODEL_NAME}:predict"
            run_wrk(url, self.body, concurrency, settings.warmup_s)
            before = cpu_usage.snapshot(groups)
            result, wrk_cores = run_wrk(url, self.body, concurrency, settings.duration_s)
            cores = cpu_usage.cores_used(before, cpu_usage.snapshot(groups))
            cores["clients"] = wrk_cores
            cores["other"] = round(cores["other"] - wrk_cores, 2)
        else:
            groups["clients"] = pool.pids
            before = cpu_usage.snapshot(groups)
            result = pool.run(
                self.target(variant), concurrency, settings.warmup_s, settings.duration_s
            )
            cores = cpu_usage.cores_used(before, cpu_usage.snapshot(groups))
        print_cell(variant.name, concurrency, result, cores)
        return dict(result.as_dict(), cpu_cores=cores)


def print_cell(name: str, concurrency: int, result: CellResult, cores: dict) -> None:
    """One line of the live table."""
    used = " ".join(f"{key}={value:.2f}" for key, value in cores.items())
    print(
        f"{name:<24} {concurrency:>3} {result.rps:>8.1f} {result.p50_ms:>8.2f} "
        f"{result.p99_ms:>8.2f} {result.errors:>6}  cores: {used}",
        flush=True,
    )


def measure_inprocess(root: str, image: np.ndarray, settings: Settings) -> dict:
    """The model alone, one image per call, from `concurrency` threads in this process."""
    from benchmarks.inprocess import load_signature
    from benchmarks.inprocess import measure_inprocess as measure

    signature = load_signature(os.path.join(root, "models", MODEL_NAME, "1"))
    cells = {}
    for concurrency in settings.concurrencies:
        before = cpu_usage.snapshot({"benchmark": [os.getpid()]})
        result = measure(signature, image, concurrency, settings.warmup_s, settings.duration_s, 1)
        cores = cpu_usage.cores_used(before, cpu_usage.snapshot({"benchmark": [os.getpid()]}))
        print_cell("inprocess", concurrency, result, cores)
        cells[str(concurrency)] = dict(result.as_dict(), cpu_cores=cores)
    return cells


@dataclass(frozen=True)
class Goal:
    """`value ≥ target`, where `value` is computed from the cells at concurrency 32."""

    name: str
    definition: str
    target: float


GOALS = (
    Goal("defaults_vs_anchor", "dlwp req/s / starlette req/s", 1.5),
    Goal("batching_vs_anchor", "dlwp_batching req/s / starlette req/s", 2.0),
    Goal("p99_vs_anchor", "starlette p99 / dlwp p99 (≥ 1: dlwp's p99 is at most the app's)", 1.0),
    Goal("server_cores", "cores the dlwp server's processes used", 1.8),
    Goal("drift_kept", "dlwp req/s / dlwp_no_drift req/s (drift costs ≤ 5 %)", 0.95),
    Goal("grpc_vs_rest", "dlwp_grpc req/s / dlwp req/s", 1.0),
    Goal("gateway_workers", "gateway req/s / gateway_workers1 req/s", 1.5),
)


def goal_values(cells: dict) -> dict[str, float | None]:
    """Each goal's measured value (None when a cell is missing or empty)."""

    def at_high(name: str, field_name: str = "rps") -> float | None:
        cell = cells.get(name, {}).get(HIGH)
        return None if cell is None else cell.get(field_name)

    def ratio(numerator, denominator) -> float | None:
        if numerator is None or not denominator:
            return None
        return round(numerator / denominator, 2)

    server_cores = cells.get("dlwp", {}).get(HIGH, {}).get("cpu_cores", {}).get("server")
    return {
        "defaults_vs_anchor": ratio(at_high("dlwp"), at_high("starlette")),
        "batching_vs_anchor": ratio(at_high("dlwp_batching"), at_high("starlette")),
        "p99_vs_anchor": ratio(at_high("starlette", "p99_ms"), at_high("dlwp", "p99_ms")),
        "server_cores": server_cores,
        "drift_kept": ratio(at_high("dlwp"), at_high("dlwp_no_drift")),
        "grpc_vs_rest": ratio(at_high("dlwp_grpc"), at_high("dlwp")),
        "gateway_workers": ratio(at_high("gateway"), at_high("gateway_workers1")),
    }


def evaluate(cells: dict) -> list[dict]:
    """The goals with their values and whether each is reached."""
    values = goal_values(cells)
    return [
        dict(
            asdict(goal),
            value=values[goal.name],
            reached=None if values[goal.name] is None else values[goal.name] >= goal.target,
        )
        for goal in GOALS
    ]


def markdown_table(cells: dict, names: list[str], concurrencies: Sequence[int]) -> str:
    """req/s (p99 ms) per variant and concurrency, as docs/benchmarks.md shows it."""
    header = "| variant | " + " | ".join(f"c={c}" for c in concurrencies) + " | cores at c=32 |"
    lines = [header, "|---|" + "---:|" * (len(concurrencies) + 1)]
    for name in names:
        row = cells.get(name, {})
        shown = []
        for concurrency in concurrencies:
            cell = row.get(str(concurrency))
            if cell is None:
                shown.append("")
            elif cell["p99_ms"] is None:
                shown.append(f"{cell['rps']:,.0f}")
            else:
                shown.append(f"{cell['rps']:,.0f} ({cell['p99_ms']:.1f} ms)")
        cores = row.get(HIGH, {}).get("cpu_cores", {}).get("server")
        lines.append(f"| {name} | " + " | ".join(shown) + f" | {'' if cores is None else cores} |")
    return "\n".join(lines)


@dataclass
class Report:
    """What the run writes as JSON."""

    machine: dict
    settings: dict
    baseline: dict | None = None
    startup_s: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    # The class each server predicts for the request's image: they serve the same model.
    first_answers: dict = field(default_factory=dict)
    memory_mb: dict = field(default_factory=dict)
    cells: dict = field(default_factory=dict)
    goals: list = field(default_factory=list)
    server_exits: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    total_s: float = 0.0


def machine_info() -> dict:
    """Cores, CPU model, date and the code measured."""
    from benchmarks.serving import code_version
    from benchmarks.serving import machine_info as serving_machine_info

    return dict(serving_machine_info(), code=code_version(), wrk=wrk_version())


def run(settings: Settings, checkout: BaselineCheckout | None) -> Report:
    """Trains and saves the model, starts every server, measures every cell; returns the report."""
    began = time.monotonic()
    root = tempfile.mkdtemp(prefix="dlwp-serving-cores-")
    os.makedirs(os.path.join(root, "logs"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["DLWP_HOME"] = os.path.join(root, "home")
    report = Report(machine_info(), asdict(settings))
    if checkout is not None:  # without its folder: a path on the machine that ran it
        report.baseline = {k: v for k, v in checkout.as_dict().items() if k != "dir"}
    print("training the Fashion-MNIST model ...", flush=True)
    report.model = {"held_out_accuracy": save_fashion_model(root).held_out_accuracy}
    specs = server_specs(checkout is not None)
    started: dict[str, servers.ServerProcess] = {}
    runner = Run(started, specs)
    body = runner.body
    try:
        for spec in sorted(specs, key=lambda spec: spec.backend is not None):
            if spec.backend is not None:  # measured in the steady state: its backend is up
                servers.wait_until_available(started[spec.backend], [MODEL_NAME])
            started[spec.name] = start(spec, root, started, checkout)
        for name, server in started.items():
            try:
                servers.wait_until_available(server, [MODEL_NAME])
                report.first_answers[name] = predicted_class(server.port, body)
            except servers.ServerFailedError as failure:
                report.failures[name] = str(failure)
        for name, server in started.items():
            if name not in report.failures:
                servers.pause(server)
        report.startup_s = {name: s.ready_s and round(s.ready_s, 1) for name, s in started.items()}
        print(f"servers ready: {report.startup_s}; failures: {list(report.failures) or 'none'}")
        rows = [
            row
            for row in variants(specs)
            if not any(server.name in report.failures for server in runner.needed(row.server))
        ]
        report.cells["inprocess"] = measure_inprocess(root, runner.image, settings)
        with ClientPool(2) as pool:
            for turn, concurrency in enumerate(settings.concurrencies):
                for row in rows if turn % 2 == 0 else rows[::-1]:
                    cell = runner.measure(row, concurrency, settings, pool)
                    report.cells.setdefault(row.name, {})[str(concurrency)] = cell
        for name, server in started.items():  # a stopped process's memory reads as well
            if name not in report.failures and psutil.pid_exists(server.process.pid):
                report.memory_mb[name] = resident_mb(server)
        report.goals = evaluate(report.cells)
        report.server_exits = {name: servers.stop(server) for name, server in started.items()}
    finally:
        for server in started.values():
            if server.process.poll() is None:
                servers.stop(server)
        shutil.rmtree(root, ignore_errors=True)
    report.total_s = round(time.monotonic() - began, 1)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark, writes the JSON report, prints the table and the goals."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serving_cores", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="2 s cells at concurrency 1 and 32")
    parser.add_argument("--baseline", metavar="DIR", help="also run dlwp serve from DIR's checkout")
    parser.add_argument(
        "--out", default=os.path.join("benchmarks", "results", "serving_cores.json")
    )
    args = parser.parse_args(argv)
    settings = Settings(2.0, 1.0, (1, 32)) if args.quick else Settings()
    checkout = baseline.checkout_or_usage_error(parser, args.baseline)
    report = run(settings, checkout)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as out:
        json.dump(asdict(report), out, indent=1)
        out.write("\n")
    names = ["inprocess", *(row.name for row in variants(server_specs(checkout is not None)))]
    print()
    print(markdown_table(report.cells, names, settings.concurrencies))
    print()
    for goal in report.goals:
        verdict = {True: "reached", False: "NOT reached", None: "not measured"}[goal["reached"]]
        print(f"{goal['name']:<20} {goal['value']} (goal ≥ {goal['target']}) {verdict}")
    for name, failure in report.failures.items():
        print(f"\n{name} failed: {failure}")
    print(f"\nmemory (MB): {report.memory_mb}\nwritten: {args.out} ({report.total_s} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
