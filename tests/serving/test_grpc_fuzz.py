"""Hypothesis against the gRPC API on a real server: generated PredictRequests (any DataType
number, shapes huge, negative, empty or of unknown rank, contents that match the shape or not,
values in the wrong field, random names and versions) and Classify / Regress inputs.

Every answer must be OK or a client error TF Serving would give (INVALID_ARGUMENT, NOT_FOUND,
RESOURCE_EXHAUSTED, FAILED_PRECONDITION), with a short message, within the client's timeout: a
hang, an INTERNAL or an UNKNOWN fails the test. About half the requests are well formed for a
toy signature, so the model runs too.
"""

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import running_server, settings_for
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.settings import RestLimits

# Each answer must come within this: a hang fails the test instead of stalling it.
CLIENT_TIMEOUT_S = 10.0
MAX_INSTANCES = 16
ALLOWED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
}
MAX_DETAILS_BYTES = 1024
# The toy model's signatures and their inputs (tests/serving/saved_models.py); `slow` is left
# out (its iteration count would make the fuzzing as slow as it asks).
SIGNATURES: dict[str, dict[str, tuple[int, list[int | None]]]] = {
    "serving_default": {"x": (types_pb2.DT_FLOAT, [None, 3])},
    "two_inputs": {"a": (types_pb2.DT_FLOAT, [None]), "b": (types_pb2.DT_INT64, [None, 2])},
    "from_examples": {"examples": (types_pb2.DT_STRING, [None])},
    "regress_examples": {"examples": (types_pb2.DT_STRING, [None])},
}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def stub(toy_models):
    limits = RestLimits(max_batch_instances=MAX_INSTANCES, request_timeout_s=5.0)
    with (
        running_server(settings_for(models_dir=toy_models, limits=limits)) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


# --- TensorProtos --------------------------------------------------------------------------------

ANY_DTYPE = st.one_of(
    st.sampled_from(sorted(types_pb2.DataType.values())), st.integers(-(2**31), 2**31 - 1)
)
DIM = st.one_of(
    st.sampled_from([0, 1, 2, 3, MAX_INSTANCES, MAX_INSTANCES + 1, 10**12, 2**62, -1]),
    st.integers(-(2**63), 2**63 - 1),
)
INT32S = st.lists(st.integers(-(2**31), 2**31 - 1), max_size=12)
VALUES = st.one_of(
    st.just({}),
    st.builds(lambda b: {"tensor_content": b}, st.binary(max_size=96)),
    st.builds(lambda v: {"float_val": v}, st.lists(st.floats(width=32), max_size=12)),
    st.builds(lambda v: {"double_val": v}, st.lists(st.floats(), max_size=12)),
    st.builds(lambda v: {"int_val": v}, INT32S),
    st.builds(lambda v: {"half_val": v}, INT32S),
    st.builds(lambda v: {"int64_val": v}, st.lists(st.integers(-(2**63), 2**63 - 1), max_size=12)),
    st.builds(lambda v: {"uint32_val": v}, st.lists(st.integers(0, 2**32 - 1), max_size=12)),
    st.builds(lambda v: {"uint64_val": v}, st.lists(st.integers(0, 2**64 - 1), max_size=12)),
    st.builds(lambda v: {"bool_val": v}, st.lists(st.booleans(), max_size=12)),
    st.builds(lambda v: {"string_val": v}, st.lists(st.binary(max_size=16), max_size=12)),
)


@st.composite
def random_tensors(draw) -> tensor_pb2.TensorProto:
    """A TensorProto of any dtype number, shape and content, matching or not."""
    tensor = tensor_pb2.TensorProto(dtype=draw(ANY_DTYPE), **draw(VALUES))
    if draw(st.integers(0, 9)) == 0:
        tensor.tensor_shape.unknown_rank = True
    for size in draw(st.lists(DIM, max_size=4)):
        tensor.tensor_shape.dim.add(size=size)
    return tensor


def _serialized_example(x: list[float]) -> bytes:
    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.extend(x)
    return example.SerializeToString()


@st.composite
def fitting_tensors(draw, dtype: int, dims: list[int | None], rows: int) -> tensor_pb2.TensorProto:
    """A TensorProto of the signature's dtype and shape with `rows` examples, every value sent:
    the model runs (unless its strings are no tf.Examples)."""
    shape = [rows if d is None else d for d in dims]
    count = int(np.prod(shape))
    tensor = tensor_pb2.TensorProto(dtype=dtype)
    for size in shape:
        tensor.tensor_shape.dim.add(size=size)
    if dtype == types_pb2.DT_STRING:
        good = st.builds(_serialized_example, st.lists(st.floats(width=32), min_size=3, max_size=3))
        strings = good if draw(st.integers(0, 3)) else good | st.binary(max_size=8)
        tensor.string_val.extend(draw(st.lists(strings, min_size=count, max_size=count)))
    elif dtype == types_pb2.DT_FLOAT:
        values = draw(st.lists(st.floats(width=32), min_size=count, max_size=count))
        if draw(st.booleans()):
            tensor.tensor_content = np.array(values, dtype=np.float32).tobytes()
        else:
            tensor.float_val.extend(values)
    else:
        values = draw(st.lists(st.integers(-(2**40), 2**40), min_size=count, max_size=count))
        tensor.int64_val.extend(values)
    return tensor


def rarely(draw, strategy, usual):
    """A value of `strategy` one time in four, else `usual`."""
    return draw(strategy) if draw(st.integers(0, 3)) == 0 else usual


NAMES = st.one_of(st.sampled_from(["x", "a", "b", "examples", "iterations"]), st.text(max_size=300))


@st.composite
def predict_requests(draw) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = rarely(draw, st.text(max_size=2000), "toy")
    choice = draw(st.integers(0, 7))
    if choice == 0:
        request.model_spec.version.value = draw(st.integers(-(2**63), 2**63 - 1))
    elif choice == 1:
        request.model_spec.version_label = draw(st.text(max_size=300))
    elif choice == 2:
        request.model_spec.version.value = 1
    signature = rarely(draw, st.text(max_size=300), draw(st.sampled_from(sorted(SIGNATURES))))
    if signature == "serving_default" and draw(st.booleans()):
        signature = ""
    request.model_spec.signature_name = signature
    inputs = SIGNATURES.get(signature or "serving_default")
    if inputs is not None and draw(st.booleans()):
        rows = draw(st.integers(0, MAX_INSTANCES))
        for name, (dtype, dims) in inputs.items():
            request.inputs[name].CopyFrom(draw(fitting_tensors(dtype, dims, rows)))
    else:
        for name in draw(st.lists(NAMES, max_size=3, unique=True)):
            request.inputs[name].CopyFrom(draw(random_tensors()))
    if draw(st.integers(0, 4)) == 0:
        request.output_filter.extend(draw(st.lists(NAMES, max_size=3)))
    return request


def check_answer(call, request) -> None:
    try:
        call(request, timeout=CLIENT_TIMEOUT_S)
    except grpc.RpcError as error:
        details = error.details() or ""
        assert error.code() in ALLOWED, f"{error.code()}: {details[:500]}"
        assert len(details.encode()) <= MAX_DETAILS_BYTES, details[:500]


@FUZZ
@given(request=predict_requests())
def test_generated_predict_requests_get_ok_or_a_client_error(stub, request):
    check_answer(stub.Predict, request)


# --- tf.Examples ---------------------------------------------------------------------------------

FEATURE_VALUES = st.one_of(
    st.builds(lambda v: ("float_list", v), st.lists(st.floats(width=32), max_size=6)),
    st.builds(lambda v: ("int64_list", v), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=6)),
    st.builds(lambda v: ("bytes_list", v), st.lists(st.binary(max_size=8), max_size=6)),
)
RANDOM_FEATURES = st.dictionaries(
    st.sampled_from(["x", "y"]) | st.text(max_size=20), FEATURE_VALUES, max_size=3
)
# What the toy's example signatures parse: `x`, three floats.
TOY_FEATURES = st.builds(
    lambda x: {"x": ("float_list", x)}, st.lists(st.floats(width=32), min_size=3, max_size=3)
)
FEATURES = st.one_of(TOY_FEATURES, RANDOM_FEATURES)


