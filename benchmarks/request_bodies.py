"""Predict requests for one instance, serialized once before the load starts."""

from __future__ import annotations

import json

import numpy as np


def rest_predict_body(instance: np.ndarray) -> bytes:
    """TF Serving's REST row format: `{"instances": [<instance as nested lists>]}`."""
    return json.dumps({"instances": [instance.tolist()]}, separators=(",", ":")).encode()


def grpc_predict_request(model: str, instance: np.ndarray) -> bytes:
    """A serialized `PredictRequest` for `serving_default` with input `image` (batch of one)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "serving_default"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(instance[None].astype(np.float32)))
    return request.SerializeToString()
