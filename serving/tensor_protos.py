"""A gRPC PredictRequest's TensorProtos as the arrays a signature takes, each checked against
the signature before any array is built (docs/serving.md, "Errors").

`tf.make_ndarray` trusts the proto: it fills a claimed shape from zero or one value, allocates
whatever a dim claims, and takes any dtype. A 43-byte request claiming [200000, 784] became
200,000 zero images (4.5 GB of RSS); a dim of 1e12 asked numpy for petabytes. Here the dtype
must be the signature's, the shape known and as the signature says, the batch within
`--max-batch-instances`, and the content exactly as many values as the shape holds; only then
is an array made, so what a request costs stays within the size of its gRPC message.
"""

import math
from collections.abc import Mapping
from typing import NoReturn

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving.errors import InvalidArgument, echo, too_many_examples
from serving.signatures import NUMPY_DTYPES, describe, dtype_name, shape_dims

# Where TensorFlow's tensor.proto keeps the values of each dtype a request may carry, when they
# are not packed in `tensor_content` (strings never are).
VALUE_FIELDS: dict[int, str] = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
}
# TensorFlow's own limit on a tensor's rank (TensorShape::MaxDimensions).
MAX_RANK = 254
# The largest array numpy can address, in bytes.
_MAX_BYTES = 2**63 - 1
# Fields that describe the tensor rather than hold its values.
_DESCRIPTION_FIELDS = ("dtype", "tensor_shape", "version_number")
# Dtypes whose value field is wider than the dtype: each value is range-checked.
_NARROW_INT_DTYPES = (
    types_pb2.DT_INT8,
    types_pb2.DT_INT16,
    types_pb2.DT_UINT8,
    types_pb2.DT_UINT16,
)


def to_arrays(
    request_inputs: Mapping[str, tensor_pb2.TensorProto],
    signature_name: str,
    signature: meta_graph_pb2.SignatureDef,
    max_instances: int,
) -> dict[str, np.ndarray]:
    """The arrays of a PredictRequest's `inputs`, exactly the signature's inputs.

    Args:
      request_inputs: the request's input name -> TensorProto map.
      signature_name, signature: the SignatureDef the request runs on.
      max_instances: the most examples (first dim) one input may hold (--max-batch-instances).

    Raises:
      InvalidArgument: naming the input, what the signature takes and what came: a missing or
        unknown input, another dtype, a shape the signature does not take, a batch over
        `max_instances`, or values that do not fill the shape exactly.
    """
    expected = signature.inputs
    if len(request_inputs) != len(expected) or any(k not in expected for k in request_inputs):
        _refuse_names(signature_name, expected, request_inputs)
    return {
        name: to_array(name, tensor, expected[name], max_instances)
        for name, tensor in request_inputs.items()
    }


