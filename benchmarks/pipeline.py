"""The whole-workflow benchmark: `dlwp run` against a plain Keras script, side by side in one run.

    python -m benchmarks.pipeline [--epochs 5] [--work DIR] [--runs plain,fashion_mnist,...]
                                  [--out benchmarks/results/pipeline.json]

Runs, one after the other on an otherwise idle machine:
- `plain`: the book's Keras code as a plain script (benchmarks/plain_keras.py), the anchor;
- `fashion_mnist`: `dlwp run fashion_mnist --epochs N` in a fresh home, the same protocol;
- `cached`: the same command again in the same home (every step is a cache hit);
- `csv_13`: a 500-row, 13-column numeric CSV (`dlwp run --csv`), the whole run;
- `csv_30`: the UCI breast cancer table (569 rows, 30 columns): the Transform's cost per column.

Each run is a child process: its wall time, the time of its first line and of its first step line
(`[1/16] ...`), and its peak RSS (`wait4`) are measured from outside; step times, per-epoch
seconds and accuracy are read from what the run wrote (summary.json, training.json). The goals of
docs/benchmarks.md ("The whole workflow") are fixed here and only reported on.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.real_tables import TABLES, write_table
from benchmarks.reports import write_report
from benchmarks.servers import dlwp_program

RUNS = ("plain", "fashion_mnist", "cached", "csv_13", "csv_30")
STEP_LINE = re.compile(r"^\[1/\d+\] ")
GIB = 2**30


@dataclasses.dataclass(frozen=True)
class Measured:
    """One child process, measured from outside."""

    command: list[str]
    exit_code: int
    wall_s: float
    first_line_s: float | None
    first_step_s: float | None
    peak_rss_bytes: int
    lines: list[str]

    def to_json(self) -> dict:
        return {
            "command": " ".join(self.command),
            "exit_code": self.exit_code,
            "wall_s": round(self.wall_s, 2),
            "first_line_s": self.first_line_s,
            "first_step_s": self.first_step_s,
            "peak_rss_gib": round(self.peak_rss_bytes / GIB, 2),
        }


def measure(command: list[str]) -> Measured:
    """Runs `command`, timing its output lines as they arrive; `wait4` gives its peak RSS."""
    started = time.monotonic()
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    first_line = first_step = None
    lines = []
    assert child.stdout is not None
    for line in child.stdout:
        at = round(time.monotonic() - started, 2)
        first_line = at if first_line is None else first_line
        if first_step is None and STEP_LINE.match(line):
            first_step = at
        lines.append(line.rstrip("\n"))
        print(f"  {at:7.1f} s  {line.rstrip()}", flush=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        command=command,
        exit_code=child.returncode,
        wall_s=wall,
        first_line_s=first_line,
        first_step_s=first_step,
        peak_rss_bytes=usage.ru_maxrss * 1024,  # Linux reports KiB
        lines=lines,
    )


def _dlwp(*args: str) -> list[str]:
    return [dlwp_program(), "run", *args]


def _read_json(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _training_record(home: str, model: str) -> dict | None:
    """The latest Trainer execution's training.json (per-epoch seconds among its fields)."""
    runs = glob.glob(os.path.join(home, "pipelines", model, "Trainer", "model_run", "*"))
    runs.sort(key=lambda path: int(os.path.basename(path)) if path[-1].isdigit() else -1)
    for run in reversed(runs):
        record = _read_json(os.path.join(run, "training.json"))
        if record is not None:
            return record
    return None


def dlwp_run(home: str, model: str, args: list[str]) -> dict:
    """One `dlwp run`, measured; with its summary's step times and result."""
    measured = measure(_dlwp(*args, "--home", home))
    summary = _read_json(os.path.join(home, "reports", model, "summary.json")) or {}
    training = _training_record(home, model) or {}
    timings = summary.get("timings_s") or {}
    exports = summary.get("exports") or {}
    return {
        **measured.to_json(),
        "steps_s": {k: v for k, v in timings.items() if k != "total"},
        "pipeline_s": timings.get("total"),
        "startup_s": round(measured.wall_s - (timings.get("total") or 0), 2),
        "exporter_s": timings.get("Exporter"),
        "cached_steps": len(summary.get("cached") or []),
        "metric": summary.get("metric"),
        "blessed": summary.get("blessed"),
        "pushed_version": summary.get("pushed_version"),
        "exports_published": sum(1 for e in exports.values() if e.get("published")),
        "exports_checked": len(exports),
        "epoch_s": training.get("epoch_s"),
    }


def plain_run(epochs: int) -> dict:
    """The plain Keras script, measured; with the JSON line it prints."""
    measured = measure([sys.executable, "-m", "benchmarks.plain_keras", "--epochs", str(epochs)])
    result = json.loads(measured.lines[-1]) if measured.exit_code == 0 else {}
    return {**measured.to_json(), **result}


