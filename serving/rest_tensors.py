"""TF Serving's REST JSON for tensors: `instances` / `inputs` in, `predictions` / `outputs` out.

Follows TF Serving's REST doc: row format (one item per example; an object per item when the
signature has several inputs) or columnar format (one value, or an object of named tensors);
strings may be `{"b64": ...}`; an output whose name ends in `_bytes` is written as b64.
"""

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorflow.core.protobuf import meta_graph_pb2

from serving.errors import InvalidArgument, echo
from serving.signatures import NUMPY_DTYPES, describe

_ACCEPTED_KINDS = {"f": "iuf", "i": "iu", "u": "iu", "b": "b"}


def _decode_strings(value: Any, name: str) -> Any:
    if isinstance(value, list):
        return [_decode_strings(v, name) for v in value]
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise InvalidArgument(
                f"input '{name}': an object value must be {{\"b64\": <base64 string>}}, "
                f"got {echo(value)}"
            )
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error:
            raise InvalidArgument(
                f"input '{name}': {{\"b64\": ...}} is not valid base64: {echo(value['b64'])}"
            ) from None
    if isinstance(value, str):
        return value.encode("utf-8")
    raise InvalidArgument(f"input '{name}' expects strings, got {echo(value)}")


def to_array(value: Any, name: str, info: meta_graph_pb2.TensorInfo) -> np.ndarray:
    """A JSON value as the array the signature's input `name` takes.

    Raises:
      InvalidArgument: the value is ragged, or of a type the input does not take.
    """
    dtype = NUMPY_DTYPES.get(info.dtype)
    if dtype is None:
        raise InvalidArgument(f"input '{name}' has dtype {describe(info)}, which JSON cannot carry")
    if dtype == np.dtype(object):
        decoded = _decode_strings(value, name)
        try:
            array = np.array(decoded, dtype=object)
        except ValueError:
            array = None
        if array is None or any(not isinstance(v, bytes) for v in array.flat):
            raise InvalidArgument(
                f"input '{name}' is not a rectangular array of strings; expected {describe(info)}"
            )
        return array
    try:
        array = np.asarray(value)
    except ValueError:
        raise InvalidArgument(
            f"input '{name}' is not a rectangular array (rows of different lengths); "
            f"expected {describe(info)}"
        ) from None
    if array.dtype.kind not in _ACCEPTED_KINDS[dtype.kind]:
        got = "strings or objects" if array.dtype.kind in "OUS" else f"{array.dtype.name} values"
        raise InvalidArgument(f"input '{name}' expects {describe(info)}, got {got}: {echo(value)}")
    if dtype.kind in "iu" and array.size:
        limits = np.iinfo(dtype)
        if array.min() < limits.min or array.max() > limits.max:
            raise InvalidArgument(
                f"input '{name}' ({describe(info)}) has a value outside "
                f"[{limits.min}, {limits.max}]"
            )
    return array.astype(dtype, copy=False)


def predict_inputs(
    request: Mapping[str, Any], signature: meta_graph_pb2.SignatureDef
) -> tuple[dict[str, np.ndarray], bool]:
    """The input tensors of a `:predict` body, and whether it used the row format.

    Raises:
      InvalidArgument: naming what is missing, unknown or malformed.
    """
    has_instances, has_inputs = "instances" in request, "inputs" in request
    if has_instances == has_inputs:
        raise InvalidArgument(
            "the body must have exactly one of 'instances' (row format) or 'inputs' "
            "(columnar format)"
        )
    unknown = sorted(set(request) - {"instances", "inputs", "signature_name"})
    if unknown:
        raise InvalidArgument(f"unknown key(s) in the body: {echo(', '.join(unknown))}")
    names = list(signature.inputs)
    if has_instances:
        return _row_inputs(request["instances"], signature, names), True
    return _columnar_inputs(request["inputs"], signature, names), False


def _row_inputs(
    instances: Any, signature: meta_graph_pb2.SignatureDef, names: list[str]
) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise InvalidArgument("'instances' must be a non-empty list, one item per example")
    named = all(isinstance(i, dict) and "b64" not in i for i in instances)
    if len(names) == 1 and not named:
        return {names[0]: to_array(instances, names[0], signature.inputs[names[0]])}
    if not named:
        raise InvalidArgument(
            f"the signature has {len(names)} inputs ({', '.join(names)}), so each item of "
            "'instances' must be an object of named inputs"
        )
    columns: dict[str, list[Any]] = {}
    for index, instance in enumerate(instances):
        if set(instance) != set(names):
            raise InvalidArgument(
                f"instance {index} has inputs {sorted(instance)}; the signature takes "
                f"{sorted(names)}"
            )
        for name in names:
            columns.setdefault(name, []).append(instance[name])
    return {
        name: to_array(column, name, signature.inputs[name]) for name, column in columns.items()
    }


def _columnar_inputs(
    inputs: Any, signature: meta_graph_pb2.SignatureDef, names: list[str]
) -> dict[str, np.ndarray]:
    if isinstance(inputs, dict) and "b64" not in inputs:
        unknown = sorted(set(inputs) - set(names))
        if unknown:
            raise InvalidArgument(
                f"unknown input(s) {echo(', '.join(unknown))}; the signature takes "
                f"{', '.join(names)}"
            )
        return {name: to_array(v, name, signature.inputs[name]) for name, v in inputs.items()}
    if len(names) != 1:
        raise InvalidArgument(
            f"the signature has {len(names)} inputs ({', '.join(names)}), so 'inputs' must be "
            "an object of named inputs"
        )
    return {names[0]: to_array(inputs, names[0], signature.inputs[names[0]])}


def _json_value(name: str, array: np.ndarray) -> Any:
    if array.dtype.kind not in "OSU":
        return array
    if name.endswith("_bytes"):
        return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode()}, otypes=[object])(
            array
        ).tolist()
    return np.vectorize(
        lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b), otypes=[object]
    )(array).tolist()


def predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """TF Serving's `{"predictions": ...}` (row format) or `{"outputs": ...}` (columnar).

    Raises:
      InvalidArgument: row format was asked for but the outputs differ in batch size.
    """
    if not row_format:
        if len(outputs) == 1:
            ((name, array),) = outputs.items()
            return {"outputs": _json_value(name, array)}
        return {"outputs": {name: _json_value(name, a) for name, a in outputs.items()}}
    if len(outputs) == 1:
        ((name, array),) = outputs.items()
        return {"predictions": _json_value(name, array)}
    sizes = {a.shape[0] if a.ndim else None for a in outputs.values()}
    if len(sizes) != 1 or None in sizes:
        raise InvalidArgument(
            "the outputs do not share a batch size, so the row format cannot hold them; "
            "send 'inputs' (columnar format) instead"
        )
    values = {name: _json_value(name, a) for name, a in outputs.items()}
    return {
        "predictions": [
            {name: value[i] for name, value in values.items()} for i in range(sizes.pop() or 0)
        ]
    }