def _refuse_names(
    signature_name: str,
    expected: Mapping[str, meta_graph_pb2.TensorInfo],
    request_inputs: Mapping[str, tensor_pb2.TensorProto],
) -> NoReturn:
    missing = sorted(set(expected) - set(request_inputs))
    extra = sorted(set(request_inputs) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing input(s): {', '.join(missing)}")
    if extra:
        problems.append(f"unknown input(s): {echo(', '.join(extra))}")
    wanted = ", ".join(f"{k} ({describe(v)})" for k, v in sorted(expected.items()))
    raise InvalidArgument(f'{"; ".join(problems)}; signature "{signature_name}" takes: {wanted}')


def to_array(
    name: str, tensor: tensor_pb2.TensorProto, info: meta_graph_pb2.TensorInfo, max_instances: int
) -> np.ndarray:
    """One input's TensorProto as an array, once its dtype, shape and content are checked.

    Raises:
      InvalidArgument: as for `to_arrays`.
    """
    label = f"input '{echo(name)}'"
    dtype = tensor.dtype
    np_dtype = NUMPY_DTYPES.get(dtype)
    if dtype != info.dtype or np_dtype is None:
        _refuse_dtype(label, dtype, info)
    dims = _checked_dims(label, tensor, info, max_instances)
    count = math.prod(dims)
    content, values, values_field = b"", None, VALUE_FIELDS[dtype]
    for field, value in tensor.ListFields():
        if field.name in _DESCRIPTION_FIELDS:
            continue
        if field.name == values_field:
            values = value
        elif field.name == "tensor_content" and dtype != types_pb2.DT_STRING:
            content = value
        else:
            raise InvalidArgument(
                f"{label} is {dtype_name(dtype)}: its values go in {_fields_of(dtype)}, "
                f"not {field.name}"
            )
    if content and values is not None:
        raise InvalidArgument(
            f"{label} has values in both tensor_content and {values_field}; send them in one"
        )
    if content:
        need = count * np_dtype.itemsize
        if len(content) != need:
            raise InvalidArgument(
                f"{label} has shape {_dims_text(dims)}: {count} values of {dtype_name(dtype)} "
                f"are {need} bytes, but tensor_content has {len(content)}; send every value"
            )
        array = np.frombuffer(content, dtype=np.uint8 if dtype == types_pb2.DT_BOOL else np_dtype)
        if dtype == types_pb2.DT_BOOL:  # one byte per value; any nonzero byte is true
            array = array != 0
        return array.reshape(dims)
    got = 0 if values is None else len(values)
    if got != count:
        raise InvalidArgument(
            f"{label} has shape {_dims_text(dims)}, {count} values, but {values_field} holds "
            f"{got}; send every value (a shape is not filled from fewer), in "
            f"{_fields_of(dtype)}"
        )
    return _from_values(label, dtype, np_dtype, values if values is not None else []).reshape(dims)


def _refuse_dtype(label: str, dtype: int, info: meta_graph_pb2.TensorInfo) -> NoReturn:
    got = _dtype_text(dtype)
    if dtype not in VALUE_FIELDS:
        raise InvalidArgument(
            f"{label} has dtype {got}, which a request cannot carry; the signature takes "
            f"{describe(info)}"
        )
    if info.dtype not in VALUE_FIELDS:
        raise InvalidArgument(
            f"{label}: the signature takes {describe(info)}, which a request cannot carry"
        )
    raise InvalidArgument(
        f"{label} expects {describe(info)}, got {got} ({NUMPY_DTYPES[dtype].name})"
    )


def _checked_dims(
    label: str, tensor: tensor_pb2.TensorProto, info: meta_graph_pb2.TensorInfo, max_instances: int
) -> list[int]:
    shape = tensor.tensor_shape
    if shape.unknown_rank:
        raise InvalidArgument(
            f"{label} has an unknown rank; a request's tensor_shape lists every dim "
            f"(the signature takes {describe(info)})"
        )
    if len(shape.dim) > MAX_RANK:
        raise InvalidArgument(
            f"{label} has {len(shape.dim)} dims, more than TensorFlow's {MAX_RANK}"
        )
    dims = [dim.size for dim in shape.dim]
    if any(d < 0 for d in dims):
        raise InvalidArgument(
            f"{label} has shape {_dims_text(dims)}; a request's dims are sizes, 0 or more "
            "(-1 is for signatures)"
        )
    wanted = shape_dims(info.tensor_shape)
    if wanted is not None and (
        len(wanted) != len(dims) or any(w not in (-1, d) for w, d in zip(wanted, dims, strict=True))
    ):
        raise InvalidArgument(
            f"{label} expects shape {wanted} ({dtype_name(info.dtype)}), got shape "
            f"{_dims_text(dims)}"
        )
    # numpy (and TensorFlow) refuse a shape whose size overflows int64, even with a 0 dim.
    if math.prod(d for d in dims if d) * NUMPY_DTYPES[tensor.dtype].itemsize > _MAX_BYTES:
        raise InvalidArgument(f"{label} has shape {_dims_text(dims)}, larger than any array")
    if dims and (wanted is None or wanted[0] == -1) and dims[0] > max_instances:
        raise too_many_examples(dims[0], max_instances, f"{label} has")
    return dims


def _from_values(label: str, dtype: int, np_dtype: np.dtype, values) -> np.ndarray:
    if dtype == types_pb2.DT_STRING:
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
        return array
    if dtype == types_pb2.DT_HALF:  # half_val holds each float16's 16 bits in an int32
        bits = np.fromiter(values, dtype=np.int32)
        if bits.size and (bits.min() < 0 or bits.max() > 0xFFFF):
            raise InvalidArgument(
                f"{label}: half_val holds a value outside 0..65535 (the bits of a float16)"
            )
        return bits.astype(np.uint16).view(np.float16)
    if dtype in _NARROW_INT_DTYPES:  # int_val is int32, wider than these
        wide = np.fromiter(values, dtype=np.int32)
        limits = np.iinfo(np_dtype)
        if wide.size and (wide.min() < limits.min or wide.max() > limits.max):
            raise InvalidArgument(
                f"{label} ({dtype_name(dtype)}) has a value outside [{limits.min}, {limits.max}]"
            )
        return wide.astype(np_dtype)
    return np.fromiter(values, dtype=np_dtype)  # faster than np.array on a repeated field


def _fields_of(dtype: int) -> str:
    if dtype == types_pb2.DT_STRING:
        return "string_val"
    return f"tensor_content or {VALUE_FIELDS[dtype]}"


def _dtype_text(dtype: int) -> str:
    try:
        return dtype_name(dtype)
    except ValueError:  # an enum value tensorflow's types.proto does not define
        return f"#{dtype} (no such DataType)"


def _dims_text(dims: list[int]) -> str:
    return echo(str(dims))
