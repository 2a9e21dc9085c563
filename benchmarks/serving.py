"""Serving benchmark: requests/s and p50/p99 latency of `dlwp serve` (REST, REST with batching,
gRPC) against the model called in process (the ceiling) and the book's naive Flask app, at
concurrency 1, 8 and 32, for an MNIST dense model and an MNIST convnet. Each request carries one
image. See docs/benchmarks.md.

    python -m benchmarks.serving [--quick] [--profile] [--out benchmarks/results/serving.json]
                                 [--baseline DIR]

With `--baseline DIR` (a checkout of an earlier commit, benchmarks/baseline.py), the `dlwp serve`
servers also run from DIR's code and each of their cells is measured right after (or before) the
working tree's: the report gains `<variant>_baseline` cells, new / baseline ratios and a goal.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from benchmarks import baseline, servers
from benchmarks.baseline import BASELINE_SUFFIX, BaselineCheckout
from benchmarks.contention import ContentionGuard, busy_cores_outside
from benchmarks.goals import baseline_ratios, evaluate_goals
from benchmarks.load_generator import CellResult, ClientPool, Target, send_once
from benchmarks.models import MODEL_NAMES, keras_model_path, sample_instance

CONCURRENCIES = (1, 8, 32)
VARIANTS = ("inprocess", "rest", "rest_batching", "grpc", "naive_flask")
# Which server answers which variant, and over which protocol.
SERVER_VARIANTS = {
    "dlwp": (("rest", "rest"), ("grpc", "grpc")),
    "dlwp_batching": (("rest_batching", "rest"),),
    "naive_flask": (("naive_flask", "rest"),),
}
# The servers that run again from the baseline's code (as `<name>_baseline`) when there is one.
BASELINE_SERVERS = ("dlwp", "dlwp_batching")
PROFILED_SERVER = "dlwp_profiled"
PROFILE_MODEL, PROFILE_CONCURRENCY = "dense", 8
PROFILE_CELL = {"model": PROFILE_MODEL, "variant": "rest", "concurrency": PROFILE_CONCURRENCY}
# The first request on a model traces its graph (the naive app's `model.predict`: seconds).
WARM_UP_TIMEOUT_S = 120.0
# Requests timed one at a time after the warm-up, to size the cells of a slow server.
PROBE_REQUESTS = 3
LATENCIES_PER_WINDOW = 2.0
# Cores used by processes outside the benchmark above which a cell is flagged as contended.
CONTENDED_OTHER_CORES = 0.25
QUIET_CHECK_S = 2.0


@dataclass(frozen=True)
class BenchmarkSettings:
    """How long and how hard each cell runs."""

    duration_s: float = 5.0
    warmup_s: float = 1.0
    concurrencies: tuple[int, ...] = CONCURRENCIES
    client_processes: int = 2
    inprocess_batch_size: int = 32
    profile: bool = False
    # A cell disturbed by other processes is measured again up to this many times, as long as
    # the run has not spent `quiet_wait_budget_s` waiting for a quiet machine.
    contended_retries: int = 2
    quiet_wait_budget_s: float = 120.0


def quick_settings(profile: bool) -> BenchmarkSettings:
    """Short cells, for a check that everything runs."""
    return BenchmarkSettings(
        duration_s=2.0, warmup_s=0.5, profile=profile, contended_retries=1, quiet_wait_budget_s=20.0
    )


def machine_info() -> dict:
    """CPU count and model, versions and the date of the run."""
    import grpc
    import tensorflow as tf

    cpu_model = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        cpu_model = names[0] if names else cpu_model
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "grpcio": grpc.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def code_version() -> dict:
    """The commit measured, and whether the server's code differs from it (None without git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=servers.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--", "serving", "pipelines"],
            cwd=servers.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "server_code_changed": None}
    return {"commit": commit, "server_code_changed": bool(changes.strip())}


def build_targets(model: str, port: int, grpc_port: int | None) -> dict[str, Target]:
    """REST and gRPC targets of one model on one server (bodies serialized here, once)."""
    from benchmarks.request_bodies import grpc_predict_request, rest_predict_body

    instance = sample_instance(model)
    targets = {"rest": Target("rest", "127.0.0.1", port, model, rest_predict_body(instance))}
    if grpc_port is not None:
        body = grpc_predict_request(model, instance)
        targets["grpc"] = Target("grpc", "127.0.0.1", grpc_port, model, body)
    return targets


