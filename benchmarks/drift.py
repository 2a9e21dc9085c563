"""Drift detection benchmark: how often the drift monitor's thresholds fire on
same-distribution traffic (false alarms, goal ≤ 1 % of windows), and how often one window of a
documented shift crosses them (power, goal ≥ 0.8); and what the monitor costs a request.

    python -m benchmarks.drift [--home DIR] [--windows 1000] [--out benchmarks/results/drift.json]

Shifts, each measured at the default window (500 examples) and at 100 and 200:
- numeric: a column ~ N(0, 1) moves by +0.5 standard deviation;
- images (the real Fashion-MNIST): test images against the train reference, then brightened
  (pixels × 1.2, clipped at 255), on the `image.mean_intensity` and `image.ink_fraction` series;
- class priors: the predicted classes of the real Fashion-MNIST model on test images against its
  eval-set predictions, then with 10 % of the traffic moved to one class (its prior + 10
  points), when `--home` holds a pushed fashion_mnist (`dlwp run fashion_mnist`).

Cost: µs per `observe` (the request path's part) and per call on the monitor's thread; and the
p50/p99 of sequential one-image REST requests to the real model with the monitor on and off.

The references are built by the pipeline's own code (components/drift_reference.py) and, where
the monitor reads them, written as the Pusher publishes them (docs/monitoring.md).
"""

import argparse
import datetime
import glob
import json
import os
import socket
import sys
import time

import numpy as np
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.drift_reference import reference_from_inputs
from contract.drift_reference import (
    DriftReference,
    DriftReferenceError,
    read_reference,
    write_reference,
)
from contract.drift_series import feature_series
from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract
from contract.version_assets import (
    ASSETS_EXTRA,
    EVAL_PREDICTIONS_FILE,
    REFERENCE_FILE,
    SCHEMA_FILE,
)
from serving.drift_measures import Distribution

WINDOWS = (100, 200, 500)
REFERENCE_EXAMPLES = 5000
# An image classifier like fashion_mnist's: 784 pixels in 0-255, ten classes.
IMAGE_TASK = TaskContract(
    features=(Feature("image", FeatureKind.IMAGE, int_range=(0, 255)),),
    label="label",
    problem_type=ProblemType.MULTICLASS,
    metric="accuracy",
    num_classes=10,
)


def rates(reference: Distribution, clean, shifted, windows: int, rng) -> dict:
    """{window size: {false_alarms, power, threshold}}; `clean`/`shifted` draw n values."""
    results = {}
    for n in WINDOWS:
        threshold = reference.threshold(n)
        false_alarms = np.mean(
            [reference.distance(clean(n, rng)) > threshold for _ in range(windows)]
        )
        power = np.mean([reference.distance(shifted(n, rng)) > threshold for _ in range(windows)])
        results[n] = {
            "threshold": threshold,
            "false_alarms": float(false_alarms),
            "power": float(power),
        }
    return results


def _draw(values: np.ndarray):
    return lambda n, rng: values[rng.integers(0, len(values), n)]


def numeric_case(windows: int, rng) -> dict:
    reference = Distribution.numeric(rng.normal(0, 1, 5000))
    return rates(
        reference, lambda n, r: r.normal(0, 1, n), lambda n, r: r.normal(0.5, 1, n), windows, rng
    )


def image_cases(windows: int, rng) -> dict:
    from components.keras_datasets import KERAS_DATASETS, default_data_dir, load_keras_dataset

    (train, _), (test, _) = load_keras_dataset(KERAS_DATASETS["fashion_mnist"], default_data_dir())
    train = train.reshape(len(train), -1)[:5000].astype(np.int64)
    test = test.reshape(len(test), -1).astype(np.int64)
    brightened = np.minimum(255, test * 1.2).astype(np.int64)
    reference, clean = feature_series("image", train), feature_series("image", test)
    shifted = feature_series("image", brightened)
    return {
        f"image.{name}": rates(
            Distribution.numeric(reference[name]),
            _draw(clean[name]),
            _draw(shifted[name]),
            windows,
            rng,
        )
        for name in reference
    }


