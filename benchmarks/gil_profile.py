"""Where a REST predict request's time goes in one `dlwp serve` worker: py-spy samples whichever
thread holds the GIL while wrk keeps 32 requests in flight, and each sample is charged to the
part of the request its innermost known frame belongs to. See docs/benchmarks.md ("Where one
worker's time goes").

    python -m benchmarks.gil_profile [--out benchmarks/results/gil_profile.json]

One worker (`--workers 1`) on the Fashion-MNIST model of the cores benchmark, drift on. A
worker's Python work runs one thread at a time under the GIL, so the GIL-held time per request
bounds what one worker answers; TensorFlow's kernels run without the GIL and are not in it.
Unlike cProfile, sampling barely slows the server.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np

from benchmarks import servers
from benchmarks.fashion_model import MODEL_NAME, save_fashion_model, test_image
from benchmarks.request_bodies import rest_predict_body
from benchmarks.wrk_load import run_wrk

SAMPLES_PER_S = 250
DURATION_S = 10
CONCURRENCY = 32
# A part of a request: the frames (a regular expression on "function (file)") that belong to
# it. A sample goes to the part of its innermost frame that matches one.
PARTS = (
    ("model call (Servable.run: tf.constant, the signature, .numpy())", r"\(serving/servable\.py"),
    ("drift monitor (its own thread)", r"\(serving/drift_"),
    ("JSON parse (orjson)", r"loads \(serving/(json_codec|body_decoding)\.py"),
    (
        "encode the response",
        r"\(serving/json_codec\.py|_json \(serving/rest\.py|predict_response \(serving/",
    ),
    ("JSON → numpy, input checks", r"\(serving/(json_arrays|rest_tensors|signatures)\.py"),
    ("metrics", r"\(serving/metrics\.py|\(prometheus_client/"),
    ("request ids, traces", r"\(serving/request_ids\.py"),
    ("hand-offs (futures, thread pool, asyncio)", r"\((concurrent/futures|asyncio)/"),
    ("dlwp's handler (rest.py, backends, observers, slots)", r"\(serving/"),
    ("HTTP (uvicorn, httptools)", r"\(uvicorn/protocols/"),
    ("Starlette (routing, middleware, Response)", r"\(starlette/|\(uvicorn/middleware/"),
    ("gRPC server thread (idle polling)", r"\(grpc/"),
    ("event loop (uvloop's polling and callbacks)", r"\(uvicorn/(server|_compat)\.py"),
)
OTHER = "other (event loop, interpreter)"


def frame_key(frame: str) -> str:
    """`function (path)` with the environment's folders and the line number taken out."""
    key = re.sub(r" \(.*/site-packages/", " (", frame)
    key = re.sub(r" \(.*?/(serving|benchmarks|pipelines|contract)/", r" (\1/", key)
    return re.sub(r":\d+\)$", ")", key)


def part_of(stack: list[str]) -> str:
    """The part a sample's stack (outermost frame first) is charged to."""
    for frame in reversed(stack):
        key = frame_key(frame)
        for name, pattern in PARTS:
            if re.search(pattern, key):
                return name
    return OTHER


def read_samples(path: str) -> collections.Counter:
    """py-spy's raw output (`frame;frame;... count` per line) as part → samples."""
    parts: collections.Counter = collections.Counter()
    with open(path) as raw:
        for line in raw:
            stack, count = line.rstrip("\n").rsplit(" ", 1)
            parts[part_of(stack.split(";")[1:])] += int(count)  # the first item is the thread
    return parts


def breakdown(parts: collections.Counter, requests: int, duration_s: float) -> list[dict]:
    """Per part: GIL-held ms per request and share of all GIL-held samples."""
    total = sum(parts.values())
    ms_per_sample = 1000.0 / SAMPLES_PER_S
    return [
        {
            "part": name,
            "ms_per_request": round(parts[name] * ms_per_sample / requests, 3),
            "share": round(parts[name] / total, 3),
        }
        for name in [*(name for name, _ in PARTS), OTHER]
        if parts[name]
    ]


def profile(root: str) -> dict:
    """Saves the model, serves it with one worker, samples it under load; returns the report."""
    save_fashion_model(root)
    log_dir = os.path.join(root, "logs")
    os.makedirs(log_dir)
    port, grpc_port = servers.free_port(), servers.free_port()
    os.environ["DLWP_HOME"] = os.path.join(root, "home")
    model_base = os.path.join(root, "models")
    serve_args = servers.dlwp_serve_command(model_base, port, grpc_port, batching=False)
    command = [servers.dlwp_program(), *serve_args, "--workers", "1"]
    server = servers.start_server("dlwp", command, port, log_dir, grpc_port)
    try:
        servers.wait_until_available(server, [MODEL_NAME])
        url = f"http://127.0.0.1:{port}/v1/models/{MODEL_NAME}:predict"
        body = rest_predict_body(np.asarray(test_image()))
        run_wrk(url, body, CONCURRENCY, 3)  # warm-up
        samples = os.path.join(root, "samples.txt")
        py_spy = [os.path.join(os.path.dirname(sys.executable), "py-spy"), "record", "--gil"]
        py_spy += ["--nonblocking", "--format", "raw", "-r", str(SAMPLES_PER_S)]
        py_spy += ["-d", str(DURATION_S + 2), "-p", str(server.process.pid), "-o", samples]
        sampler = subprocess.Popen(py_spy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1)  # py-spy attaches
        result, _ = run_wrk(url, body, CONCURRENCY, DURATION_S)
        _, errors = sampler.communicate(timeout=60)
        if sampler.returncode != 0:
            raise RuntimeError(f"py-spy failed: {errors.decode(errors='replace')}")
    finally:
        servers.stop(server)
    parts = read_samples(samples)
    gil_share = sum(parts.values()) / (SAMPLES_PER_S * DURATION_S)
    return {
        "cell": {"model": MODEL_NAME, "workers": 1, "concurrency": CONCURRENCY, "client": "wrk"},
        "client": result.as_dict(),
        "gil_held_share": round(gil_share, 3),
        "parts": breakdown(parts, result.requests, DURATION_S),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the profile, writes the JSON and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "gil_profile.json"))
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="dlwp-gil-profile-")
    try:
        report = profile(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    with open(args.out, "w") as out:
        json.dump(report, out, indent=1)
        out.write("\n")
    client = report["client"]
    held = report["gil_held_share"]
    print(f"{client['rps']:.0f} req/s, p99 {client['p99_ms']} ms; the GIL held {held:.0%}")
    print("| part | GIL ms per request | share |\n|---|---:|---:|")
    for part in report["parts"]:
        print(f"| {part['part']} | {part['ms_per_request']:.3f} | {part['share']:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