def start_servers(
    root: str, settings: BenchmarkSettings, checkout: BaselineCheckout | None = None
) -> dict[str, servers.ServerProcess]:
    """Starts every server the run needs at once (their startups overlap; they are paused once
    ready so only the one being measured runs), `checkout`'s among them when there is one."""
    model_base = os.path.join(root, "models")
    log_dir = os.path.join(root, "logs")
    os.makedirs(log_dir, exist_ok=True)
    started = {}
    dlwp_servers = {"dlwp": False, "dlwp_batching": True}
    if settings.profile:
        dlwp_servers[PROFILED_SERVER] = False
    for name, batching in dlwp_servers.items():
        port, grpc_port = servers.free_port(), servers.free_port()
        args = servers.dlwp_serve_command(model_base, port, grpc_port, batching)
        if name == PROFILED_SERVER:
            command = [
                sys.executable,
                "-m",
                "benchmarks.profiled_server",
                "--out",
                profile_path(root),
                "--",
                *args,
            ]
        else:
            command = [servers.dlwp_program(), *args]
        started[name] = servers.start_server(name, command, port, log_dir, grpc_port)
        if checkout is not None and name in BASELINE_SERVERS:
            port, grpc_port = servers.free_port(), servers.free_port()
            args = servers.dlwp_serve_command(model_base, port, grpc_port, batching)
            started[name + BASELINE_SUFFIX] = servers.start_baseline_server(
                name + BASELINE_SUFFIX, checkout, args, port, log_dir, grpc_port
            )
    port = servers.free_port()
    flask_command = [
        sys.executable,
        "-m",
        "benchmarks.naive_flask_app",
        "--keras-dir",
        os.path.dirname(keras_model_path(root, "dense")),
        "--port",
        str(port),
    ]
    started["naive_flask"] = servers.start_server("naive_flask", flask_command, port, log_dir)
    started["naive_flask"].clean_exit_codes = (0, -signal.SIGTERM)
    return started


def profile_path(root: str) -> str:
    """Where the profiled server writes its pstats file."""
    return os.path.join(root, "dlwp_serve.pstats")


def verify_baseline_code(
    checkout: BaselineCheckout, started: dict[str, servers.ServerProcess], failures: dict
) -> dict[str, list[str]]:
    """Server name → the files its `serving` and `pipelines` came from, for each baseline server
    that came up.

    Raises:
        baseline.BaselineCodeError: one of them ran code from outside the checkout.
    """
    return {
        name: baseline.verify_code(checkout, name, started[name].log_path)
        for name in (server + BASELINE_SUFFIX for server in BASELINE_SERVERS)
        if name in started and name not in failures
    }


def wait_for_servers(started: dict[str, servers.ServerProcess]) -> dict[str, str]:
    """Waits until each server serves every model, then pauses it.

    Returns:
        Server name → why it failed, for the servers that did not come up.
    """
    failures = {}
    for name, server in started.items():
        try:
            servers.wait_until_available(server, list(MODEL_NAMES))
            servers.pause(server)
        except servers.ServerFailedError as error:
            failures[name] = str(error)
    return failures


