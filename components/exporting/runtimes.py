"""Runs exported models in their real runtimes: the TFLite interpreter, and TF.js in Node.

TF.js runs in Node with TF.js's npm packages (core, the graph-model loader, two backends),
through `web/predict.mjs`, on its WebAssembly backend (the code a browser runs without WebGL);
a graph with a kernel that backend lacks runs on the pure-JS one. `make install` installs them.
"""

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import numpy as np
import tensorflow as tf

from components.errors import DlwpError
from components.exporting.formats import TFJS, ExportFormat
from contract.signatures import SERVING_DEFAULT

BATCH = 256
WEB_DIR = os.environ.get(
    "DLWP_WEB_DIR", os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "web")
)
NODE_RUNNER = "predict.mjs"
# The pure-JS CPU backend takes 15 s of CPU per format on the 10,000 Fashion-MNIST test images,
# the WebAssembly one 0.5 s, with the same outputs to 1e-6 (docs/exports.md).
TFJS_BACKEND = "wasm"
TFJS_PACKAGES = ("tfjs-core", "tfjs-converter", "tfjs-backend-wasm", "tfjs-backend-cpu")
NODE_TIMEOUT_S = 600


class RuntimeUnavailableError(DlwpError):
    """The runtime a format needs (Node.js with @tensorflow/tfjs) is not installed."""


def _rows(inputs: dict[str, np.ndarray]) -> int:
    return len(next(iter(inputs.values())))


def predict(
    export_format: ExportFormat,
    folder: str,
    inputs: dict[str, np.ndarray],
    latency_examples: int = 0,
) -> tuple[dict[str, np.ndarray], float | None]:
    """Runs the export of `export_format` in `folder` in its own runtime: its outputs on
    `inputs`, and the median single-example time (ms).

    Raises:
        RuntimeUnavailableError: the format's runtime is not installed.
    """
    if export_format.runtime == TFJS:
        return tfjs_predict(folder, inputs, latency_examples)
    return tflite_predict(os.path.join(folder, export_format.model_file), inputs, latency_examples)


def tflite_predict(
    model_path: str, inputs: dict[str, np.ndarray], latency_examples: int = 0
) -> tuple[dict[str, np.ndarray], float | None]:
    """The model's outputs on `inputs` (in batches), and the median single-example time (ms)."""
    with tf.io.gfile.GFile(model_path, "rb") as f:
        interpreter = tf.lite.Interpreter(model_content=f.read())
    runner = interpreter.get_signature_runner(SERVING_DEFAULT)
    dtypes = {name: d["dtype"] for name, d in runner.get_input_details().items()}

    def run(start: int, end: int) -> dict[str, np.ndarray]:
        return runner(**{name: inputs[name][start:end].astype(dtypes[name]) for name in dtypes})

    return _in_batches(run, _rows(inputs), latency_examples)


def _in_batches(run, n: int, latency_examples: int) -> tuple[dict, float | None]:
    """`run(start, end)` over all n rows in batches, joined; and its median single-row time."""
    parts = [run(start, min(n, start + BATCH)) for start in range(0, n, BATCH)]
    outputs = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return outputs, _median_ms(lambda i: run(i, i + 1), min(n, latency_examples))


def _median_ms(call, count: int) -> float | None:
    if count == 0:
        return None
    call(0)  # warm-up: first calls allocate
    times = []
    for i in range(count):
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def saved_model_predict(
    signature, inputs: dict[str, np.ndarray], latency_examples: int = 0
) -> tuple[dict[str, np.ndarray], float | None]:
    """The SavedModel signature's outputs on `inputs`, and its median single-example time."""
    specs = signature.structured_input_signature[1]

    def run(start: int, end: int) -> dict[str, np.ndarray]:
        feed = {name: tf.constant(inputs[name][start:end], specs[name].dtype) for name in specs}
        return {key: value.numpy() for key, value in signature(**feed).items()}

    return _in_batches(run, _rows(inputs), latency_examples)


def node_command() -> list[str]:
    """`node web/predict.mjs`, or RuntimeUnavailableError naming what is missing."""
    node = shutil.which("node")
    runner = os.path.abspath(os.path.join(WEB_DIR, NODE_RUNNER))
    packages = [
        os.path.join(WEB_DIR, "node_modules", "@tensorflow", name, "package.json")
        for name in TFJS_PACKAGES
    ]
    missing = [path for path in (runner, *packages) if not os.path.exists(path)]
    if node is None or missing:
        raise RuntimeUnavailableError(
            "TF.js exports are checked in Node.js with TF.js and its WebAssembly backend, "
            f"which are not installed (node: {node or 'not found'}; missing: "
            f"{', '.join(missing) or 'nothing'}); run `make install`"
        )
    return [node, runner]


def _tfjs_input(array: np.ndarray, folder: str, name: str) -> dict:
    if array.dtype.kind in ("S", "O", "U"):
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
        return {"dtype": "string", "shape": list(array.shape), "values": values}
    if array.dtype.kind in ("i", "u"):
        # TF.js has no int64: the converter maps int64 inputs to int32.
        if array.size and (
            array.max() > np.iinfo(np.int32).max or array.min() < np.iinfo(np.int32).min
        ):
            raise ValueError(f"input {name!r} holds values outside int32, which TF.js cannot")
        dtype, array = "int32", array.astype("<i4")
    else:
        dtype, array = "float32", array.astype("<f4")
    path = os.path.join(folder, f"{name}.bin")
    array.tofile(path)
    return {"dtype": dtype, "shape": list(array.shape), "file": path}


def tfjs_predict(
    model_dir: str, inputs: dict[str, np.ndarray], latency_examples: int = 0
) -> tuple[dict[str, np.ndarray], float | None]:
    """The TF.js graph model's outputs in Node, and its median single-example time (ms)."""
    command = node_command()
    with tempfile.TemporaryDirectory(prefix="dlwp-tfjs-") as folder:
        request = {
            "model_dir": os.path.abspath(model_dir),
            "batch_size": BATCH,
            "backend": TFJS_BACKEND,
            "latency_examples": min(_rows(inputs), latency_examples),
            "inputs": {name: _tfjs_input(a, folder, name) for name, a in inputs.items()},
        }
        request_path = os.path.join(folder, "request.json")
        response_path = os.path.join(folder, "response.json")
        with open(request_path, "w") as f:
            json.dump(request, f)
        done = subprocess.run(
            [*command, request_path, response_path],
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"TF.js in Node failed: {done.stderr.strip()[-2000:]}")
        with open(response_path) as f:
            response = json.load(f)
    outputs = {
        key: np.asarray(value["values"], np.float64).reshape(value["shape"])
        for key, value in response["outputs"].items()
    }
    latency = response["latency_ms"]
    return outputs, statistics.median(latency) if latency else None