def image_schema() -> schema_pb2.Schema:
    """The schema of IMAGE_TASK: pixels in 0-255."""
    schema = schema_pb2.Schema()
    image = schema.feature.add(name="image", type=schema_pb2.INT)
    image.int_domain.min, image.int_domain.max = 0, 255
    schema.feature.add(name="label", type=schema_pb2.INT)
    return schema


def write_drift_assets(version_dir: str, reference: DriftReference, schema: schema_pb2.Schema):
    """`<version_dir>/assets.extra/`: the drift reference, and the schema beside it unless the
    version has its own."""
    assets = os.path.join(version_dir, ASSETS_EXTRA)
    os.makedirs(assets, exist_ok=True)
    write_reference(reference, os.path.join(assets, REFERENCE_FILE))
    if not os.path.exists(os.path.join(assets, SCHEMA_FILE)):
        with open(os.path.join(assets, SCHEMA_FILE), "w") as f:
            f.write(text_format.MessageToString(schema))


def _fashion_versions(home: str) -> list[str]:
    return sorted(glob.glob(os.path.join(home, "serving", "fashion_mnist", "[0-9]*")))


def _fashion_reference(version_dir: str) -> DriftReference:
    """The reference of a pushed fashion_mnist version: the first 5,000 train images and the
    model's outputs on the eval set (`eval_predictions.json`)."""
    from components.keras_datasets import KERAS_DATASETS, default_data_dir, load_keras_dataset

    (train, _), _ = load_keras_dataset(KERAS_DATASETS["fashion_mnist"], default_data_dir())
    images = train[:REFERENCE_EXAMPLES].reshape(REFERENCE_EXAMPLES, -1)
    with open(os.path.join(version_dir, ASSETS_EXTRA, EVAL_PREDICTIONS_FILE)) as f:
        scores = np.asarray(json.load(f), np.float64)
    return reference_from_inputs({"image": images}, IMAGE_TASK, image_schema(), scores)


def prior_case(home: str, windows: int, rng) -> dict | None:
    import tensorflow as tf

    from components.keras_datasets import KERAS_DATASETS, default_data_dir, load_keras_dataset

    versions = _fashion_versions(home)
    if not versions:
        return None
    version = versions[-1]
    reference = _fashion_reference(version).predictions
    _, (test, _) = load_keras_dataset(KERAS_DATASETS["fashion_mnist"], default_data_dir())
    signature = tf.saved_model.load(version).signatures["serving_default"]
    images = tf.constant(test.reshape(len(test), -1).astype(np.int64))
    predicted = signature(image=images)["class_ids"].numpy()
    favoured = predicted[predicted == 0]

    def shifted(n, r):  # class 0's share + 10 points of the traffic
        extra = r.binomial(n, 0.1)
        return np.concatenate([_draw(predicted)(n - extra, r), _draw(favoured)(extra, r)])

    return rates(Distribution.categorical(reference), _draw(predicted), shifted, windows, rng)


def observe_cost(calls: int = 20_000) -> dict:
    """µs per `observe` on the request path (a deque append), and per call measured later on
    the monitor's thread, for one 784-pixel image."""
    import gc
    import tempfile

    from prometheus_client import CollectorRegistry

    from serving.drift_monitor import DriftMonitor
    from serving.settings import DriftSettings

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (REFERENCE_EXAMPLES, 784))
    held_out_scores = np.eye(10)[rng.integers(0, 10, 1000)]  # predicts these classes
    reference = reference_from_inputs(
        {"image": pixels}, IMAGE_TASK, image_schema(), held_out_scores
    )
    with tempfile.TemporaryDirectory() as version_dir:
        write_drift_assets(version_dir, reference, image_schema())
        gc.collect()
        gc.freeze()  # as the server does after loading a model: TF's objects stay out of the GC
        monitor = DriftMonitor(
            DriftSettings(queue_size=calls + 10, interval_s=3600),
            CollectorRegistry(),
            lambda model, version: version_dir,
        )
        inputs = {"image": pixels[:1]}
        outputs = {"class_ids": np.array([3]), "scores": np.zeros((1, 10), np.float32)}
        # The first call reads the reference, as on a server; that is not a call's cost.
        monitor.observe("m", 1, "serving_default", inputs, outputs)
        monitor.flush(timeout_s=600)
        started = time.perf_counter()
        for _ in range(calls):
            monitor.observe("m", 1, "serving_default", inputs, outputs)
        observe_us = (time.perf_counter() - started) / calls * 1e6
        started = time.perf_counter()
        monitor.flush(timeout_s=600)
        background_us = (time.perf_counter() - started) / calls * 1e6
        monitor.close()
    return {"observe_us": observe_us, "background_us_per_call": background_us}


