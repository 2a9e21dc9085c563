"""Strategy choice (components/distribution.py) from the devices TensorFlow lists: the default
strategy on the CPU or on one GPU, MirroredStrategy over several, mixed precision only on GPU."""

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
