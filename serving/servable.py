"""One loaded model version: its SignatureDefs and a thread-safe way to run them."""

import posixpath
from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.python.saved_model import loader_impl
from tensorflow_serving.apis import prediction_log_pb2

from serving.signatures import (
    NUMPY_DTYPES,
    check_inputs,
    find_signature,
    shape_dims,
    takes_examples,
)

WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
# SavedModel bookkeeping entries that are not serving signatures.
_NOT_SIGNATURES = ("__saved_model_init_op",)


class LoadError(Exception):
    """A version folder is not a loadable, working SavedModel."""


class Servable:
    """A SavedModel version, loaded.

    Attributes:
      name, version, path: what was loaded from where.
      signature_defs: TF Serving's view of the signatures (from `saved_model.pb`).
    """

    def __init__(self, name: str, version: int, path: str):
        self.name, self.version, self.path = name, version, path
        try:
            saved_model = loader_impl.parse_saved_model(path)
            if not saved_model.meta_graphs:  # protobuf parses some garbage as an empty message
                raise LoadError(
                    f"{path}: saved_model.pb holds no MetaGraph; is it a SavedModel? "
                    "(re-export the model)"
                )
            meta_graph = saved_model.meta_graphs[0]
            self.signature_defs: dict[str, meta_graph_pb2.SignatureDef] = {
                k: v for k, v in meta_graph.signature_def.items() if k not in _NOT_SIGNATURES
            }
            self._loaded = tf.saved_model.load(path)
            self._functions = {k: self._loaded.signatures[k] for k in self.signature_defs}
        except LoadError:
            raise
        except Exception as error:  # TF raises many types for a broken SavedModel
            raise LoadError(f"{path}: {type(error).__name__}: {error}") from error
        if not self.signature_defs:
            raise LoadError(f"{path}: the SavedModel has no signatures")

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs a signature on checked inputs; returns its outputs as arrays."""
        function = self._functions[signature_name]
        try:
            outputs = function(**{k: tf.constant(v) for k, v in inputs.items()})
        except UnicodeDecodeError as error:
            # TF quotes a request's bytes in some errors (a tf.Example it cannot parse); when
            # they are no UTF-8, its binding fails to decode the message and loses the code.
            # Only the request's data puts such bytes there: INVALID_ARGUMENT.
            message = error.object.decode("utf-8", "backslashreplace")
            raise tf.errors.InvalidArgumentError(None, None, message) from None
        return {k: v.numpy() for k, v in outputs.items()}

    def warm_up(self) -> int:
        """Runs the warm-up requests before the version takes traffic; returns how many ran.

        `assets.extra/tf_serving_warmup_requests` (TF Serving's format: PredictionLog records
        with predict requests) when the version has one; otherwise one request per signature
        built from its input specs (one example of zeros).

        Raises:
          LoadError: the warm-up file cannot be read, or a warm-up request fails.
        """
        requests = self._recorded_warmup() or self._synthetic_warmup()
        for signature_name, inputs in requests:
            try:
                name, signature = find_signature(self.signature_defs, signature_name)
                check_inputs(name, signature, inputs)
                self.run(name, inputs)
            except Exception as error:  # any failure means the version must not serve
                raise LoadError(
                    f"{self.path}: warm-up request on signature '{signature_name}' failed: "
                    f"{type(error).__name__}: {error}"
                ) from error
        return len(requests)

    def _recorded_warmup(self) -> list[tuple[str, dict[str, np.ndarray]]]:
        path = posixpath.join(self.path, WARMUP_FILE)
        if not tf.io.gfile.exists(path):
            return []
        requests = []
        try:
            for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
                log = prediction_log_pb2.PredictionLog.FromString(record)
                if log.WhichOneof("log_type") != "predict_log":
                    continue  # classify/regress warm-up logs run the same signatures
                request = log.predict_log.request
                inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
                requests.append((request.model_spec.signature_name, inputs))
        except Exception as error:  # a corrupt file: TF, protobuf and numpy errors alike
            raise LoadError(
                f"{path}: cannot read the warm-up requests (TFRecords of PredictionLog): "
                f"{type(error).__name__}: {error}"
            ) from error
        return requests

    def _synthetic_warmup(self) -> list[tuple[str, dict[str, np.ndarray]]]:
        requests = []
        for name, signature in sorted(self.signature_defs.items()):
            inputs = {}
            for input_name, info in signature.inputs.items():
                dims = shape_dims(info.tensor_shape)
                shape = [1] if dims is None else [1 if d < 0 else d for d in dims]
                dtype = NUMPY_DTYPES.get(info.dtype)
                if dtype is None:
                    break
                inputs[input_name] = (
                    np.full(shape, b"", dtype=object)
                    if dtype == np.dtype(object)
                    else np.zeros(shape, dtype=dtype)
                )
            else:
                # Zeros are no tf.Example a model's parser needs to accept: skip those.
                if signature.inputs and not takes_examples(signature):
                    requests.append((name, inputs))
        return requests