def _fashion_with_reference(home: str, folder: str) -> str | None:
    """A copy of the pushed fashion_mnist model with a drift reference (a model pushed before
    the monitor existed, or before its current format, has none); returns the models folder."""
    import shutil

    versions = _fashion_versions(home)
    if not versions:
        return None
    target = os.path.join(folder, "fashion_mnist", "1")
    shutil.copytree(versions[-1], target)
    try:
        readable = read_reference(target) is not None
    except DriftReferenceError:
        readable = False
    if not readable:
        write_drift_assets(target, _fashion_reference(target), image_schema())
    return folder


def request_latency(home: str, requests: int = 1500) -> dict | None:
    """p50/p99 of one-image REST requests to the real Fashion-MNIST model, sequential, with the
    drift monitor on (every call measured) and off."""
    import tempfile
    import threading

    import httpx

    from serving.server import ServingStack
    from serving.settings import DriftSettings, ServeSettings

    with tempfile.TemporaryDirectory() as folder:
        if _fashion_with_reference(home, folder) is None:
            return None
        image = np.random.default_rng(0).integers(0, 256, (1, 784)).tolist()
        results = {}
        # Alternating, twice each, so that an order effect shows as a difference between runs.
        settings = [("drift off", None), ("drift on", DriftSettings())] * 2
        for run, (name, drift) in enumerate(settings):
            ports = []
            for _ in range(2):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", 0))
                    ports.append(probe.getsockname()[1])
            stack = ServingStack(
                ServeSettings(
                    models_dir=folder,
                    host="127.0.0.1",
                    port=ports[0],
                    grpc_port=ports[1],
                    drift=drift,
                )
            )
            thread = threading.Thread(target=stack.http.run, daemon=True)
            thread.start()
            while not stack.http.started:
                time.sleep(0.05)
            url = f"http://127.0.0.1:{ports[0]}/v1/models/fashion_mnist:predict"
            with httpx.Client() as client:
                for _ in range(100):  # warm-up
                    client.post(url, json={"instances": image})
                times = []
                for _ in range(requests):
                    started = time.perf_counter()
                    client.post(url, json={"instances": image}).raise_for_status()
                    times.append((time.perf_counter() - started) * 1000)
            stack.http.should_exit = True
            thread.join(30)
            stack.close()
            results[f"{name} ({run // 2 + 1})"] = {
                "p50_ms": float(np.percentile(times, 50)),
                "p99_ms": float(np.percentile(times, 99)),
                "mean_ms": float(np.mean(times)),
            }
        return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default="benchmark-home/exports")
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--out", default="benchmarks/results/drift.json")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    cases = {"numeric +0.5 sd": numeric_case(args.windows, rng)}
    cases.update({f"{k} brightened x1.2": v for k, v in image_cases(args.windows, rng).items()})
    priors = prior_case(args.home, args.windows, rng)
    if priors is not None:
        cases["predicted class, +10 points on one class"] = priors
    results = {
        "date": datetime.date.today().isoformat(),
        "windows_per_cell": args.windows,
        "cases": cases,
        "cost": observe_cost(),
        "request_latency": request_latency(args.home),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print("| case | window | threshold | false alarms | power |")
    print("|---|---:|---:|---:|---:|")
    for case, by_size in cases.items():
        for n, cell in by_size.items():
            print(
                f"| {case} | {n} | {cell['threshold']:.4f} | {cell['false_alarms']:.1%} | "
                f"{cell['power']:.1%} |"
            )
    print(results["cost"])
    print(results["request_latency"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
