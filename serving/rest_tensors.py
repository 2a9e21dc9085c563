"""TF Serving's REST JSON for tensors: `instances` / `inputs` in, `predictions` / `outputs` out.

Follows TF Serving's REST doc: row format (one item per example; an object per item when the
signature has several inputs) or columnar format (one value, or an object of named tensors);
strings may be `{"b64": ...}`; an output whose name ends in `_bytes` is written as b64. The
body comes decoded by serving/body_decoding.py: its numeric tensors already arrays, the rest
marked (serving/json_arrays.py); a plain parsed body is read the same way, more slowly.
"""

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorflow.core.protobuf import meta_graph_pb2

from serving.errors import InvalidArgument, echo, too_many_examples
from serving.json_arrays import RAGGED, JsonList, RowColumns, preview, tensor
from serving.signatures import NUMPY_DTYPES, describe, shape_dims

_ACCEPTED_KINDS = {"f": "iuf", "i": "iu", "u": "iu", "b": "b"}
# numpy's limit, so a deeper string value is no tensor.
_MAX_DIMS = 32
# A large string tensor is made an array this many strings at a time: numpy does each part in
# one C call, and between parts the interpreter lets the event loop run.
_STRINGS_PER_PART = 20_000


def _decode_strings(value: Any, name: str, depth: int = 0) -> Any:
    if isinstance(value, list):
        if depth == _MAX_DIMS:
            raise InvalidArgument(
                f"input '{name}' nests deeper than a tensor can ({_MAX_DIMS} dimensions)"
            )
        return [_decode_strings(v, name, depth + 1) for v in value]
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise InvalidArgument(
                f"input '{name}': an object value must be {{\"b64\": <base64 string>}}, "
                f"got {echo(preview(value))}"
            )
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:  # binascii.Error, or a string that is not ASCII
            raise InvalidArgument(
                f"input '{name}': {{\"b64\": ...}} is not valid base64: "
                f"{echo(preview(value['b64']))}"
            ) from None
    if isinstance(value, str):
        return value.encode("utf-8")
    raise InvalidArgument(f"input '{name}' expects strings, got {echo(preview(value))}")


def _leaves_per_item(nested: list) -> int:
    count, item = 1, nested[0] if nested else None
    while isinstance(item, list):
        count *= len(item)
        item = item[0] if item else None
    return count


def _object_array(nested: Any) -> np.ndarray | None:
    """Nested lists of bytes as an object array, a part at a time; None when ragged."""
    if not isinstance(nested, list) or len(nested) * _leaves_per_item(nested) <= _STRINGS_PER_PART:
        try:
            return np.array(nested, dtype=object)
        except ValueError:
            return None
    per_item = _leaves_per_item(nested)
    if per_item > _STRINGS_PER_PART:
        rows = [_object_array(item) for item in nested]
        parts = [None if row is None else row[np.newaxis] for row in rows]
    else:
        step = _STRINGS_PER_PART // per_item
        parts = [_object_array(nested[i : i + step]) for i in range(0, len(nested), step)]
    arrays = [part for part in parts if part is not None]
    if len(arrays) != len(parts) or len({a.shape[1:] for a in arrays}) != 1:
        return None
    return np.concatenate(arrays)


def _strings(value: Any, name: str, info: meta_graph_pb2.TensorInfo) -> np.ndarray:
    if isinstance(value, np.ndarray):
        raise InvalidArgument(
            f"input '{name}' expects {describe(info)}, got {value.dtype.name} values: "
            f"{echo(preview(value))}"
        )
    array = _object_array(_decode_strings(value, name))
    if array is None or any(not isinstance(v, bytes) for v in array.flat):
        raise InvalidArgument(
            f"input '{name}' is not a rectangular array of strings; expected {describe(info)}"
        )
    return array


def _integers_outside(array: np.ndarray, limits: np.iinfo) -> bool:
    """Whether floats that are all integers fall outside `limits`: orjson reads an integer
    beyond 64 bits as a float, and numpy mixes an int64 with a uint64 as floats.

    Python compares them exactly. A float of exactly -2**63 counts as outside int64: it is
    what integers down to 1,024 below int64's minimum round to, while the minimum itself
    comes as an int.
    """
    if not (np.isfinite(array).all() and (np.trunc(array) == array).all()):
        return False
    low, high = float(array.min()), float(array.max())
    return low < limits.min or high > limits.max or (limits.bits == 64 and low == limits.min)


