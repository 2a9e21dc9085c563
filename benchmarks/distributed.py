"""Off one process: Beam's runners and the Trainer on several workers, side by side in one run
(docs/benchmarks.md "Training and Beam off one process").

    python -m benchmarks.distributed [--work DIR] [--out benchmarks/results/distributed.json]

On the real breast cancer table (569 rows, 30 columns), one after the other on this machine:
- `dlwp run --csv` three times, each in a fresh home: Beam in memory (the anchor, the local
  default), Beam's multi-process mode with 2 worker processes, and the portable Fn API with a
  job server and an external SDK worker pool (benchmarks/beam_services.py). The Beam steps' times
  and the test metric come from each run's summary.json;
- the Trainer of the in-memory run, again, on the same artifacts, with TFX's own
  `run_executor` (as every worker pod and Vertex AI replica runs it): in one process (the
  anchor), on 2 worker processes with `TF_CONFIG` on loopback, and on 2 logical CPU devices
  (MirroredStrategy). Wall time from outside, the fold scores and epochs from training.json.

Both cores are shared by every process here, so the multi-worker numbers measure the cost of
the collectives, not a speed-up: on a cluster each worker has its own machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.beam_services import jobs_run, portable_beam, workers_started
from benchmarks.real_tables import write_table
from benchmarks.reports import write_report
from benchmarks.servers import dlwp_program, free_port

BEAM_STEPS = ("StatisticsGen", "Transform", "Evaluator")
MODEL = "breast_cancer"
RUN_ARGS = ["--label", "diagnosis", "--task", "binary"]
MULTI_PROCESS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def _read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def beam_run(csv: str, home: str, beam_args: list[str]) -> dict:
    """One `dlwp run --csv` with these Beam options: its wall time, step times and metric."""
    command = [dlwp_program(), "run", "--csv", csv, *RUN_ARGS, "--home", home]
    command += [f"--beam-arg={arg}" for arg in beam_args]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stdout[-2000:]}")
    summary = _read_json(os.path.join(home, "reports", MODEL, "summary.json"))
    return {
        "beam_args": beam_args,
        "wall_s": round(wall, 1),
        "steps_s": {step: summary["timings_s"][step] for step in BEAM_STEPS},
        "pipeline_s": summary["timings_s"]["total"],
        "test_metric": summary["metric"]["test"],
        "folds": summary["metric"]["folds"],
    }


def _trainer_execution(home: str):
    """The last Trainer execution of the home's run: its exec properties and input artifacts."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from tfx.types import artifact_utils

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = os.path.join(home, "pipelines", MODEL, "metadata.sqlite")
    store = metadata_store.MetadataStore(config)
    (trainer_type,) = [t for t in store.get_execution_types() if t.name.endswith(".Trainer")]
    execution = store.get_executions_by_type(trainer_type.name)[-1]
    properties = {k: v.string_value for k, v in execution.custom_properties.items()}
    inputs: dict[str, list] = {}
    for event in store.get_events_by_execution_ids([execution.id]):
        if event.type != metadata_store_pb2.Event.INPUT:
            continue
        (artifact,) = store.get_artifacts_by_id([event.artifact_id])
        (kind,) = store.get_artifact_types_by_id([artifact.type_id])
        key = event.path.steps[0].key
        inputs.setdefault(key, []).append(artifact_utils.deserialize_artifact(kind, artifact))
    return properties, inputs


def trainer_runs(home: str, work: str, label: str, workers: int, logical_cpus: int = 0) -> dict:
    """The run's Trainer again on its artifacts, through TFX's `run_executor`, on `workers`
    processes (TF_CONFIG on loopback) or on `logical_cpus` logical CPU devices."""
    from tfx.types import standard_artifacts

    from pipelines.trainer_pools import executor_args, tf_config

    properties, inputs = _trainer_execution(home)
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri = os.path.join(work, "Trainer", "model", label)
    model_run.uri = os.path.join(work, "Trainer", "model_run", label)
    args = executor_args(inputs, {"model": [model], "model_run": [model_run]}, properties)
    addresses = [f"localhost:{free_port()}" for _ in range(workers)]
    env = {**os.environ}
    if logical_cpus:
        env["DLWP_LOGICAL_CPUS"] = str(logical_cpus)
    started = time.monotonic()
    processes = []
    for index in range(workers):
        if workers > 1:
            env = {**env, "TF_CONFIG": tf_config(addresses, index)}
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "benchmarks.distributed", "--executor", *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"a Trainer worker exited {process.returncode}: {stderr[-3000:]}")
    wall = time.monotonic() - started
    training = _read_json(os.path.join(model_run.uri, "training.json"))
    return {
        "workers": workers,
        "logical_cpus": logical_cpus,
        "wall_s": round(wall, 1),
        "distribution": training["distribution"],
        "eval": training["eval"],
        "folds": training["folds"],
        "epochs": training["epochs"],
        "epoch_s_mean": round(
            sum(sum(s) for s in training["epoch_s"].values())
            / max(sum(len(s) for s in training["epoch_s"].values()), 1),
            3,
        ),
    }


def run_executor(args: list[str]) -> None:
    """A worker: TFX's `run_executor` with `args`, on logical CPUs when asked."""
    count = int(os.environ.get("DLWP_LOGICAL_CPUS", "0") or 0)
    if count:
        import tensorflow as tf

        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count
        )
    from tfx.scripts import run_executor as tfx_run_executor

    tfx_run_executor.main(tfx_run_executor.parse_flags(args))


def main() -> None:
    if sys.argv[1:2] == ["--executor"]:
        run_executor(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", default="benchmarks/results/distributed.json")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="dlwp-distributed-")
    os.makedirs(work, exist_ok=True)
    csv = write_table(MODEL, work)
    beam: dict[str, dict] = {}
    print("Beam in memory ...", flush=True)
    beam["in_memory"] = beam_run(csv, os.path.join(work, "in-memory"), [])
    print("Beam on 2 worker processes ...", flush=True)
    beam["multi_process"] = beam_run(csv, os.path.join(work, "multi-process"), MULTI_PROCESS)
    print("Beam's portable Fn API ...", flush=True)
    services = os.path.join(work, "beam-services")
    with portable_beam(services) as portable_args:
        beam["portable"] = beam_run(csv, os.path.join(work, "portable"), portable_args)
    beam["portable"]["jobs"] = jobs_run(services)
    beam["portable"]["sdk_workers_started"] = workers_started(services)
    anchor = beam["in_memory"]["steps_s"]
    for run in beam.values():
        run["steps_ratio"] = {s: round(run["steps_s"][s] / anchor[s], 2) for s in BEAM_STEPS}

    home = os.path.join(work, "in-memory")
    trainer_work = os.path.join(work, "trainer")
    training = {}
    for label, workers, cpus in (("one_worker", 1, 0), ("two_workers", 2, 0), ("mirrored", 1, 2)):
        print(f"Trainer: {label} ...", flush=True)
        training[label] = trainer_runs(home, trainer_work, label, workers, cpus)
    for run in training.values():
        run["wall_ratio"] = round(run["wall_s"] / training["one_worker"]["wall_s"], 2)
    result = write_report(args.out, table=MODEL, beam=beam, trainer=training)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
