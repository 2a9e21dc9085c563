"""What runs the models: in this process (the embedded default), or a TF Serving over gRPC.

Both give the front ends the same two calls: `resolve` a request's model / version / label to a
`Target` (its version and SignatureDefs, so requests are checked the same way), then
`target.submit(signature, inputs, trace)` for a Future of the outputs (the trace, the request's
id and split arm, is for the observers: serving/observers.py; the backends do not use it).
"""

import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.batching import BatchScheduler
from serving.errors import echo, from_grpc_code
from serving.manager import ModelManager
from serving.metrics import ServingMetrics
from serving.request_ids import Trace
from serving.settings import BatchingOptions

Outputs = dict[str, np.ndarray]


class Target(Protocol):
    """A resolved model version that requests run on."""

    model: str
    version: int
    signature_defs: Mapping[str, meta_graph_pb2.SignatureDef]

    def submit(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        trace: Trace | None = None,
    ) -> Future: ...

    def release(self) -> None: ...


class Backend(Protocol):
    """What the REST and gRPC front ends call."""

    def resolve(self, model: str, version: int | None, label: str | None) -> Target: ...

    def status(
        self, model: str, version: int | None, label: str | None
    ) -> get_model_status_pb2.GetModelStatusResponse: ...

    def is_served(self, model: str) -> bool: ...

    def ready(self) -> bool: ...

    def close(self) -> None: ...


class _LocalTarget:
    def __init__(self, backend: "InProcessBackend", lease):
        self._backend, self._lease = backend, lease
        self.model, self.version = lease.model, lease.version
        self.signature_defs = lease.servable.signature_defs

    def submit(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        trace: Trace | None = None,
    ) -> Future:
        servable = self._lease.servable
        lease = self._lease.share()  # held until the model call is done
        try:
            if self._backend.scheduler is not None:
                future = self._backend.scheduler.submit(
                    (self.model, self.version, signature_name),
                    lambda batch: servable.run(signature_name, batch),
                    inputs,
                )
            else:
                future = self._backend.executor.submit(servable.run, signature_name, inputs)
        except BaseException:
            lease.release()
            raise
        future.add_done_callback(lambda _: lease.release())
        return future

    def release(self) -> None:
        self._lease.release()


class InProcessBackend:
    """Runs the SavedModels in this process, with optional server-side batching."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: ServingMetrics,
        batching: BatchingOptions | None = None,
        model_threads: int = 4,
    ):
        self.manager = manager
        self.executor = ThreadPoolExecutor(model_threads, thread_name_prefix="model")
        self.scheduler = (
            BatchScheduler(
                batching, on_batch=lambda key, size: metrics.batch_size.labels(key[0]).observe(size)
            )
            if batching
            else None
        )

    def resolve(self, model: str, version: int | None, label: str | None) -> _LocalTarget:
        return _LocalTarget(self, self.manager.acquire(model, version, label))

    def status(self, model: str, version: int | None, label: str | None):
        return self.manager.status(model, version, label)

    def is_served(self, model: str) -> bool:
        return self.manager.serves(model)

    def ready(self) -> bool:
        return self.manager.ready()

    def close(self) -> None:
        self.manager.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        self.executor.shutdown(wait=True)


def _model_spec(spec, model: str, version: int | None, label: str | None) -> None:
    spec.name = model
    if version is not None:
        spec.version.value = version
    elif label is not None:
        spec.version_label = label


def _call(method, request, timeout_s: float):
    try:
        return method(request, timeout=timeout_s)
    except grpc.RpcError as error:
        code = error.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise from_grpc_code(code, f"TF Serving backend: {echo(error.details())}") from None
        raise from_grpc_code(code, echo(error.details() or str(code))) from None


class _RemoteTarget:
    def __init__(self, backend: "TFServingBackend", model: str, version: int, signature_defs):
        self._backend = backend
        self.model, self.version, self.signature_defs = model, version, signature_defs

    def submit(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        trace: Trace | None = None,
    ) -> Future:
        return self._backend.executor.submit(self._predict, signature_name, inputs)

    def _predict(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> Outputs:
        request = predict_pb2.PredictRequest()
        _model_spec(request.model_spec, self.model, self.version, None)
        request.model_spec.signature_name = signature_name
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = _call(self._backend.prediction.Predict, request, self._backend.timeout_s)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def release(self) -> None:
        pass


# gRPC's default reconnect backoff grows to 120 s while TF Serving is down, and a call fails at
# once meanwhile: a gateway that started first, or outlived a TF Serving restart, would refuse
# requests for up to two minutes after TF Serving is back. One retry a second at most instead.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class TFServingBackend:
    """Gateway mode: forwards to a TF Serving (the official container) over gRPC.

    Metadata (the SignatureDefs requests are checked against) is cached for `metadata_ttl_s`
    per model / version / label, so a request costs one Predict call.
    """

    def __init__(
        self, address: str, timeout_s: float = 30.0, metadata_ttl_s: float = 2.0, threads: int = 16
    ):
        self.address, self.timeout_s, self._ttl_s = address, timeout_s, metadata_ttl_s
        self._channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="tfserving")
        self._cache: dict[tuple, tuple[float, _RemoteTarget]] = {}
        self._served: set[str] = set()
        self._lock = threading.Lock()

    def resolve(self, model: str, version: int | None, label: str | None) -> _RemoteTarget:
        key = (model, version, label)
        with self._lock:
            cached = self._cache.get(key)
        if cached and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        _model_spec(request.model_spec, model, version, label)
        response = _call(self.prediction.GetModelMetadata, request, self.timeout_s)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        target = _RemoteTarget(
            self, model, response.model_spec.version.value, dict(signatures.signature_def)
        )
        with self._lock:
            self._cache[key] = (time.monotonic(), target)
            self._served.add(model)
        return target

    def status(self, model: str, version: int | None, label: str | None):
        request = get_model_status_pb2.GetModelStatusRequest()
        _model_spec(request.model_spec, model, version, label)
        response = _call(self.models.GetModelStatus, request, self.timeout_s)
        with self._lock:
            self._served.add(model)
        return response

    def is_served(self, model: str) -> bool:
        with self._lock:
            return model in self._served

    def ready(self) -> bool:
        try:
            grpc.channel_ready_future(self._channel).result(timeout=1)
        except grpc.FutureTimeoutError:
            return False
        return True

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self._channel.close()
