"""The Trainer on a training cluster, for real on loopback (components/distribution.py):

- two worker processes with `TF_CONFIG` (MultiWorkerMirroredStrategy, as Vertex AI's worker
  pools and Kubeflow's TFJob run it) train in step: each ran half the steps of one worker, both
  end with the same weights, only the chief's outputs are kept, and the metric is within a
  stated tolerance of a single-worker run's;
- MirroredStrategy over two logical CPU devices, the multi-GPU branch, with the same checks;
- a worker killed or hung (SIGSTOP) mid-run fails the chief within a bounded time, naming it.

Each run is its own process (a strategy is chosen once per process), started by
tests/trainer_run.py on the tiny binary task of tests/trainer_inputs.py.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import trainer_run
from servers import free_port
from sklearn.metrics import roc_auc_score
from trainer_inputs import split_columns, write_trainer_inputs

from pipelines.trainer_pools import tf_config

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)
TRAIN_ROWS, EVAL_ROWS, BATCH, EPOCHS = 512, 128, 16, 12
# The same task, the same epochs, half the optimizer steps (a global batch twice as big):
# validation AUC of a single-worker run (about 0.99 here) may differ by this much.
AUC_TOLERANCE = 0.03
# How soon after a worker's death the chief must have failed (TensorFlow's heartbeat takes
# about 10 s here; the Trainer then exits).
LOST_WORKER_S = 120
RUN_S = 300


def start_trainer(folder, execution, record=None, tf_config=None, logical_cpus=0, slow_s=0.0):
    env = {"TF_CONFIG": tf_config} if tf_config is not None else {}
    if record is not None:
        env["DLWP_TRAINER_RECORD"] = str(record)
    if logical_cpus:
        env["DLWP_LOGICAL_CPUS"] = str(logical_cpus)
    return trainer_run.start(folder, execution, EPOCHS, slow_s, env)


def cluster(workers: int) -> list[str]:
    """The TF_CONFIG of each of `workers` workers on loopback."""
    addresses = [f"localhost:{free_port()}" for _ in range(workers)]
    return [tf_config(addresses, index) for index in range(workers)]


def finish(process):
    _, stderr = process.communicate(timeout=RUN_S)
    assert process.returncode == 0, stderr[-4000:]
    return stderr


def training_json(folder, execution):
    path = os.path.join(folder, "Trainer", "model_run", str(execution), "training.json")
    with open(path) as f:
        return json.load(f)


def read_record(path):
    with open(path) as f:
        record = json.load(f)
    with np.load(f"{path}.npz") as weights:
        record["weights"] = [weights[f"arr_{i}"] for i in range(len(weights.files))]
    return record


def steps_per_epoch(record, training, fit="search fit"):
    epochs = training["convergence"]["epochs_run"] if fit == "search fit" else training["epochs"]
    return record["steps"][fit] / epochs


def eval_auc(folder, execution):
    """The AUC of the held-out predictions the chief wrote, on the eval split's labels."""
    path = os.path.join(folder, "Trainer", "model_run", str(execution), "eval_predictions.json")
    with open(path) as f:
        predictions = np.asarray(json.load(f)).reshape(-1)
    return roc_auc_score(split_columns(EVAL_ROWS, 1)["label"], predictions)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    write_trainer_inputs(str(folder), train_rows=TRAIN_ROWS, eval_rows=EVAL_ROWS)
    return folder


@pytest.fixture(scope="module")
def single_worker(inputs):
    """The reference: one process, the default strategy (execution 1)."""
    record = inputs / "single.json"
    started = time.monotonic()
    finish(start_trainer(inputs, 1, record))
    return read_record(record), training_json(inputs, 1), time.monotonic() - started


