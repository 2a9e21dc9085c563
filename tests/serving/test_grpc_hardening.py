"""The gRPC front end against malformed, huge and impatient clients, on a real server with the
official `tensorflow_serving.apis` stubs: TensorProtos are checked against the signature before
any array is built, errors are short, and a call whose client leaves does not run its model.

The server has one model thread, so a second slow call queues behind the first.
"""

import logging
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from saved_models import toy_scores
from servers import running_server, settings_for, wait_for
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.servable import Servable
from serving.settings import RestLimits

MAX_INSTANCES = 8
X = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
# One slow call takes about 1.5 s per 2,000 iterations alone on one core (test_limits.py).
SLOW_ITERATIONS = 4000


@pytest.fixture(scope="module")
def server(toy_models):
    limits = RestLimits(max_batch_instances=MAX_INSTANCES, request_timeout_s=30.0)
    with running_server(
        settings_for(workers=1, models_dir=toy_models, limits=limits, model_threads=1)
    ) as s:
        yield s


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_address) as channel:
        yield channel


@pytest.fixture
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def request_with(tensors: dict[str, tensor_pb2.TensorProto], model="toy", signature=""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for name, tensor in tensors.items():
        request.inputs[name].CopyFrom(tensor)
    return request


def claimed(dtype: int, dims: list[int], **values) -> tensor_pb2.TensorProto:
    """A TensorProto that claims `dims` and holds only `values` (e.g. float_val=[1.0])."""
    tensor = tensor_pb2.TensorProto(dtype=dtype, **values)
    for size in dims:
        tensor.tensor_shape.dim.add(size=size)
    return tensor


def refusal(stub, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(request, timeout=10)
    return raised.value


def memory_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        lines = status.read().splitlines()
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def predict_ok(stub) -> np.ndarray:
    response = stub.Predict(request_with({"x": tf.make_tensor_proto(X)}), timeout=10)
    return tf.make_ndarray(response.outputs["scores"])


@pytest.mark.parametrize(
    "dims", [[200_000, 784], [1_000_000, 3]], ids=["other shape", "the signature's shape"]
)
def test_a_tiny_request_claiming_a_huge_batch_is_refused_at_once_with_memory_flat(stub, dims):
    request = request_with({"x": claimed(types_pb2.DT_FLOAT, dims)})
    assert len(request.SerializeToString()) < 64
    # Resets the peak RSS (VmHWM) to the current RSS: the server runs in this process.
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    before = memory_kib("VmRSS")
    start = time.perf_counter()
    error = refusal(stub, request)
    elapsed_s = time.perf_counter() - start
    peak_growth_mib = (memory_kib("VmHWM") - before) / 1024
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{dims[0]}" in error.details()
    assert elapsed_s < 1.0
    assert peak_growth_mib < 32, f"the peak RSS grew by {peak_growth_mib:.0f} MiB"
    np.testing.assert_allclose(predict_ok(stub), toy_scores(X, 1), rtol=1e-5)


def test_a_batch_over_max_batch_instances_names_the_flag(stub):
    error = refusal(stub, request_with({"x": claimed(types_pb2.DT_FLOAT, [200_000, 3])}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'x' has 200000 examples" in error.details()
    assert f"--max-batch-instances {MAX_INSTANCES}" in error.details()


@pytest.mark.parametrize(
    "tensor,field",
    [
        (claimed(types_pb2.DT_FLOAT, [4, 3], float_val=[1.0]), "float_val holds 1"),
        (claimed(types_pb2.DT_FLOAT, [4, 3]), "float_val holds 0"),
        (claimed(types_pb2.DT_FLOAT, [2, 3], tensor_content=b"\0" * 4), "tensor_content has 4"),
    ],
    ids=["one value", "no value", "short tensor_content"],
)
def test_a_shape_is_not_filled_from_fewer_values(stub, tensor, field):
    error = refusal(stub, request_with({"x": tensor}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'x'" in error.details()
    assert field in error.details()
    assert "send every value" in error.details()


def test_a_string_input_of_ten_million_with_one_value_is_refused(stub):
    tensor = claimed(types_pb2.DT_STRING, [10_000_000], string_val=[b"x"])
    error = refusal(stub, request_with({"examples": tensor}, signature="from_examples"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'examples'" in error.details()
    assert "10000000 examples" in error.details()


def test_strings_within_the_batch_limit_must_still_all_be_sent(stub):
    tensor = claimed(types_pb2.DT_STRING, [MAX_INSTANCES], string_val=[b"x"])
    error = refusal(stub, request_with({"examples": tensor}, signature="from_examples"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{MAX_INSTANCES} values, but string_val holds 1" in error.details()


@pytest.mark.parametrize("dims", [[10**12, 3], [1, 10**12]], ids=["batch", "feature"])
def test_a_dim_of_a_trillion_is_refused(stub, dims):
    error = refusal(stub, request_with({"x": claimed(types_pb2.DT_FLOAT, dims)}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1000000000000" in error.details()


def test_a_negative_dim_is_refused(stub):
    error = refusal(stub, request_with({"x": claimed(types_pb2.DT_FLOAT, [-1, 3])}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "0 or more" in error.details()


def test_an_unknown_rank_is_refused(stub):
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0, 3.0])
    tensor.tensor_shape.unknown_rank = True
    error = refusal(stub, request_with({"x": tensor}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown rank" in error.details()


@pytest.mark.parametrize(
    "dtype,name", [(types_pb2.DT_RESOURCE, "DT_RESOURCE"), (types_pb2.DT_VARIANT, "DT_VARIANT")]
)
def test_a_dtype_no_request_can_carry_is_refused_by_name(stub, dtype, name):
    error = refusal(stub, request_with({"x": claimed(dtype, [1, 3])}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert name in error.details()
    assert "DT_FLOAT" in error.details()


def test_an_undefined_dtype_number_is_refused(stub):
    error = refusal(stub, request_with({"x": claimed(12345, [1, 3])}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "12345" in error.details()


def test_values_in_the_field_of_another_dtype_are_refused(stub):
    tensor = claimed(types_pb2.DT_FLOAT, [1, 3], int_val=[1, 2, 3])
    error = refusal(stub, request_with({"x": tensor}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not int_val" in error.details()


def test_every_value_sent_in_float_val_is_served(stub):
    tensor = claimed(types_pb2.DT_FLOAT, [1, 3], float_val=X.ravel().tolist())
    response = stub.Predict(request_with({"x": tensor}), timeout=10)
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["scores"]), toy_scores(X, 1), rtol=1e-5
    )


def test_an_input_of_another_dtype_is_refused_and_one_of_its_own_served(stub):
    a_float = claimed(types_pb2.DT_FLOAT, [1], float_val=[0.5])
    a_int = claimed(types_pb2.DT_INT64, [1], int64_val=[1])
    b = claimed(types_pb2.DT_INT64, [1, 2], int64_val=[1, 2])
    served = stub.Predict(request_with({"a": a_float, "b": b}, signature="two_inputs"), timeout=10)
    assert tf.make_ndarray(served.outputs["total"]).tolist() == [3.5]
    error = refusal(stub, request_with({"a": a_int, "b": b}, signature="two_inputs"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'a' expects DT_FLOAT [-1], got DT_INT64" in error.details()


def test_a_narrow_int_outside_its_range_is_refused():
    from tensorflow.core.protobuf import meta_graph_pb2

    from serving.errors import InvalidArgument
    from serving.tensor_protos import to_array

    info = meta_graph_pb2.TensorInfo(dtype=types_pb2.DT_INT8)
    info.tensor_shape.dim.add(size=-1)
    assert to_array(
        "n", claimed(types_pb2.DT_INT8, [2], int_val=[-128, 127]), info, 8
    ).tolist() == [
        -128,
        127,
    ]
    with pytest.raises(InvalidArgument, match=r"outside \[-128, 127\]"):
        to_array("n", claimed(types_pb2.DT_INT8, [2], int_val=[1, 128]), info, 8)


def test_a_missing_and_an_unknown_input_are_named(stub):
    error = refusal(stub, request_with({"y" * 1000: tf.make_tensor_proto(X)}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "missing input(s): x" in error.details()
    assert "unknown input(s): yyyy" in error.details()
    assert len(error.details().encode()) < 512


def test_a_string_that_is_no_utf8_and_no_tf_example_is_invalid_argument(stub):
    tensor = claimed(types_pb2.DT_STRING, [1], string_val=[b"\xff\x00garbage"])
    error = refusal(stub, request_with({"examples": tensor}, signature="from_examples"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(error.details().encode()) <= 1024


def test_a_ten_thousand_character_model_name_is_not_found_with_a_short_message(stub):
    error = refusal(stub, request_with({"x": tf.make_tensor_proto(X)}, model="m" * 10_000))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    # The name is echoed cut to 256 bytes (serving/errors.py), in TF Serving's message.
    assert len(error.details().encode()) <= 400
    assert "mmmm" in error.details()


def test_a_ten_thousand_character_signature_name_is_echoed_cut(stub):
    error = refusal(stub, request_with({"x": tf.make_tensor_proto(X)}, signature="s" * 10_000))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(error.details().encode()) <= 600
    assert "serving_default" in error.details()


def test_a_model_name_with_a_control_character_is_refused(channel):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy\n"
    with pytest.raises(grpc.RpcError) as raised:
        model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "control character" in raised.value.details()


def test_a_predict_over_max_batch_instances_is_refused_and_one_at_the_limit_served(stub):
    rows = np.ones([MAX_INSTANCES + 1, 3], dtype=np.float32)
    error = refusal(stub, request_with({"x": tf.make_tensor_proto(rows)}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "split" in error.details()
    served = stub.Predict(request_with({"x": tf.make_tensor_proto(rows[1:])}), timeout=10)
    assert tf.make_ndarray(served.outputs["scores"]).shape == (MAX_INSTANCES, 2)


def test_a_classify_over_max_batch_instances_is_refused(stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "toy"
    for _ in range(MAX_INSTANCES + 1):
        request.input.example_list.examples.add().features.feature["x"].float_list.value.extend(
            [1.0, 2.0, 3.0]
        )
    with pytest.raises(grpc.RpcError) as raised:
        stub.Classify(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{MAX_INSTANCES + 1} examples" in raised.value.details()


def test_an_unexpected_failure_is_internal_short_and_logged_once(stub, monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("boom " * 1000)

    monkeypatch.setattr("serving.grpc_service.to_arrays", broken)
    with caplog.at_level(logging.ERROR):
        error = refusal(stub, request_with({"x": tf.make_tensor_proto(X)}))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "RuntimeError" in error.details()
    assert len(error.details().encode()) <= 1024
    assert [r.exc_info is not None for r in caplog.records] == [True]


# --- clients that leave -----------------------------------------------------------------------


def slow_request(iterations: int = SLOW_ITERATIONS) -> predict_pb2.PredictRequest:
    request = request_with(
        {
            "x": tf.make_tensor_proto(X),
            "iterations": tf.make_tensor_proto(np.int32(iterations)),
        },
        signature="slow",
    )
    return request


@pytest.fixture
def slow_runs(monkeypatch):
    """Counts the slow signature's model calls: started and finished."""
    run, counts, lock = Servable.run, {"started": 0, "finished": 0}, threading.Lock()

    def counted(self, signature_name, inputs):
        if signature_name != "slow":
            return run(self, signature_name, inputs)
        with lock:
            counts["started"] += 1
        try:
            return run(self, signature_name, inputs)
        finally:
            with lock:
                counts["finished"] += 1

    monkeypatch.setattr(Servable, "run", counted)
    return counts


def sample(server, name: str, **labels) -> float:
    return server.stack.metrics.registry.get_sample_value(name, labels) or 0.0


def grpc_count(server, code: str) -> float:
    labels = dict(model="toy", version="1", api="predict", protocol="grpc", code=code)
    return sample(server, "dlwp_request_count_total", **labels)


def test_a_cancelled_call_queued_behind_a_slow_one_never_runs(server, stub, slow_runs):
    cancelled_before = grpc_count(server, "CANCELLED")
    first = stub.Predict.future(slow_request(), timeout=60)
    wait_for(lambda: slow_runs["started"] == 1, what="the first slow call running")
    second = stub.Predict.future(slow_request(), timeout=60)
    wait_for(lambda: sample(server, "dlwp_requests_in_flight") == 2, what="two calls in flight")
    second.cancel()
    wait_for(lambda: grpc_count(server, "CANCELLED") == cancelled_before + 1, what="CANCELLED")
    assert not first.done(), "the first slow call was too fast to test with"
    assert first.result().outputs["scores"]
    wait_for(lambda: sample(server, "dlwp_requests_in_flight") == 0, what="none in flight")
    assert slow_runs == {"started": 1, "finished": 1}


def test_a_deadline_that_passes_while_queued_answers_at_once_and_never_runs(
    server, stub, slow_runs
):
    exceeded_before = grpc_count(server, "DEADLINE_EXCEEDED")
    first = stub.Predict.future(slow_request(), timeout=60)
    wait_for(lambda: slow_runs["started"] == 1, what="the first slow call running")
    start = time.perf_counter()
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(slow_request(), timeout=0.3)
    waited_s = time.perf_counter() - start
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert waited_s < 5.0
    wait_for(lambda: grpc_count(server, "DEADLINE_EXCEEDED") == exceeded_before + 1, what="count")
    assert not first.done(), "the first slow call was too fast to test with"
    first.result()
    wait_for(lambda: sample(server, "dlwp_requests_in_flight") == 0, what="none in flight")
    assert slow_runs == {"started": 1, "finished": 1}


def test_a_model_call_whose_client_left_counts_in_flight_until_it_ends(server, stub, slow_runs):
    cancelled_before = grpc_count(server, "CANCELLED")
    call = stub.Predict.future(slow_request(), timeout=60)
    wait_for(lambda: slow_runs["started"] == 1, what="the slow call running")
    call.cancel()
    wait_for(
        lambda: grpc_count(server, "CANCELLED") == cancelled_before + 1, what="CANCELLED counted"
    )
    assert slow_runs["finished"] == 0, "the slow call was too fast to test with"
    assert sample(server, "dlwp_requests_in_flight") == 1
    wait_for(lambda: slow_runs["finished"] == 1, what="the model call to end")
    wait_for(lambda: sample(server, "dlwp_requests_in_flight") == 0, what="none in flight")


class _Aborted(Exception):
    pass


class _DeadlinePassed:
    """The ServicerContext a call sees when it waited in gRPC's queue past its deadline."""

    def time_remaining(self) -> float:
        return 0.0

    def add_callback(self, callback) -> bool:
        return False

    def invocation_metadata(self):
        return ()

    def set_trailing_metadata(self, trailers):
        self.trailers = dict(trailers)

    def abort(self, code, details):
        self.code, self.details = code, details
        raise _Aborted()


def test_a_call_whose_deadline_passed_before_it_started_never_runs_the_model(server, slow_runs):
    from serving.grpc_service import PredictionService
    from serving.metrics import ServingMetrics

    metrics = ServingMetrics()
    service = PredictionService(server.stack.backend, metrics, 30.0, MAX_INSTANCES)
    context = _DeadlinePassed()
    with pytest.raises(_Aborted):
        service.Predict(slow_request(), context)
    assert context.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "x-request-id" in context.trailers  # sent with the status, as on every inference
    assert slow_runs["started"] == 0
    labels = dict(model="toy", version="", api="predict", protocol="grpc")
    assert (
        metrics.registry.get_sample_value(
            "dlwp_request_count_total", {**labels, "code": "DEADLINE_EXCEEDED"}
        )
        == 1
    )
