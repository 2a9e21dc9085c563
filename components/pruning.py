"""Magnitude pruning (book 6.3.2, "inference model optimization") with the TF Model
Optimization Toolkit.

`dlwp run --prune S` trains with the smallest-magnitude weights of every Dense kernel held at
zero, a fraction S of them (tfmot's `prune_low_magnitude` with a constant target from the first
step, masks updated every PRUNING_FREQUENCY steps). The pruning wrappers are stripped before
the model is saved, so the SavedModel and the exports are plain models whose zeros compress:
pruning shrinks the gzipped size, not the raw one.
"""

from typing import Any

import numpy as np

PRUNING_FREQUENCY = 10


def _tfmot():
    # Imported on use: tfmot picks its Keras (tf_keras under TF_USE_LEGACY_KERAS) at import.
    import tensorflow_model_optimization as tfmot

    return tfmot


def prune_dense_layers(model: Any, target_sparsity: float, keras: Any) -> Any:
    """A copy of `model` whose Dense layers are wrapped for pruning (not compiled)."""
    tfmot = _tfmot()
    schedule = tfmot.sparsity.keras.ConstantSparsity(
        target_sparsity, begin_step=0, frequency=PRUNING_FREQUENCY
    )

    def wrap(layer):
        if isinstance(layer, keras.layers.Dense):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=wrap)


def pruning_callbacks(target_sparsity: float) -> list[Any]:
    """The callbacks `fit` needs while pruning (the wrappers count steps through them)."""
    return [_tfmot().sparsity.keras.UpdatePruningStep()] if target_sparsity else []


def strip_pruning(model: Any) -> Any:
    """The model without pruning wrappers (the pruned weights stay zero)."""
    return _tfmot().sparsity.keras.strip_pruning(model)


def kernel_sparsity(model: Any) -> float:
    """The fraction of zero weights over all Dense kernels of a (stripped) model."""
    kernels = [layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")]
    total = sum(k.size for k in kernels)
    return float(sum(np.count_nonzero(k == 0) for k in kernels) / total) if total else 0.0
