"""Exports benchmark: size, accuracy delta and single-example latency of every TFLite and TF.js
format of the real Fashion-MNIST model, against the SavedModel, with the goals of
docs/exports.md; and the effect of `--prune` on the gzipped size.

    python -m benchmarks.exports [--home DIR] [--pruned-home DIR] [--prune 0.8]
                                 [--out benchmarks/results/exports.json]

A home without an exported fashion_mnist is filled first with `dlwp run fashion_mnist` (about
6 min here; the pruned one with `--prune`). The numbers are the parity gate's own (parity.json:
the whole test split, each file run in its real runtime).
"""

import argparse
import json
import os
import subprocess
import sys

from benchmarks.reports import write_report
from benchmarks.servers import dlwp_program

MODEL = "fashion_mnist"
# (format, size ratio limit or None, |Δ accuracy| limit); sizes against the float32 file of the
# same runtime (TF.js: weight shards only).
GOALS = (
    ("tflite_dynamic_int8", 0.27, 0.005),
    ("tflite_int8", 0.27, 0.005),
    ("tflite_float16", None, 0.001),  # size ≈ 0.5×, reported
    ("tfjs_uint8", 0.27, 0.005),
    ("tfjs_float16", None, 0.001),
)


def _parity(home: str, prune: float = 0.0) -> dict:
    exports = os.path.join(home, "exports", MODEL)
    latest = os.path.join(exports, "latest.json")
    if not os.path.exists(latest):
        command = [
            dlwp_program(),
            "run",
            MODEL,
            "--home",
            home,
            *(["--prune", str(prune)] if prune else []),
        ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with open(latest) as f:
        version = json.load(f)["version"]
    with open(os.path.join(exports, str(version), "parity.json")) as f:
        return json.load(f)


def _size(result: dict) -> int:
    return result["weight_bytes"] if result["runtime"] == "tfjs" else result["size_bytes"]


def evaluate(parity: dict) -> list[dict]:
    """The goals of docs/exports.md, each with the measured values and whether it is reached."""
    formats = parity["formats"]
    rows = []
    for name, size_limit, delta_limit in GOALS:
        result = formats[name]
        float32 = formats[f"{result['runtime']}_float32"]
        ratio = _size(result) / _size(float32) if result.get("size_bytes") else None
        reached = (
            result["published"]
            and abs(result["delta"]) <= delta_limit
            and (size_limit is None or (ratio is not None and ratio <= size_limit))
        )
        rows.append(
            {
                "format": name,
                "size_ratio_to_float32": ratio,
                "size_limit": size_limit,
                "delta": result.get("delta"),
                "delta_limit": delta_limit,
                "reached": bool(reached),
            }
        )
    return rows


def table(parity: dict) -> str:
    """The markdown table of docs/exports.md."""
    reference = parity["reference"]
    lines = [
        "| format | input | size (bytes) | gzipped | vs float32 weights | accuracy | Δ | "
        "agreement | max abs diff | latency (ms) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| SavedModel (weights) | raw | {reference['weight_bytes']:,} | "
        f"{reference['gzip_bytes']:,} | 1.00 | {reference['metric']:.4f} | | | | "
        f"{reference['latency_ms']:.3f} |",
    ]
    for name, r in parity["formats"].items():
        if "metric" not in r:
            lines.append(f"| {name} | failed: {r['reason']} | | | | | | | | |")
            continue
        lines.append(
            f"| {name} | {r['input']} | {r['size_bytes']:,} | {r['gzip_bytes']:,} | "
            f"{r['size_ratio']:.3f} | {r['metric']:.4f} | {r['delta']:+.4f} | "
            f"{r['agreement']:.4f} | {r['max_abs_diff']:.2g} | {r['latency_ms']:.3f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default="benchmark-home/exports")
    parser.add_argument("--pruned-home", default="benchmark-home/exports-pruned")
    parser.add_argument("--prune", type=float, default=0.8)
    parser.add_argument("--out", default="benchmarks/results/exports.json")
    args = parser.parse_args(argv)
    parity = _parity(os.path.abspath(args.home))
    pruned = _parity(os.path.abspath(args.pruned_home), args.prune)
    pruning = {
        "target": args.prune,
        "gzip_bytes": {
            name: pruned["formats"][name].get("gzip_bytes") for name in parity["formats"]
        },
        "gzip_bytes_unpruned": {
            name: parity["formats"][name].get("gzip_bytes") for name in parity["formats"]
        },
        "metric": pruned["reference"]["metric"],
        "metric_unpruned": parity["reference"]["metric"],
    }
    results = write_report(args.out, parity=parity, goals=evaluate(parity), pruning=pruning)
    print(table(parity))
    for goal in results["goals"]:
        print(goal)
    print("pruning:", json.dumps(pruning))
    return 0


if __name__ == "__main__":
    sys.exit(main())
