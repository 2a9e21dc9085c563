"""Strategy choice (components/distribution.py) from the devices TensorFlow lists: the default
strategy on the CPU or on one GPU, MirroredStrategy over several, mixed precision only on GPU."""

import json

import pytest
import tensorflow as tf

from components.distribution import choose_distribution


@pytest.fixture(autouse=True)
def global_policy():
    """The Keras global dtype policy's name: float32 when the test starts, restored after it
    (choosing mixed precision sets it for the whole process)."""
    from tensorflow_transform.keras_lib import tf_keras

    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy("float32")
    yield lambda: tf_keras.mixed_precision.global_policy().name
    tf_keras.mixed_precision.set_global_policy(previous)


@pytest.fixture
def listed_gpus(monkeypatch):
    """Makes TensorFlow list the given GPU names; other device types are listed as they are.

    No GPU exists on the machine that runs the tests, so this is how the GPU branches run.
    """
    real_listing = tf.config.list_logical_devices

    def pretend(*names: str) -> None:
        gpus = [tf.config.LogicalDevice(name=name, device_type="GPU") for name in names]
        monkeypatch.setattr(
            tf.config,
            "list_logical_devices",
            lambda device_type=None: gpus if device_type == "GPU" else real_listing(device_type),
        )

    return pretend


def test_strategy_follows_the_gpus_tensorflow_lists(global_policy):
    gpus = tuple(device.name for device in tf.config.list_logical_devices("GPU"))
    cpus = tuple(device.name for device in tf.config.list_logical_devices("CPU"))
    distribution = choose_distribution(tpu="", mixed_precision=True)
    assert distribution.name == ("MirroredStrategy" if len(gpus) > 1 else "default")
    assert distribution.devices == (gpus or cpus)
    assert distribution.replicas == max(len(gpus), 1)
    assert distribution.mixed_precision == bool(gpus)  # float16 only pays off on a GPU
    assert global_policy() == ("mixed_float16" if gpus else "float32")
    assert distribution.global_batch_size(128) == 128 * max(len(gpus), 1)


def test_without_a_gpu_the_default_strategy_runs_on_the_cpu(listed_gpus, global_policy):
    listed_gpus()
    distribution = choose_distribution(tpu="", mixed_precision=True)
    assert distribution.name == "default"
    assert distribution.replicas == 1
    assert distribution.devices and all("CPU" in device for device in distribution.devices)
    assert not distribution.mixed_precision
    assert global_policy() == "float32"
    assert distribution.global_batch_size(128) == 128


def test_one_gpu_uses_the_default_strategy_with_mixed_precision(listed_gpus, global_policy):
    listed_gpus("/device:GPU:0")
    distribution = choose_distribution(tpu="", mixed_precision=True)
    assert distribution.name == "default"
    assert distribution.devices == ("/device:GPU:0",)
    assert distribution.replicas == 1
    assert distribution.mixed_precision
    assert global_policy() == "mixed_float16"
    assert distribution.describe()["mixed_precision"] is True


def test_mixed_precision_stays_off_on_a_gpu_unless_asked_for(listed_gpus, global_policy):
    listed_gpus("/device:GPU:0")
    distribution = choose_distribution(tpu="", mixed_precision=False)
    assert not distribution.mixed_precision
    assert global_policy() == "float32"


def test_several_gpus_mirror_the_model_and_grow_the_global_batch(listed_gpus, monkeypatch):
    class TwoReplicas:
        """Stands in for MirroredStrategy, which would look for the real (absent) GPUs."""

        num_replicas_in_sync = 2

    monkeypatch.setattr(tf.distribute, "MirroredStrategy", TwoReplicas)
    listed_gpus("/device:GPU:0", "/device:GPU:1")
    distribution = choose_distribution(tpu="", mixed_precision=False)
    assert distribution.name == "MirroredStrategy"
    assert isinstance(distribution.strategy, TwoReplicas)
    assert distribution.devices == ("/device:GPU:0", "/device:GPU:1")
    assert distribution.global_batch_size(128) == 256


def test_tf_config_of_several_workers_names_this_task_and_its_chief():
    from components.distribution import cluster_task

    spec = {"chief": ["a:1"], "worker": ["b:1", "c:1"], "ps": ["d:1"]}
    chief = cluster_task(json.dumps({"cluster": spec, "task": {"type": "chief", "index": 0}}))
    first = cluster_task(json.dumps({"cluster": spec, "task": {"type": "worker", "index": 0}}))
    assert (chief.workers, chief.is_chief, first.workers) == (3, True, 3)
    assert not first.is_chief  # a cluster with a chief keeps the chief's outputs only
    only_workers = {"cluster": {"worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 0}}
    assert cluster_task(json.dumps(only_workers)).is_chief
    assert cluster_task("") == cluster_task(json.dumps({"cluster": {"worker": ["b:1"]}}))
    assert cluster_task("").workers == 1 and cluster_task("").is_chief


@pytest.mark.parametrize(
    "tf_config, problem",
    [
        ("{not json", "not a cluster spec"),
        (
            '{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}',
            "not a",
        ),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "ps", "index": 0}}', "not a"),
    ],
)
def test_a_tf_config_that_names_no_training_task_is_refused(tf_config, problem):
    from components.distribution import cluster_task

    with pytest.raises(ValueError, match=problem):
        cluster_task(tf_config)


def test_only_the_chief_writes_where_tfx_looks(tmp_path):
    from components.distribution import ClusterTask, Distribution

    def distribution(task):
        return Distribution(tf.distribute.get_strategy(), "x", (), False, task)

    path = str(tmp_path / "model" / "3" / "Format-Serving")
    chief = distribution(ClusterTask(workers=2, type="worker", index=0))
    other = distribution(ClusterTask(workers=2, type="worker", index=1))
    assert chief.output_path(path) == path
    assert other.output_path(path) == str(
        tmp_path / "model" / "3" / "workertemp_1" / "Format-Serving"
    )
    tf.io.gfile.makedirs(other.output_path(path))
    tf.io.gfile.makedirs(path)
    other.drop_worker_outputs(path)
    chief.drop_worker_outputs(path)
    assert not (tmp_path / "model" / "3" / "workertemp_1").exists()
    assert (tmp_path / "model" / "3" / "Format-Serving").is_dir()


def test_a_lost_worker_is_named_in_the_error():
    from components.distribution import ClusterTask, lost_worker_message

    # What TensorFlow 2.16 raised on the chief when its worker was SIGKILLed mid-fit.
    error = (
        "{{function_node __wrapped__CollectiveReduceV2_Nordering_token_1_device_/job:worker/"
        "replica:0/task:0/device:CPU:0}} Collective ops is aborted by: Error reported from "
        "/job:worker/task:1: Task /job:worker/replica:0/task:1 heartbeat timeout. This indicates "
        "that the remote task has failed, got preempted, or crashed unexpectedly."
    )
    message = lost_worker_message(error, ClusterTask(workers=2, type="worker", index=0))
    assert message.startswith("training stopped on /job:worker/task:0: /job:worker/task:1 of")
    assert "heartbeat timeout" in message and "rerun the Trainer" in message