def write_numeric_csv(path: str, rows: int = 500, columns: int = 13, seed: int = 0) -> str:
    """A regression table of the shape of the book's Boston Housing (506 x 13): the run's cost
    depends on the shape, not on the values. The target is a noisy linear mix of the columns."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, columns)) * rng.uniform(1, 100, size=columns)
    target = features @ rng.normal(size=columns) + rng.normal(scale=5.0, size=rows)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*(f"x{i}" for i in range(columns)), "target"])
        for row, y in zip(features, target, strict=True):
            writer.writerow([*(f"{v:.4f}" for v in row), f"{y:.4f}"])
    return path


def _all_epochs(epoch_s: dict | None) -> list[float]:
    if not epoch_s:
        return []
    values: list[float] = []
    for seconds in epoch_s.values():
        values.extend(seconds if isinstance(seconds, list) else [])
    return values


def goals(results: dict) -> list[dict]:
    """Each goal of docs/benchmarks.md with its measured value and whether it is met."""
    plain, run = results.get("plain"), results.get("fashion_mnist")
    rows = []

    def goal(name: str, definition: str, value: float | None, target: float, unit: str) -> None:
        rows.append(
            {
                "goal": name,
                "definition": definition,
                "value": None if value is None else round(value, 3),
                "target": target,
                "unit": unit,
                "met": value is not None and value <= target,
            }
        )

    if plain and run:
        without_exporter = run["wall_s"] - (run["exporter_s"] or 0)
        goal(
            "wall_vs_plain",
            "dlwp run fashion_mnist wall without the Exporter / the plain script's wall",
            without_exporter / plain["wall_s"],
            2.0,
            "×",
        )
        dlwp_epochs, plain_epochs = _all_epochs(run["epoch_s"]), _all_epochs(plain["epoch_s"])
        goal(
            "epoch_vs_plain",
            "median Trainer epoch / median plain-script epoch (search and final fits)",
            statistics.median(dlwp_epochs) / statistics.median(plain_epochs)
            if dlwp_epochs and plain_epochs
            else None,
            1.2,
            "×",
        )
    if run:
        goal("first_step_line", "seconds to `[1/16] ExampleGen ...`", run["first_step_s"], 15, "s")
        goal("exporter", "Exporter on Fashion-MNIST, 7 formats", run["exporter_s"], 30, "s")
        goal("peak_rss", "peak RSS of dlwp run fashion_mnist", run["peak_rss_gib"], 4, "GiB")
    if run and results.get("cached"):
        goal(
            "cached_rerun",
            "identical rerun's wall / the first run's",
            results["cached"]["wall_s"] / run["wall_s"],
            0.2,
            "×",
        )
    if results.get("csv_30"):
        goal(
            "transform_30_columns",
            "Transform on the 30-column breast cancer CSV",
            results["csv_30"]["steps_s"].get("Transform"),
            10,
            "s",
        )
    if results.get("csv_13"):
        goal("csv_13_wall", "whole dlwp run, 500 x 13 CSV", results["csv_13"]["wall_s"], 75, "s")
    return rows


def table(report: dict) -> str:
    """The markdown tables of docs/benchmarks.md."""
    results = report["results"]
    lines = ["| goal | measured | target | met |", "|---|---:|---:|---|"]
    for g in report["goals"]:
        value = "—" if g["value"] is None else f"{g['value']:g} {g['unit']}"
        met = "yes" if g["met"] else "no"
        lines.append(f"| {g['definition']} | {value} | ≤ {g['target']:g} {g['unit']} | {met} |")
    lines += ["", "| run | wall (s) | first step (s) | peak RSS (GiB) | accuracy / metric |"]
    lines.append("|---|---:|---:|---:|---|")
    for name, r in results.items():
        metric = r.get("test_accuracy")
        if metric is None and r.get("metric"):
            metric = r["metric"].get("test")
        shown = "—" if metric is None else f"{metric:.4f}"
        lines.append(
            f"| {name} | {r['wall_s']} | {r.get('first_step_s') or '—'} | "
            f"{r['peak_rss_gib']} | {shown} |"
        )
    steps = (results.get("fashion_mnist") or {}).get("steps_s") or {}
    if steps:
        lines += ["", "| step (fashion_mnist) | s |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in steps.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--work", help="homes and CSVs (default: a temporary folder)")
    parser.add_argument("--out", default="benchmarks/results/pipeline.json")
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="dlwp-pipeline-")
    os.makedirs(work, exist_ok=True)
    wanted = args.runs.split(",")
    epochs = ["--epochs", str(args.epochs)]
    results: dict[str, dict] = {}
    for name in wanted:
        print(f"{name}:", flush=True)
        if name == "plain":
            results[name] = plain_run(args.epochs)
        elif name in ("fashion_mnist", "cached"):
            home = os.path.join(work, "fashion_mnist")
            results[name] = dlwp_run(home, "fashion_mnist", ["fashion_mnist", *epochs])
        elif name == "csv_13":
            path = write_numeric_csv(os.path.join(work, "numeric_13.csv"))
            home = os.path.join(work, "csv_13")
            results[name] = dlwp_run(
                home, "numeric_13", ["--csv", path, "--label", "target", "--task", "regression"]
            )
        elif name == "csv_30":
            table_spec = TABLES["breast_cancer"]
            path = write_table("breast_cancer", work)
            home = os.path.join(work, "csv_30")
            results[name] = dlwp_run(
                home,
                "breast_cancer",
                ["--csv", path, "--label", table_spec.label, "--task", table_spec.task],
            )
        else:
            parser.error(f"unknown run {name!r}; choose from {', '.join(RUNS)}")
    report = write_report(args.out, epochs=args.epochs, results=results, goals=goals(results))
    print(table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
