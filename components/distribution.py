"""Chooses the `tf.distribute` strategy for training (book ch. 13 "scaling up").

TPUStrategy when a TPU is configured, MirroredStrategy over more than one GPU, otherwise the
default strategy (one GPU if there is one, else the CPU). The global batch grows with the
number of replicas so that each replica sees the book's batch size.
"""

import dataclasses
import logging

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Distribution:
    """The chosen strategy and what to record about it."""

    strategy: tf.distribute.Strategy
    name: str
    devices: tuple[str, ...]
    mixed_precision: bool

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def global_batch_size(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def describe(self) -> dict:
        return {
            "strategy": self.name,
            "replicas": self.replicas,
            "devices": list(self.devices),
            "mixed_precision": self.mixed_precision,
        }


def choose_distribution(tpu: str = "", mixed_precision: bool = False) -> Distribution:
    """Picks TPU, multi-GPU or default; mixed precision only where a GPU trains.

    Args:
        tpu: the TPU's name or address (the CLI passes `--tpu` or `$TPU_NAME`); "" for none.
        mixed_precision: use float16 compute on GPU (ignored on CPU, where it is slower).
    """
    from tensorflow_transform.keras_lib import tf_keras

    if tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
        name, devices = "TPUStrategy", tuple(d.name for d in tf.config.list_logical_devices("TPU"))
    else:
        gpus = tuple(d.name for d in tf.config.list_logical_devices("GPU"))
        if len(gpus) > 1:
            strategy, name, devices = tf.distribute.MirroredStrategy(), "MirroredStrategy", gpus
        else:
            strategy, name = tf.distribute.get_strategy(), "default"
            devices = gpus or tuple(d.name for d in tf.config.list_logical_devices("CPU"))
    on_gpu = any("GPU" in device for device in devices)
    use_mixed = mixed_precision and on_gpu
    if use_mixed:
        tf_keras.mixed_precision.set_global_policy("mixed_float16")
    logging.info("Training with %s on %s (mixed precision: %s)", name, devices, use_mixed)
    return Distribution(strategy, name, devices, use_mixed)
