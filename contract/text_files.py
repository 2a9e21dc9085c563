"""Small text files read where they are: a local path with `open`, a URL (`gs://...`) through
`tf.io.gfile`, so that a process with nothing remote to read never imports TensorFlow (the
worker supervisor of `dlwp serve --workers N`, docs/serving.md "Workers").
"""

from __future__ import annotations

import os


def is_remote(path: str) -> bool:
    """Whether `path` is a URL that only tf.io.gfile can read (`gs://`, `s3://`, ...)."""
    return "://" in path


def exists(path: str) -> bool:
    """Whether the file exists."""
    if not is_remote(path):
        return os.path.exists(path)
    import tensorflow as tf

    return tf.io.gfile.exists(path)


def read_text(path: str) -> str:
    """The file's text (UTF-8)."""
    if not is_remote(path):
        with open(path, encoding="utf-8") as f:
            return f.read()
    import tensorflow as tf

    with tf.io.gfile.GFile(path) as f:
        return f.read()
