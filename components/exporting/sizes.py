"""The sizes parity.json reports for an export and for the SavedModel it came from
(docs/exports.md): files on disk, weights alone, and gzipped (what pruning shrinks)."""

import gzip
import os

import numpy as np
import tensorflow as tf

from components.exporting.formats import TFJS, ExportFormat


def folder_bytes(path: str) -> int:
    """The size of a file, or of all files under a folder."""
    if not tf.io.gfile.isdir(path):
        return tf.io.gfile.stat(path).length
    return sum(
        tf.io.gfile.stat(os.path.join(root, name)).length
        for root, _, files in tf.io.gfile.walk(path)
        for name in files
    )


def checkpoint_weight_bytes(model_dir: str) -> int:
    """Bytes of the weights in a SavedModel's checkpoint (the Keras model alone has no
    optimizer slots), the float32 size every export is compared with."""
    reader = tf.train.load_checkpoint(os.path.join(model_dir, "variables", "variables"))
    dtypes = reader.get_variable_to_dtype_map()
    return sum(
        int(np.prod(shape)) * dtypes[name].size
        for name, shape in reader.get_variable_to_shape_map().items()
        if dtypes[name].is_floating
    )


def gzip_bytes(path: str) -> int:
    """Compressed size: all files under `path`, gzipped together."""
    files = sorted(
        os.path.join(root, name) for root, _, names in tf.io.gfile.walk(path) for name in names
    )
    content = b"".join(tf.io.gfile.GFile(f, "rb").read() for f in files)
    return len(gzip.compress(content, compresslevel=9))


def weight_bytes(path: str, export_format: ExportFormat) -> int:
    """Bytes of weights: a TF.js model's shards (model.json is the graph), a whole .tflite."""
    if export_format.runtime != TFJS:
        return folder_bytes(path)
    return sum(
        tf.io.gfile.stat(os.path.join(path, name)).length
        for name in tf.io.gfile.listdir(path)
        if name.endswith(".bin")
    )