def _example(features: dict) -> example_pb2.Example:
    example = example_pb2.Example()
    for name, (kind, values) in features.items():
        getattr(example.features.feature[name], kind).value.extend(values)
    return example


@st.composite
def example_requests(draw, request_type):
    request = request_type()
    request.model_spec.name = rarely(draw, st.text(max_size=50), "toy")
    request.model_spec.signature_name = rarely(
        draw, st.text(max_size=50), draw(st.sampled_from(["", *sorted(SIGNATURES)]))
    )
    features = draw(st.sampled_from([TOY_FEATURES, FEATURES]))  # all parse, or perhaps not
    examples = [_example(f) for f in draw(st.lists(features, max_size=MAX_INSTANCES + 2))]
    if draw(st.booleans()):
        request.input.example_list.examples.extend(examples)
    elif draw(st.booleans()):
        with_context = request.input.example_list_with_context
        with_context.context.CopyFrom(_example(draw(features)))
        with_context.examples.extend(examples)
    return request


@settings(FUZZ, max_examples=60)
@given(request=example_requests(classification_pb2.ClassificationRequest))
def test_generated_classify_requests_get_ok_or_a_client_error(stub, request):
    check_answer(stub.Classify, request)


@settings(FUZZ, max_examples=60)
@given(request=example_requests(regression_pb2.RegressionRequest))
def test_generated_regress_requests_get_ok_or_a_client_error(stub, request):
    check_answer(stub.Regress, request)
