"""The gRPC API on 8500: TF Serving's PredictionService and ModelService, on its own protos,
so the official `tensorflow_serving.apis` client code works unchanged.

Every request is checked before it costs anything: its ModelSpec (serving/model_specs.py), its
TensorProtos against the signature (serving/tensor_protos.py), its number of examples. Every
error is TF Serving's status code with a short message (echoed input is cut, and so is the whole
message: gRPC carries it in a header). A call whose client cancels or whose deadline passes is
answered at once and its queued model call cancelled; one already running counts in flight
until it ends (docs/serving.md, "Limits"). Predict, Classify and Regress read the client's
`x-request-id` and `x-split-key` metadata and answer, errors too, with trailing metadata
`x-request-id`, `x-model-version` (once resolved) and `x-split-arm` (when `--split` chose it:
serving/request_ids.py, serving/traffic_split.py).
"""

import logging
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    input_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.backends import Backend, Target
from serving.errors import (
    Cancelled,
    DeadlineExceeded,
    InvalidArgument,
    ServingError,
    Unimplemented,
    echo,
    model_error,
    too_many_examples,
)
from serving.examples import classifications, example_inputs, examples_from_input, regressions
from serving.metrics import RequestObservation, ServingMetrics
from serving.model_specs import ModelSpec, model_spec
from serving.request_ids import (
    MODEL_VERSION_HEADER,
    REQUEST_ID_HEADER,
    SPLIT_ARM_HEADER,
    SPLIT_KEY_HEADER,
    Trace,
    new_request_id,
    request_id,
)
from serving.signatures import CLASSIFY_METHOD, REGRESS_METHOD, find_signature
from serving.tensor_protos import to_arrays
from serving.traffic_split import TrafficSplit, route

log = logging.getLogger("dlwp.serving")

# The most a status message may be: gRPC sends it in a trailer, and a client refuses trailers
# over its metadata limit (8 KiB by default) with RESOURCE_EXHAUSTED instead of the real status.
MAX_DETAILS_BYTES = 1024


def _details(message: str) -> str:
    data = message.encode("utf-8", "replace")
    if len(data) <= MAX_DETAILS_BYTES:
        return message
    return data[: MAX_DETAILS_BYTES - 16].decode("utf-8", "ignore") + " ... (cut)"


def _spec_of(spec) -> ModelSpec:
    """The request's checked ModelSpec (a name with a control character is refused)."""
    choice = spec.WhichOneof("version_choice")
    return model_spec(
        spec.name,
        spec.version.value if choice == "version" else None,
        spec.version_label if choice == "version_label" else None,
    )


def _metadata_value(context: grpc.ServicerContext, key: str) -> str | None:
    """The first value of invocation metadata `key` (keys arrive lower case), or None."""
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value
    return None


def _set_trailers(
    context: grpc.ServicerContext, trace: Trace | None, seen: RequestObservation
) -> None:
    """The trace as trailing metadata (a new id when the client's was refused); set before the
    answer or the abort, which sends it."""
    trailers = [(REQUEST_ID_HEADER, trace.request_id if trace is not None else new_request_id())]
    if seen.version:
        trailers.append((MODEL_VERSION_HEADER, seen.version))
    if trace is not None and trace.arm:
        trailers.append((SPLIT_ARM_HEADER, trace.arm))
    context.set_trailing_metadata(trailers)


def _example_count(request_input: input_pb2.Input) -> int:
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        return len(request_input.example_list.examples)
    if kind == "example_list_with_context":
        return len(request_input.example_list_with_context.examples)
    return 0


