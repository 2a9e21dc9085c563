"""A ready-to-send `:predict` body for a pushed model, made of real test examples.

`dlwp request MODEL` reads a few examples of the latest run's test split (the ExampleGen's
TFRecords) and writes them as the raw features the model's `serving_default` takes, so a
reader can `curl -d @request.json localhost:8501/v1/models/MODEL:predict` right away.
"""

import math
import os
import posixpath

import tensorflow as tf
from tensorflow.python.saved_model import loader_impl

from components.errors import DlwpError
from contract.versions import list_versions


class NothingToRequestError(DlwpError):
    """No pushed model or no test split to build a request from (exit 2)."""


def _latest_numbered(folder: str) -> str | None:
    """The highest-numbered sub-folder (a version, or an artifact id), or None."""
    numbers = list_versions(folder)
    return posixpath.join(folder, str(numbers[-1])) if numbers else None


def _value(feature: tf.train.Feature, dtype: int, per_example_dims: int):
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    missing: str | float
    if dtype == tf.string.as_datatype_enum:
        values = [v.decode("utf-8", "replace") for v in values]
        missing = ""
    else:
        missing = (
            math.nan if dtype in (tf.float32.as_datatype_enum, tf.float64.as_datatype_enum) else 0
        )
    if per_example_dims == 0:
        return values[0] if values else missing
    return values or [missing]


def predict_body(home: str, model: str, count: int = 3) -> dict:
    """`{"instances": [...]}` with `count` test examples for `model`'s serving signature.

    Raises:
      NothingToRequestError: the model was never pushed, or its test split is gone.
    """
    version = _latest_numbered(posixpath.join(home, "serving", model))
    examples_root = posixpath.join(home, "pipelines", model, "ExampleGen", "examples")
    run = _latest_numbered(examples_root)
    if version is None or run is None:
        raise NothingToRequestError(
            f"no pushed model or test split for {model!r} under {home}; run `dlwp run {model}` "
            "first"
        )
    signature = (
        loader_impl.parse_saved_model(version).meta_graphs[0].signature_def["serving_default"]
    )
    files = tf.io.gfile.glob(posixpath.join(run, "Split-test", "*"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").take(count)
    instances = []
    for record in records.as_numpy_iterator():
        example = tf.train.Example.FromString(record)
        instance = {}
        for name, info in signature.inputs.items():
            dims = len(info.tensor_shape.dim) - 1
            feature = example.features.feature.get(name, tf.train.Feature())
            instance[name] = _value(feature, info.dtype, dims)
        instances.append(instance)
    return {"instances": instances}


def default_request_path(home: str, model: str) -> str:
    """Where `dlwp request` writes by default: `<home>/requests/<model>.json`."""
    return os.path.join(home, "requests", f"{model}.json")
