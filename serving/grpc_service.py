"""The gRPC API on 8500: TF Serving's PredictionService and ModelService, on its own protos,
so the official `tensorflow_serving.apis` client code works unchanged."""

from concurrent import futures

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.backends import Backend, Target
from serving.errors import (
    DeadlineExceeded,
    InvalidArgument,
    ServingError,
    Unimplemented,
    model_error,
)
from serving.examples import classifications, example_inputs, examples_from_input, regressions
from serving.metrics import ServingMetrics
from serving.signatures import CLASSIFY_METHOD, REGRESS_METHOD, check_inputs, find_signature


def _version_of(spec) -> tuple[int | None, str | None]:
    if spec.WhichOneof("version_choice") == "version":
        return spec.version.value, None
    if spec.WhichOneof("version_choice") == "version_label":
        return None, spec.version_label
    return None, None


class _Service:
    def __init__(self, backend: Backend, metrics: ServingMetrics, timeout_s: float):
        self.backend, self.metrics, self.timeout_s = backend, metrics, timeout_s

    def _answer(self, api: str, spec, context: grpc.ServicerContext, answer):
        """Resolves the request's model, runs `answer(target)`, maps errors to gRPC status."""
        with self.metrics.observe(api, "grpc", spec.name, self.backend.is_served) as seen:
            try:
                target = self.backend.resolve(spec.name, *_version_of(spec))
                try:
                    seen.version = str(target.version)
                    return answer(target, context)
                finally:
                    target.release()
            except ServingError as error:
                seen.code = error.grpc_code.name
                context.abort(error.grpc_code, error.message)

    def _wait(self, target: Target, signature_name: str, inputs, context) -> dict:
        remaining = context.time_remaining()
        timeout_s = self.timeout_s if remaining is None else min(self.timeout_s, remaining)
        future = target.submit(signature_name, inputs)
        try:
            return future.result(timeout=timeout_s)
        except futures.TimeoutError:
            future.cancel()
            raise DeadlineExceeded(f"the model did not answer within {timeout_s:.3g} s") from None
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
        def answer(target, context):
            name, signature = find_signature(
                target.signature_defs, request.model_spec.signature_name
            )
            try:
                inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            except (TypeError, ValueError) as error:
                raise InvalidArgument(f"an input TensorProto is malformed: {error}") from None
            check_inputs(name, signature, inputs)
            unknown = sorted(set(request.output_filter) - set(signature.outputs))
            if unknown:
                raise InvalidArgument(
                    f"output_filter names unknown output(s) {', '.join(unknown)}; signature "
                    f'"{name}" has {", ".join(signature.outputs)}'
                )
            outputs = self._wait(target, name, inputs, context)
            response = predict_pb2.PredictResponse()
            _fill_spec(response.model_spec, target, name)
            for key, value in outputs.items():
                if not request.output_filter or key in request.output_filter:
                    response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

        return self._answer("predict", request.model_spec, context, answer)

    def _examples(self, api: str, request, context, method: str):
        def answer(target, context):
            serialized = examples_from_input(request.input)
            name, inputs = example_inputs(
                target.signature_defs, request.model_spec.signature_name, method, serialized
            )
            return name, self._wait(target, name, inputs, context), len(serialized), target

        return self._answer(api, request.model_spec, context, answer)

    def Classify(self, request: classification_pb2.ClassificationRequest, context):  # noqa: N802
        name, outputs, count, target = self._examples("classify", request, context, CLASSIFY_METHOD)
        response = classification_pb2.ClassificationResponse()
        _fill_spec(response.model_spec, target, name)
        for pairs in classifications(outputs, count):
            classes = response.result.classifications.add()
            for label, score in pairs:
                classes.classes.add(label=label, score=score)
        return response

    def Regress(self, request: regression_pb2.RegressionRequest, context):  # noqa: N802
        name, outputs, count, target = self._examples("regress", request, context, REGRESS_METHOD)
        response = regression_pb2.RegressionResponse()
        _fill_spec(response.model_spec, target, name)
        for value in regressions(outputs, count):
            response.result.regressions.add(value=value)
        return response

    def GetModelMetadata(self, request, context):  # noqa: N802
        def answer(target, context):
            unknown = sorted(set(request.metadata_field) - {"signature_def"})
            if unknown:
                raise InvalidArgument(
                    f"unknown metadata_field {', '.join(unknown)}; only signature_def exists"
                )
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            _fill_spec(response.model_spec, target, "")
            signatures = get_model_metadata_pb2.SignatureDefMap()
            for key, signature in target.signature_defs.items():
                signatures.signature_def[key].CopyFrom(signature)
            response.metadata["signature_def"].Pack(signatures)
            return response

        return self._answer("metadata", request.model_spec, context, answer)

    def MultiInference(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported")


class ModelService(_Service, model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus (config reload is done by polling, not by RPC)."""

    def GetModelStatus(self, request, context):  # noqa: N802
        spec = request.model_spec
        with self.metrics.observe("status", "grpc", spec.name, self.backend.is_served) as seen:
            try:
                return self.backend.status(spec.name, *_version_of(spec))
            except ServingError as error:
                seen.code = error.grpc_code.name
                context.abort(error.grpc_code, error.message)

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
) -> grpc.Server:
    """A started gRPC server on `address` (host:port) serving both services."""
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=max(8, min(max_concurrent_rpcs, 64)), thread_name_prefix="grpc"
        ),
        maximum_concurrent_rpcs=max_concurrent_rpcs,
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(backend, metrics, timeout_s), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(backend, metrics, timeout_s), server
    )
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    server.start()
    return server