def warm_up(targets: dict[str, Target], protocols: set[str]) -> tuple[dict[str, str], dict]:
    """Unmeasured requests per protocol: the first (first calls trace graphs: seconds, not
    milliseconds), then a few timed one at a time.

    Returns:
        Protocol → error for the protocols whose requests failed, and protocol → median
        latency (s) of one request alone.
    """
    errors, latencies_s = {}, {}
    for protocol in sorted(protocols):
        error = send_once(targets[protocol], WARM_UP_TIMEOUT_S)
        timings = []
        for _ in range(PROBE_REQUESTS):
            if error is not None:
                break
            started = time.monotonic()
            error = send_once(targets[protocol], WARM_UP_TIMEOUT_S)
            timings.append(time.monotonic() - started)
        if error is not None:
            errors[protocol] = error
        else:
            latencies_s[protocol] = sorted(timings)[len(timings) // 2]
    return errors, latencies_s


def cell_window(
    settings: BenchmarkSettings, alone_latency_s: float, concurrency: int
) -> tuple[float, float]:
    """(warm-up, measured) seconds of a cell: the settings', stretched for a slow server so the
    warm-up reaches the steady state and the window holds several request latencies.

    A request's latency at `concurrency` is at most `concurrency` times its latency alone (a
    server that answers one request at a time).
    """
    worst_latency_s = alone_latency_s * concurrency
    return (
        max(settings.warmup_s, worst_latency_s),
        max(settings.duration_s, LATENCIES_PER_WINDOW * worst_latency_s),
    )


def measure_cell(
    pool: ClientPool,
    target: Target,
    concurrency: int,
    window: tuple[float, float],
    server_pids: list[int],
    guard: ContentionGuard,
) -> tuple[CellResult, dict]:
    """One cell through the client pool (`window`: warm-up and measured seconds), with the cores
    each party used meanwhile (a cell that other processes disturbed is measured again when the
    machine is quiet)."""
    groups = {"server": server_pids, "clients": pool.pids, "benchmark": [os.getpid()]}
    warmup_s, duration_s = window
    result, cores, attempts = guard.measure(
        lambda: pool.run(target, concurrency, warmup_s, duration_s), groups
    )
    return result, dict(cores, attempts=attempts)


def measure_server(
    pool: ClientPool,
    server: servers.ServerProcess,
    variants,
    settings: BenchmarkSettings,
    guard: ContentionGuard,
) -> tuple[dict, dict]:
    """Every model × variant × concurrency cell that `server` answers.

    Returns:
        `cells[model][variant][concurrency]`, and the warm-up errors by model and protocol.
    """
    cells: dict = {}
    warm_up_errors = {}
    servers.resume(server)
    try:
        for model in MODEL_NAMES:
            targets = build_targets(model, server.port, server.grpc_port)
            errors, alone_latency_s = warm_up(targets, {protocol for _, protocol in variants})
            if errors:
                warm_up_errors[model] = errors
            for variant, protocol in variants:
                if protocol in errors:
                    continue
                for concurrency in settings.concurrencies:
                    window = cell_window(settings, alone_latency_s[protocol], concurrency)
                    key = (model, variant, concurrency)
                    cell = measure_server_cell(pool, server, targets[protocol], key, window, guard)
                    cells.setdefault(model, {}).setdefault(variant, {})[str(concurrency)] = cell
    finally:
        servers.pause(server)
    return cells, warm_up_errors


def measure_server_cell(
    pool: ClientPool,
    server: servers.ServerProcess,
    target: Target,
    cell_key: tuple[str, str, int],
    window: tuple[float, float],
    guard: ContentionGuard,
) -> dict:
    """One cell of a running server (`cell_key`: model, variant, concurrency), printed; returns
    its JSON fields."""
    model, variant, concurrency = cell_key
    result, cores = measure_cell(pool, target, concurrency, window, [server.process.pid], guard)
    print_cell(model, variant, concurrency, result, cores)
    return dict(
        result.as_dict(),
        cpu_cores=cores,
        warmup_s=round(window[0], 2),
        duration_s=round(window[1], 2),
    )


def measure_side_by_side(
    pool: ClientPool,
    server: servers.ServerProcess,
    baseline_server: servers.ServerProcess,
    variants,
    settings: BenchmarkSettings,
    guard: ContentionGuard,
) -> tuple[dict, dict]:
    """The cells of `measure_server` on `server` and on `baseline_server` (as
    `<variant>_baseline`), each cell measured on one right after the other with the same window;
    which side goes first alternates from cell to cell, so a drift of the machine during the run
    favours neither.

    Returns:
        `cells[model][variant][concurrency]`, and the warm-up errors by server, model and
        protocol.
    """
    sides = ((server, ""), (baseline_server, BASELINE_SUFFIX))
    protocols = {protocol for _, protocol in variants}
    cells: dict = {}
    warm_up_errors: dict = {}
    turn = 0
    for model in MODEL_NAMES:
        targets, alone_latency_s = {}, {}
        for side, suffix in sides:
            targets[suffix] = build_targets(model, side.port, side.grpc_port)
            servers.resume(side)
            try:
                errors, alone_latency_s[suffix] = warm_up(targets[suffix], protocols)
            finally:
                servers.pause(side)
            if errors:
                warm_up_errors.setdefault(side.name, {})[model] = errors
        for variant, protocol in variants:
            ready = [side for side in sides if protocol in alone_latency_s[side[1]]]
            if not ready:
                continue
            alone_s = max(alone_latency_s[suffix][protocol] for _, suffix in ready)
            for concurrency in settings.concurrencies:
                window = cell_window(settings, alone_s, concurrency)
                for side, suffix in ready if turn % 2 == 0 else ready[::-1]:
                    servers.resume(side)
                    try:
                        cell = measure_server_cell(
                            pool,
                            side,
                            targets[suffix][protocol],
                            (model, variant + suffix, concurrency),
                            window,
                            guard,
                        )
                    finally:
                        servers.pause(side)
                    cells.setdefault(model, {}).setdefault(variant + suffix, {})[
                        str(concurrency)
                    ] = cell
                turn += 1
    return cells, warm_up_errors


def measure_inprocess_cells(root: str, settings: BenchmarkSettings, guard: ContentionGuard) -> dict:
    """The in-process ceiling for every model and concurrency (`rps` counts instances/s)."""
    from benchmarks.inprocess import load_signature, measure_inprocess

    cells: dict = {}
    for model in MODEL_NAMES:
        signature = load_signature(os.path.join(root, "models", model, "1"))
        for concurrency in settings.concurrencies:
            measure = functools.partial(
                measure_inprocess,
                signature,
                sample_instance(model),
                concurrency,
                settings.warmup_s,
                settings.duration_s,
                settings.inprocess_batch_size,
            )
            result, cores, attempts = guard.measure(measure, {"benchmark": [os.getpid()]})
            cores = dict(cores, attempts=attempts)
            cell = dict(
                result.as_dict(),
                cpu_cores=cores,
                warmup_s=settings.warmup_s,
                duration_s=settings.duration_s,
                batch_size=settings.inprocess_batch_size,
            )
            cells.setdefault(model, {}).setdefault("inprocess", {})[str(concurrency)] = cell
            print_cell(model, "inprocess", concurrency, result, cores)
    return cells


def merge_cells(into: dict, cells: dict) -> None:
    """Adds `cells[model][variant]` entries to `into`."""
    for model, variants in cells.items():
        into.setdefault(model, {}).update(variants)


def print_cell(
    model: str, variant: str, concurrency: int, result: CellResult, cores: dict[str, float]
) -> None:
    """One line of the live table, with the cores each party used."""
    used = " ".join(f"{name}={value:.2f}" for name, value in cores.items())
    print(
        f"{model:<8} {variant:<14} {concurrency:>3} {result.rps:>10.1f} {result.p50_ms:>9.2f} "
        f"{result.p99_ms:>9.2f} {result.errors:>6}  cores: {used}",
        flush=True,
    )


VARIANT_WIDTH = 14


def table_header(variant_width: int = VARIANT_WIDTH) -> str:
    """The column names of the table."""
    return (
        f"{'model':<8} {'variant':<{variant_width}} {'c':>3} {'req/s':>10} {'p50 ms':>9} "
        f"{'p99 ms':>9} errors"
    )


TABLE_HEADER = table_header()


def format_table(cells: dict) -> str:
    """The results as a text table, in a fixed order."""
    # A baseline's variant follows the variant it is compared with.
    rows = [name for variant in VARIANTS for name in (variant, variant + BASELINE_SUFFIX)]
    present = [name for name in rows if any(name in variants for variants in cells.values())]
    width = max([VARIANT_WIDTH, *map(len, present)])
    lines = [table_header(width)]
    for model in MODEL_NAMES:
        for variant in present:
            for concurrency, cell in cells.get(model, {}).get(variant, {}).items():
                p50 = "-" if cell["p50_ms"] is None else f"{cell['p50_ms']:.2f}"
                p99 = "-" if cell["p99_ms"] is None else f"{cell['p99_ms']:.2f}"
                lines.append(
                    f"{model:<8} {variant:<{width}} {concurrency:>3} {cell['rps']:>10.1f} "
                    f"{p50:>9} {p99:>9} {cell['errors']:>6}"
                )
    return "\n".join(lines)


def format_baseline_ratios(ratios: dict, label: str) -> str:
    """New / baseline req/s, p50 and p99 per model, variant and concurrency."""
    lines = [
        f"new / baseline ({label})",
        f"{'model':<8} {'variant':<14} {'c':>3} {'req/s':>7} {'p50':>7} {'p99':>7}",
    ]
    for model in MODEL_NAMES:
        for variant in VARIANTS:
            for concurrency, ratio in ratios.get(model, {}).get(variant, {}).items():
                shown = ["-" if ratio[field] is None else f"{ratio[field]:.2f}" for field in ratio]
                lines.append(
                    f"{model:<8} {variant:<14} {concurrency:>3} "
                    + " ".join(f"{value:>7}" for value in shown)
                )
    return "\n".join(lines)


def format_goals(goals: list[dict]) -> str:
    """One line per goal and model: ratio, target, reached."""
    lines = []
    for goal in goals:
        for model, ratio in goal["ratios"].items():
            verdict = {True: "reached", False: "NOT reached", None: "not measured"}[
                goal["reached"][model]
            ]
            shown = "-" if ratio is None else f"{ratio:.2f}"
            lines.append(
                f"{goal['name']:<28} {model:<8} {shown:>6} (goal ≥ {goal['target']}) {verdict}"
            )
    return "\n".join(lines)


def run_profile(
    pool: ClientPool,
    server: servers.ServerProcess,
    root: str,
    settings: BenchmarkSettings,
    guard: ContentionGuard,
) -> dict:
    """Runs the profile cell against the profiled server, stops it and summarizes the pstats."""
    from benchmarks.profile_breakdown import request_time_breakdown

    target = build_targets(PROFILE_MODEL, server.port, None)["rest"]
    servers.resume(server)
    warm_up_errors, _ = warm_up({"rest": target}, {"rest"})
    # One attempt only: the profile adds up every request the server answers.
    guard.wait_for_quiet()
    single_attempt = ContentionGuard(guard.threshold_cores, retries=0, wait_budget_s=0.0)
    window = (settings.warmup_s, settings.duration_s)
    result, cores = measure_cell(
        pool, target, PROFILE_CONCURRENCY, window, [server.process.pid], single_attempt
    )
    print_cell(PROFILE_MODEL, "rest_profiled", PROFILE_CONCURRENCY, result, cores)
    exit_status = servers.stop(server)
    if exit_status["exit_code"] != 0 or not os.path.exists(profile_path(root)):
        return {
            "error": f"the profiled server did not write its profile: {exit_status}; "
            f"log tail:\n{server.log_tail()}",
            "server_exit": exit_status,
        }
    breakdown = request_time_breakdown(profile_path(root), result.mean_ms)
    return {
        "cell": dict(PROFILE_CELL),
        "client": dict(result.as_dict(), cpu_cores=cores),
        "warm_up_errors": warm_up_errors,
        "server_exit": exit_status,
        **breakdown,
    }


def contended_cells(cells: dict) -> list[str]:
    """Cells during which processes outside the benchmark used a noticeable share of the CPU."""
    flagged = []
    for model, variants in cells.items():
        for variant, by_concurrency in variants.items():
            for concurrency, cell in by_concurrency.items():
                other = cell["cpu_cores"]["other"]
                if other > CONTENDED_OTHER_CORES:
                    flagged.append(f"{model}/{variant}/{concurrency}: other={other}")
    return flagged


def save_models_meanwhile(root: str) -> multiprocessing.process.BaseProcess:
    """Starts saving the models in a spawned process (importing TensorFlow takes 20 s; this
    process imports it at the same time on the other core)."""
    from benchmarks.models import save_benchmark_models

    saver = multiprocessing.get_context("spawn").Process(
        target=save_benchmark_models, args=(root,), name="save-models"
    )
    saver.start()
    return saver


def run_benchmark(settings: BenchmarkSettings, checkout: BaselineCheckout | None = None) -> dict:
    """Saves the models, starts the servers, measures every cell; returns the report.

    Raises:
        baseline.BaselineCodeError: a baseline server ran code from outside `checkout`.
    """
    began = time.monotonic()
    root = tempfile.mkdtemp(prefix="dlwp-serving-benchmark-")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # dlwp serve writes its log under its home: keep that in the temporary folder.
    os.environ["DLWP_HOME"] = os.path.join(root, "home")
    busy_before = busy_cores_outside(QUIET_CHECK_S)
    saver = save_models_meanwhile(root)
    report: dict = {
        "machine": machine_info(),
        "code": code_version(),
        "settings": asdict(settings),
    }
    report["machine"]["busy_cores_before_start"] = busy_before
    if checkout is not None:
        report["baseline"] = checkout.as_dict()
    started: dict[str, servers.ServerProcess] = {}
    try:
        saver.join()
        if saver.exitcode != 0:
            raise RuntimeError(f"saving the benchmark models failed (exit code {saver.exitcode})")
        report["models_saved_s"] = round(time.monotonic() - began, 1)
        started = start_servers(root, settings, checkout)
        failures = wait_for_servers(started)
        if checkout is not None:
            report["baseline"]["code_origins"] = verify_baseline_code(checkout, started, failures)
        report["servers_ready_s"] = round(time.monotonic() - began, 1)
        startup_s = {name: s.ready_s and round(s.ready_s, 1) for name, s in started.items()}
        print(f"servers ready after {startup_s} s; failures: {failures or 'none'}", flush=True)
        print(TABLE_HEADER, flush=True)
        guard = ContentionGuard(
            CONTENDED_OTHER_CORES, settings.contended_retries, settings.quiet_wait_budget_s
        )
        cells = measure_inprocess_cells(root, settings, guard)
        warm_up_errors: dict = {}
        with ClientPool(settings.client_processes) as pool:
            for name, variants in SERVER_VARIANTS.items():
                baseline_name = name + BASELINE_SUFFIX
                if name in failures:
                    continue
                if baseline_name in started and baseline_name not in failures:
                    server_cells, errors_by_server = measure_side_by_side(
                        pool, started[name], started[baseline_name], variants, settings, guard
                    )
                    warm_up_errors.update(errors_by_server)
                else:
                    server_cells, errors = measure_server(
                        pool, started[name], variants, settings, guard
                    )
                    if errors:
                        warm_up_errors[name] = errors
                merge_cells(cells, server_cells)
            if settings.profile and PROFILED_SERVER not in failures:
                report["profile"] = run_profile(
                    pool, started[PROFILED_SERVER], root, settings, guard
                )
        report["server_exits"] = {name: servers.stop(server) for name, server in started.items()}
        report["server_failures"] = failures
        report["warm_up_errors"] = warm_up_errors
        report["server_startup_s"] = startup_s
        report["cells"] = cells
        report["goals"] = evaluate_goals(cells, with_baseline=checkout is not None)
        if checkout is not None:
            report["baseline_ratios"] = baseline_ratios(cells)
        report["contended_cells"] = contended_cells(cells)
    finally:
        for server in started.values():
            if server.process.poll() is None:
                servers.stop(server)
        shutil.rmtree(root, ignore_errors=True)
    report["total_s"] = round(time.monotonic() - began, 1)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark, writes the JSON report and prints the table and the goals."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serving",
        description="Serving benchmark of dlwp serve against the model in process and a naive "
        "Flask app (docs/benchmarks.md).",
    )
    parser.add_argument("--quick", action="store_true", help="2 s cells instead of 5 s")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the server on one REST cell (dense, concurrency 8)",
    )
    parser.add_argument(
        "--out",
        default=os.path.join("benchmarks", "results", "serving.json"),
        help="JSON report (default: benchmarks/results/serving.json)",
    )
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also measure dlwp serve from the checkout in DIR (an earlier commit) side by side",
    )
    args = parser.parse_args(argv)
    settings = (
        quick_settings(args.profile) if args.quick else BenchmarkSettings(profile=args.profile)
    )
    checkout = baseline.checkout_or_usage_error(parser, args.baseline)
    try:
        report = run_benchmark(settings, checkout)
    except baseline.BaselineCodeError as error:
        print(f"benchmark stopped: {error}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as out:
        json.dump(report, out, indent=2)
        out.write("\n")
    print()
    print(format_table(report.get("cells", {})))
    if checkout is not None:
        print()
        print(format_baseline_ratios(report.get("baseline_ratios", {}), checkout.label))
    print()
    print(format_goals(report.get("goals", [])))
    for name, failure in report.get("server_failures", {}).items():
        print(f"\n{name} failed: {failure}")
    if report.get("contended_cells"):
        print(f"\ncontended by other processes: {', '.join(report['contended_cells'])}")
    print(f"\nwritten: {args.out} ({report['total_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