class _Service:
    def __init__(
        self,
        backend: Backend,
        metrics: ServingMetrics,
        timeout_s: float,
        max_instances: int,
        split: TrafficSplit | None = None,
    ):
        self.backend, self.metrics = backend, metrics
        self.timeout_s, self.max_instances = timeout_s, max_instances
        self.split = split

    def _handle(
        self,
        api: str,
        spec,
        context: grpc.ServicerContext,
        work: Callable[[ModelSpec, RequestObservation, Trace | None], Any],
        traced: bool = False,
    ):
        """Runs `work(checked_spec, seen, trace)`, counted, with every failure a gRPC status.

        A `traced` call (an inference) gets its trace, is routed by `--split` when unpinned,
        and answers with the trace as trailing metadata, on errors too; others get None."""
        with self.metrics.observe(api, "grpc", spec.name, self.backend.is_served) as seen:
            trace: Trace | None = None
            try:
                if context.time_remaining() <= 0:
                    raise DeadlineExceeded("the call's deadline passed before it was answered")
                checked = _spec_of(spec)
                if traced:
                    trace = Trace(request_id(_metadata_value(context, REQUEST_ID_HEADER)))
                    checked, trace = route(
                        self.split,
                        checked,
                        trace,
                        _metadata_value(context, SPLIT_KEY_HEADER),
                        self.metrics.split_requests,
                    )
                answer = work(checked, seen, trace)
                if traced:
                    _set_trailers(context, trace, seen)
                return answer
            except ServingError as error:
                seen.code = error.grpc_code.name
                if traced:
                    _set_trailers(context, trace, seen)
                context.abort(error.grpc_code, _details(error.message))
            except Exception as error:  # a bug: still a status, logged once (not by grpc too)
                log.exception("internal error in gRPC %s", api)
                seen.code = grpc.StatusCode.INTERNAL.name
                if traced:
                    _set_trailers(context, trace, seen)
                context.abort(
                    grpc.StatusCode.INTERNAL,
                    _details(f"internal error: {type(error).__name__}: {echo(str(error))}"),
                )

    def _answer(self, api: str, spec, context: grpc.ServicerContext, answer, traced: bool = True):
        """Resolves the request's model, then `answer(target, seen, trace)`, as `_handle`
        does (`traced`: an inference call)."""

        def work(checked: ModelSpec, seen: RequestObservation, trace: Trace | None):
            target = self.backend.resolve(checked.model, checked.version, checked.label)
            try:
                seen.version = str(target.version)
                return answer(target, seen, trace)
            finally:
                target.release()

        return self._handle(api, spec, context, work, traced)

    def _wait(
        self,
        target: Target,
        signature_name: str,
        inputs,
        context: grpc.ServicerContext,
        seen: RequestObservation,
        trace: Trace | None,
    ) -> dict:
        """The model's outputs, within the request timeout and the call's deadline.

        Raises:
          DeadlineExceeded: the deadline passed first (before the call, the model does not run).
          Cancelled: the client cancelled the call first.
        """
        remaining = context.time_remaining()
        if remaining <= 0:
            raise DeadlineExceeded("the call's deadline passed before the model was called")
        timeout_s = min(self.timeout_s, remaining)
        future = target.submit(signature_name, inputs, trace)
        seen.hold_until_done(future)
        ended: futures.Future = futures.Future()  # the RPC ended: cancelled, or out of time
        if not context.add_callback(lambda: ended.set_result(None)):
            ended.set_result(None)
        done, _ = futures.wait((future, ended), timeout_s, futures.FIRST_COMPLETED)
        if future not in done:
            future.cancel()  # a queued call never runs; a running one ends on its own
            if ended not in done:
                raise DeadlineExceeded(f"the model did not answer within {timeout_s:.3g} s")
            if context.time_remaining() <= 0:
                raise DeadlineExceeded("the call's deadline passed before the model answered")
            raise Cancelled("the client cancelled the call before the answer")
        try:
            return future.result()
        except futures.CancelledError:
            raise Cancelled("the model call was cancelled") from None
        except ServingError:
            raise
        except Exception as error:  # the model failed; TF's own status says whose fault
            raise model_error(error) from error


def _fill_spec(spec, target: Target, signature_name: str) -> None:
    spec.name = target.model
    spec.version.value = target.version
    spec.signature_name = signature_name


