"""AutoGraph leaves Keras 2 (`tf_keras`) and tf.Transform alone, as it leaves Keras 3.

AutoGraph rewrites the Python of any function a `tf.function` traces, and of what it calls,
unless the function's package is on its do-not-convert list. The list names `keras`: Keras 2
up to TF 2.15, Keras 3 since. TF 2.16's Keras 2 is the `tf_keras` package, which it does not
name, so the first `fit` of a process converts Keras's training step and layer calls: 17 s of
the first epoch on Fashion-MNIST on a 2-core machine (3 s without; the same weights, since
Keras's code is written to run unconverted, as it did under TF 2.15). tf.Transform's layer
costs about 8 s more. Neither package has tensor-dependent Python control flow to convert.
"""

from __future__ import annotations

import logging

UNCONVERTED_PACKAGES = ("tf_keras", "tensorflow_transform")


def leave_libraries_unconverted() -> None:
    """Adds `UNCONVERTED_PACKAGES` to AutoGraph's do-not-convert rules (once per process).

    The rules have no public API; on a TensorFlow without them this logs and does nothing
    (the first epoch is then slower, not different).
    """
    try:
        from tensorflow.python.autograph.core import config
    except ImportError:
        logging.info("AutoGraph's conversion rules not found: tf_keras is converted")
        return
    present = {getattr(rule, "_prefix", None) for rule in config.CONVERSION_RULES}
    missing = tuple(
        config.DoNotConvert(name) for name in UNCONVERTED_PACKAGES if name not in present
    )
    config.CONVERSION_RULES = missing + tuple(config.CONVERSION_RULES)
