"""Magnitude pruning: the target sparsity is reached, stripping keeps the zeros, and only the
compressed size shrinks."""

import gzip

import numpy as np
import pytest
from tensorflow_transform.keras_lib import tf_keras

from components.models import ModelConfig, build_model
from components.pruning import kernel_sparsity, pruning_callbacks, strip_pruning


def _trained(prune: float):
    config = ModelConfig(
        features=(("image", "image"),),
        problem_type="multiclass",
        num_classes=10,
        hidden_units=(64,),
        prune_sparsity=prune,
    )
    tf_keras.utils.set_random_seed(0)
    model = build_model(config)
    rng = np.random.default_rng(0)
    x, y = rng.random((256, 784), dtype=np.float32), rng.integers(0, 10, 256)
    model.fit(
        {"image": x}, y, epochs=4, batch_size=64, callbacks=pruning_callbacks(prune), verbose=0
    )
    return strip_pruning(model) if prune else model  # 16 steps; masks set at step 0


def _gzipped_weights(model) -> tuple[int, int]:
    raw = b"".join(w.astype(np.float32).tobytes() for w in model.get_weights())
    return len(raw), len(gzip.compress(raw))


@pytest.mark.parametrize("target", [0.5, 0.8])
def test_pruned_kernels_reach_the_target_sparsity_after_stripping(target):
    model = _trained(target)
    assert not any("prune" in layer.name for layer in model.layers)  # wrappers gone
    assert kernel_sparsity(model) == pytest.approx(target, abs=0.01)


def test_pruning_shrinks_the_gzipped_size_not_the_raw_size():
    dense_raw, dense_gzip = _gzipped_weights(_trained(0.0))
    pruned_raw, pruned_gzip = _gzipped_weights(_trained(0.8))
    assert pruned_raw == dense_raw
    assert pruned_gzip < 0.5 * dense_gzip
    assert kernel_sparsity(_trained(0.0)) < 0.01


def test_pruning_is_refused_for_keras_3_models():
    import keras

    config = ModelConfig(
        features=(("x", "numeric"),),
        problem_type="regression",
        num_classes=None,
        hidden_units=(4,),
        prune_sparsity=0.5,
    )
    with pytest.raises(ValueError, match="tf_keras"):
        build_model(config, keras_module=keras)