def test_two_workers_train_in_step_and_only_the_chief_keeps_outputs(inputs, single_worker):
    reference, reference_training, reference_s = single_worker
    records = [inputs / f"worker-{i}.json" for i in range(2)]
    started = time.monotonic()
    workers = [
        start_trainer(inputs, 2, record, tf_config)
        for record, tf_config in zip(records, cluster(2), strict=True)
    ]
    for worker in workers:
        finish(worker)
    cluster_s = time.monotonic() - started
    chief, other = (read_record(record) for record in records)
    training = training_json(inputs, 2)

    assert training["distribution"]["strategy"] == "MultiWorkerMirroredStrategy"
    assert training["distribution"]["workers"] == 2
    assert training["distribution"]["replicas"] == 2
    assert training["distribution"]["global_batch_size"] == 2 * BATCH
    # Both ran steps, each half of them: the global batch was split between the workers.
    expected = math.ceil(TRAIN_ROWS / (2 * BATCH))
    assert steps_per_epoch(chief, training) == steps_per_epoch(other, training) == expected
    assert steps_per_epoch(reference, reference_training) == math.ceil(TRAIN_ROWS / BATCH)
    assert chief["steps"]["final fit"] == other["steps"]["final fit"] > 0
    # In step: the same final weights on both.
    assert len(chief["weights"]) == len(other["weights"])
    for mine, theirs in zip(chief["weights"], other["weights"], strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
    # Only the chief's outputs are kept: the other saved to a temporary folder, since gone.
    trainer = inputs / "Trainer"
    assert chief["saved_to"] == str(trainer / "model" / "2" / "Format-Serving")
    assert "workertemp_1" in other["saved_to"]
    assert (trainer / "model" / "2" / "Format-Serving" / "saved_model.pb").is_file()
    assert not [path for path in trainer.rglob("workertemp_*")]
    assert (trainer / "model_run" / "2" / "tensorboard" / "search" / "validation").is_dir()
    # The metric: within the tolerance of one worker's, and the held-out predictions gathered
    # from both workers in the eval rows' order (else their AUC would be near 0.5).
    assert reference_training["eval"] > 0.9
    assert abs(training["eval"] - reference_training["eval"]) <= AUC_TOLERANCE
    assert abs(eval_auc(inputs, 2) - training["eval"]) <= 0.01
    print(
        f"one worker: val AUC {reference_training['eval']:.4f} in {reference_s:.1f} s; "
        f"two workers: {training['eval']:.4f} in {cluster_s:.1f} s"
    )


def test_mirrored_strategy_trains_on_two_logical_cpus(inputs, single_worker):
    reference, reference_training, _ = single_worker
    record = inputs / "mirrored.json"
    finish(start_trainer(inputs, 3, record, logical_cpus=2))
    mirrored = read_record(record)
    training = training_json(inputs, 3)

    distribution = training["distribution"]
    assert distribution["strategy"] == "MirroredStrategy"
    assert distribution["replicas"] == distribution["replicas_per_worker"] == 2
    assert [device.rsplit(":", 2)[-2:] for device in distribution["devices"]] == [
        ["CPU", "0"],
        ["CPU", "1"],
    ]
    assert distribution["global_batch_size"] == 2 * BATCH
    assert steps_per_epoch(mirrored, training) == math.ceil(TRAIN_ROWS / (2 * BATCH))
    # The replicas' copies of every variable agree (recorded at the save).
    assert mirrored["replica_spread"] is not None and mirrored["replica_spread"] <= 1e-6
    assert len(mirrored["weights"]) == len(reference["weights"])
    assert abs(training["eval"] - reference_training["eval"]) <= AUC_TOLERANCE
    assert abs(eval_auc(inputs, 3) - training["eval"]) <= 0.01


@pytest.mark.parametrize("lost_by", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
def test_a_lost_worker_fails_the_chief_naming_it(tmp_path, lost_by):
    # SIGKILL: the worker is gone; SIGSTOP: it hangs, its connections still open.
    write_trainer_inputs(str(tmp_path), train_rows=TRAIN_ROWS, eval_rows=EVAL_ROWS)
    chief_config, other_config = cluster(2)
    chief = start_trainer(tmp_path, 1, tf_config=chief_config, slow_s=1.5)
    other = start_trainer(tmp_path, 1, tf_config=other_config, slow_s=1.5)
    lines = []
    try:
        for line in other.stderr:
            lines.append(line)
            if line.startswith("dlwp.progress search fit  epoch 2/"):
                break
        else:
            pytest.fail(f"the worker never reached its second epoch: {''.join(lines)[-3000:]}")
        os.kill(other.pid, lost_by)
        lost = time.monotonic()
        try:
            _, stderr = chief.communicate(timeout=LOST_WORKER_S)
        except subprocess.TimeoutExpired:
            chief.kill()
            pytest.fail(f"the chief still ran {LOST_WORKER_S} s after its worker was lost")
    finally:
        other.kill()
        other.wait(timeout=30)
    print(f"the chief failed {time.monotonic() - lost:.1f} s after the {lost_by.name}")
    assert chief.returncode != 0
    assert "LostWorkerError: training stopped on /job:worker/task:0" in stderr
    assert "/job:worker/task:1 of the 2 workers failed or stopped answering" in stderr
    assert not (tmp_path / "Trainer" / "model" / "1").exists()


def test_tfx_trainer_executor_runs_on_two_workers_as_the_pods_run_it(inputs):
    # What every worker pod and every Vertex AI replica runs: TFX's `run_executor` with the
    # Trainer's GenericExecutor on the same artifacts (pipelines/trainer_pools.py).
    from google.protobuf import json_format
    from tfx.proto import trainer_pb2
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.utils import json_utils
    from trainer_inputs import trainer_settings

    from pipelines.trainer_pools import executor_args

    examples = standard_artifacts.Examples()
    examples.uri = str(inputs / "ExampleGen" / "examples" / "1")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    transform_graph = standard_artifacts.TransformGraph()
    transform_graph.uri = str(inputs / "Transform" / "transform_graph" / "2")
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri = str(inputs / "Trainer" / "model" / "4")
    model_run.uri = str(inputs / "Trainer" / "model_run" / "4")
    properties = {
        "train_args": json_format.MessageToJson(trainer_pb2.TrainArgs(splits=["train"])),
        "eval_args": json_format.MessageToJson(trainer_pb2.EvalArgs(splits=["eval"])),
        "run_fn": "components.trainer.run_fn",
        "custom_config": json_utils.dumps(trainer_settings(max_epochs=EPOCHS)),
    }
    args = executor_args(
        {"examples": [examples], "transform_graph": [transform_graph]},
        {"model": [model], "model_run": [model_run]},
        properties,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, TESTS])}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tfx.scripts.run_executor", *args],
            cwd=REPO,
            env={**env, "TF_CONFIG": tf_config},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tf_config in cluster(2)
    ]
    for worker in workers:
        finish(worker)
    training = training_json(inputs, 4)
    assert training["distribution"]["strategy"] == "MultiWorkerMirroredStrategy"
    assert training["distribution"]["workers"] == 2
    assert (inputs / "Trainer" / "model" / "4" / "Format-Serving" / "saved_model.pb").is_file()
    assert not list((inputs / "Trainer").rglob("workertemp_*"))