class PredictionService(_Service, prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress and GetModelMetadata."""

    def Predict(self, request: predict_pb2.PredictRequest, context):  # noqa: N802 (gRPC name)
        def answer(target: Target, seen: RequestObservation, trace: Trace | None):
            name, signature = find_signature(
                target.signature_defs, request.model_spec.signature_name
            )
            inputs = to_arrays(request.inputs, name, signature, self.max_instances)
            unknown = sorted(set(request.output_filter) - set(signature.outputs))
            if unknown:
                raise InvalidArgument(
                    f"output_filter names unknown output(s) {echo(', '.join(unknown))}; "
                    f'signature "{name}" has {", ".join(signature.outputs)}'
                )
            outputs = self._wait(target, name, inputs, context, seen, trace)
            response = predict_pb2.PredictResponse()
            _fill_spec(response.model_spec, target, name)
            for key, value in outputs.items():
                if not request.output_filter or key in request.output_filter:
                    response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

        return self._answer("predict", request.model_spec, context, answer)

    def _examples(self, api: str, request, context, method: str, respond):
        """Runs a Classify / Regress request; `respond(target, name, outputs, count)`."""

        def answer(target: Target, seen: RequestObservation, trace: Trace | None):
            count = _example_count(request.input)
            if count > self.max_instances:
                raise too_many_examples(count, self.max_instances)
            serialized = examples_from_input(request.input)
            name, inputs = example_inputs(
                target.signature_defs, request.model_spec.signature_name, method, serialized
            )
            outputs = self._wait(target, name, inputs, context, seen, trace)
            return respond(target, name, outputs, len(serialized))

        return self._answer(api, request.model_spec, context, answer)

    def Classify(self, request: classification_pb2.ClassificationRequest, context):  # noqa: N802
        def respond(target: Target, name: str, outputs, count: int):
            response = classification_pb2.ClassificationResponse()
            _fill_spec(response.model_spec, target, name)
            for pairs in classifications(outputs, count):
                classes = response.result.classifications.add()
                for label, score in pairs:
                    classes.classes.add(label=label, score=score)
            return response

        return self._examples("classify", request, context, CLASSIFY_METHOD, respond)

    def Regress(self, request: regression_pb2.RegressionRequest, context):  # noqa: N802
        def respond(target: Target, name: str, outputs, count: int):
            response = regression_pb2.RegressionResponse()
            _fill_spec(response.model_spec, target, name)
            for value in regressions(outputs, count):
                response.result.regressions.add(value=value)
            return response

        return self._examples("regress", request, context, REGRESS_METHOD, respond)

    def GetModelMetadata(self, request, context):  # noqa: N802
        def answer(target: Target, seen: RequestObservation, trace: Trace | None):
            unknown = sorted(set(request.metadata_field) - {"signature_def"})
            if unknown:
                raise InvalidArgument(
                    f"unknown metadata_field {echo(', '.join(unknown))}; only signature_def exists"
                )
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            _fill_spec(response.model_spec, target, "")
            signatures = get_model_metadata_pb2.SignatureDefMap()
            for key, signature in target.signature_defs.items():
                signatures.signature_def[key].CopyFrom(signature)
            response.metadata["signature_def"].Pack(signatures)
            return response

        return self._answer("metadata", request.model_spec, context, answer, traced=False)

    def MultiInference(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported")


class ModelService(_Service, model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus (config reload is done by polling, not by RPC)."""

    def GetModelStatus(self, request, context):  # noqa: N802
        def work(checked: ModelSpec, seen: RequestObservation, trace: Trace | None):
            return self.backend.status(checked.model, checked.version, checked.label)

        return self._handle("status", request.model_spec, context, work)

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        error = Unimplemented("config reload by RPC is not supported; the server polls its models")
        context.abort(error.grpc_code, error.message)


def grpc_server(
    backend: Backend,
    metrics: ServingMetrics,
    address: str,
    timeout_s: float,
    max_concurrent_rpcs: int,
    max_message_bytes: int,
    max_batch_instances: int,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
    split: TrafficSplit | None = None,
    reuse_port: bool = False,
) -> grpc.Server:
    """A started gRPC server on `address` (host:port) serving both services.

    Args:
      timeout_s: the model's answer must come within this (--request-timeout-s).
      max_concurrent_rpcs: more calls at once are refused (--max-concurrent-requests).
      max_message_bytes: the largest request or response (--max-body-bytes).
      max_batch_instances: the most examples one request may carry (--max-batch-instances).
      interceptors: run before every call (the bearer token check of --auth-token-file).
      split: routes unpinned Predict, Classify and Regress calls (--split), or None.
      reuse_port: share the port with the other workers of `dlwp serve --workers N`; off,
        a port already taken is refused.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=max(8, min(max_concurrent_rpcs, 64)), thread_name_prefix="grpc"
        ),
        maximum_concurrent_rpcs=max_concurrent_rpcs,
        interceptors=list(interceptors),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", int(reuse_port)),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(backend, metrics, timeout_s, max_batch_instances, split), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(backend, metrics, timeout_s, max_batch_instances), server
    )
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    server.start()
    return server