def to_array(value: Any, name: str, info: meta_graph_pb2.TensorInfo) -> np.ndarray:
    """A JSON value (as json_arrays.decode leaves it) as the array the input `name` takes.

    Raises:
      InvalidArgument: the value is ragged, of a type the input does not take (JSON's
        booleans are not numbers), or holds integers outside the input's range.
    """
    dtype = NUMPY_DTYPES.get(info.dtype)
    if dtype is None:
        raise InvalidArgument(f"input '{name}' has dtype {describe(info)}, which JSON cannot carry")
    if dtype == np.dtype(object):
        return _strings(value, name, info)
    value = tensor(value)  # a no-op on a decoded body
    if isinstance(value, JsonList):
        if value.problem == RAGGED:
            raise InvalidArgument(
                f"input '{name}' is not a rectangular array (rows of different lengths); "
                f"expected {describe(info)}"
            )
        raise InvalidArgument(
            f"input '{name}' expects {describe(info)}, got {value.problem}: {echo(preview(value))}"
        )
    array = np.asarray(value)
    limits = np.iinfo(dtype) if dtype.kind in "iu" else None
    if (
        limits is not None
        and array.dtype.kind == "f"
        and array.size
        and _integers_outside(array, limits)
    ):
        raise _outside(name, info, limits)
    if array.dtype.kind not in _ACCEPTED_KINDS[dtype.kind]:
        got = "strings or objects" if array.dtype.kind in "OUS" else f"{array.dtype.name} values"
        raise InvalidArgument(
            f"input '{name}' expects {describe(info)}, got {got}: {echo(preview(value))}"
        )
    if (
        limits is not None
        and array.size
        and (int(array.min()) < limits.min or int(array.max()) > limits.max)
    ):
        raise _outside(name, info, limits)
    return array.astype(dtype, copy=False)


def _outside(name: str, info: meta_graph_pb2.TensorInfo, limits: np.iinfo) -> InvalidArgument:
    return InvalidArgument(
        f"input '{name}' ({describe(info)}) has a value outside [{limits.min}, {limits.max}]"
    )


def _count(value: Any) -> int | None:
    if isinstance(value, RowColumns):
        return value.count
    if isinstance(value, np.ndarray):
        return value.shape[0] if value.ndim else None
    return len(value) if isinstance(value, list) else None


def _check_count(count: int | None, max_instances: int, what: str) -> None:
    if count is not None and count > max_instances:
        raise too_many_examples(count, max_instances, what)


def predict_inputs(
    request: Mapping[str, Any], signature: meta_graph_pb2.SignatureDef, max_instances: int
) -> tuple[dict[str, np.ndarray], bool]:
    """The input tensors of a `:predict` body, and whether it used the row format.

    The number of examples is checked against `max_instances` before any tensor is made.

    Raises:
      InvalidArgument: naming what is missing, unknown, malformed or too many.
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
        return _row_inputs(request["instances"], signature, names, max_instances), True
    return _columnar_inputs(request["inputs"], signature, names, max_instances), False


def _named_mismatch(index: int, given: Any, names: list[str]) -> InvalidArgument:
    return InvalidArgument(
        f"instance {index} has inputs {echo(preview(sorted(given)))}; the signature takes "
        f"{sorted(names)}"
    )


def _row_inputs(
    instances: Any, signature: meta_graph_pb2.SignatureDef, names: list[str], max_instances: int
) -> dict[str, np.ndarray]:
    if isinstance(instances, RowColumns):
        _check_count(instances.count, max_instances, "the request has")
        if set(instances) != set(names):
            raise _named_mismatch(0, instances, names)
        return {name: to_array(instances[name], name, signature.inputs[name]) for name in names}
    if not isinstance(instances, list | np.ndarray) or not len(instances):
        raise InvalidArgument("'instances' must be a non-empty list, one item per example")
    _check_count(_count(instances), max_instances, "the request has")
    named = not isinstance(instances, np.ndarray | JsonList) and all(
        isinstance(i, dict) and "b64" not in i for i in instances
    )
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
            raise _named_mismatch(index, instance, names)
        for name in names:
            columns.setdefault(name, []).append(instance[name])
    return {
        name: to_array(column, name, signature.inputs[name]) for name, column in columns.items()
    }


def _columnar_inputs(
    inputs: Any, signature: meta_graph_pb2.SignatureDef, names: list[str], max_instances: int
) -> dict[str, np.ndarray]:
    if isinstance(inputs, dict) and "b64" not in inputs:
        unknown = sorted(set(inputs) - set(names))
        if unknown:
            raise InvalidArgument(
                f"unknown input(s) {echo(', '.join(unknown))}; the signature takes "
                f"{', '.join(names)}"
            )
        given = inputs
    elif len(names) != 1:
        raise InvalidArgument(
            f"the signature has {len(names)} inputs ({', '.join(names)}), so 'inputs' must be "
            "an object of named inputs"
        )
    else:
        given = {names[0]: inputs}
    for name, value in given.items():
        dims = shape_dims(signature.inputs[name].tensor_shape)
        if dims and dims[0] == -1:  # the batch dimension
            _check_count(_count(value), max_instances, f"input '{name}' has")
    return {name: to_array(v, name, signature.inputs[name]) for name, v in given.items()}


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
