"""What a SignatureDef says about its tensors: names, dtypes and shapes, and checks against them.

Both backends describe a model version by TF Serving's `SignatureDef` protos (read from
`saved_model.pb`, or from a TF Serving's GetModelMetadata), so the REST and gRPC front ends
validate requests the same way whatever runs the model.
"""

from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from contract.signatures import SERVING_DEFAULT
from serving.errors import FailedPrecondition, InvalidArgument, echo

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

# The tensor types a request may carry (TF Serving's JSON and TensorProto forms), as numpy
# dtypes; strings are numpy objects (bytes).
SERVABLE_DTYPES = (
    types_pb2.DT_FLOAT,
    types_pb2.DT_DOUBLE,
    types_pb2.DT_HALF,
    types_pb2.DT_INT8,
    types_pb2.DT_INT16,
    types_pb2.DT_INT32,
    types_pb2.DT_INT64,
    types_pb2.DT_UINT8,
    types_pb2.DT_UINT16,
    types_pb2.DT_UINT32,
    types_pb2.DT_UINT64,
    types_pb2.DT_BOOL,
    types_pb2.DT_STRING,
)
NUMPY_DTYPES: dict[int, np.dtype] = {
    dtype: np.dtype(tf.dtypes.as_dtype(dtype).as_numpy_dtype) for dtype in SERVABLE_DTYPES
}


def dtype_name(dtype: int) -> str:
    """`DT_FLOAT` for types_pb2.DT_FLOAT."""
    return types_pb2.DataType.Name(dtype)


def shape_dims(shape: tensor_shape_pb2.TensorShapeProto) -> list[int] | None:
    """The dims of a shape (-1 for unknown), or None when the rank is unknown."""
    if shape.unknown_rank:
        return None
    return [dim.size for dim in shape.dim]


def describe(info: meta_graph_pb2.TensorInfo) -> str:
    """`DT_INT64 [-1, 784]`: how an error message names what a tensor must be."""
    dims = shape_dims(info.tensor_shape)
    return f"{dtype_name(info.dtype)} {'[any shape]' if dims is None else dims}"


def find_signature(
    signature_defs: Mapping[str, meta_graph_pb2.SignatureDef], name: str | None
) -> tuple[str, meta_graph_pb2.SignatureDef]:
    """The signature `name` (default `serving_default`).

    Raises:
      InvalidArgument: the model has no such signature (TF Serving's status for this).
    """
    name = name or SERVING_DEFAULT
    if name not in signature_defs:
        raise InvalidArgument(
            f'Serving signature name: "{echo(name)}" not found in signature def; '
            f"the model has: {', '.join(sorted(signature_defs))}"
        )
    return name, signature_defs[name]


def check_inputs(
    signature_name: str,
    signature: meta_graph_pb2.SignatureDef,
    inputs: Mapping[str, np.ndarray],
) -> None:
    """Checks that `inputs` are exactly the signature's inputs, with its dtypes and shapes.

    Raises:
      InvalidArgument: naming the input, what the signature expects and what came.
    """
    expected = signature.inputs
    missing = sorted(set(expected) - set(inputs))
    extra = sorted(set(inputs) - set(expected))
    if missing or extra:
        wanted = ", ".join(f"{k} ({describe(v)})" for k, v in sorted(expected.items()))
        problems = []
        if missing:
            problems.append(f"missing input(s): {', '.join(missing)}")
        if extra:
            problems.append(f"unknown input(s): {', '.join(extra)}")
        raise InvalidArgument(
            f'{"; ".join(problems)}; signature "{signature_name}" takes: {wanted}'
        )
    for name, value in inputs.items():
        info = expected[name]
        want = NUMPY_DTYPES.get(info.dtype)
        if (
            want is not None
            and value.dtype != want
            and not (want == np.dtype(object) and value.dtype.kind in "OSU")
        ):
            raise InvalidArgument(
                f"input '{name}' expects {describe(info)}, got {value.dtype.name} "
                f"with shape {list(value.shape)}"
            )
        dims = shape_dims(info.tensor_shape)
        if dims is None:
            continue
        if len(dims) != value.ndim or any(
            d not in (-1, got) for d, got in zip(dims, value.shape, strict=True)
        ):
            raise InvalidArgument(
                f"input '{name}' expects shape {dims} ({dtype_name(info.dtype)}), "
                f"got shape {list(value.shape)}"
            )


def takes_examples(signature: meta_graph_pb2.SignatureDef) -> bool:
    """True when the signature's only input is a string tensor (serialized tf.Examples)."""
    return len(signature.inputs) == 1 and next(iter(signature.inputs.values())).dtype == (
        types_pb2.DT_STRING
    )


def example_signature(
    signature_defs: Mapping[str, meta_graph_pb2.SignatureDef], name: str | None, method: str
) -> tuple[str, meta_graph_pb2.SignatureDef]:
    """The signature a classify/regress request runs on.

    A named signature must take serialized tf.Examples. Without a name, `serving_default` is used
    when it takes examples (TF Serving's rule); otherwise the model's signature with TF
    Serving's `method` name, else its one predict signature that takes examples (dlwp's models
    export `from_examples`, since Keras 3 / TF2 SavedModels cannot set method names).

    Raises:
      InvalidArgument: the named signature is unknown or does not take examples.
      FailedPrecondition: the model has no signature that takes examples.
    """
    if name:
        name, signature = find_signature(signature_defs, name)
        if not takes_examples(signature):
            raise InvalidArgument(
                f'signature "{name}" does not take serialized tf.Examples (its inputs: '
                f"{', '.join(signature.inputs)}); use :predict for it"
            )
        return name, signature
    default = signature_defs.get(SERVING_DEFAULT)
    if default is not None and takes_examples(default):
        return SERVING_DEFAULT, default
    candidates = sorted(k for k, v in signature_defs.items() if takes_examples(v))
    by_method = [k for k in candidates if signature_defs[k].method_name == method]
    chosen = by_method or candidates
    if not chosen:
        raise FailedPrecondition(
            "the model has no signature that takes serialized tf.Examples, so it cannot "
            f"{method.rsplit('/', 1)[-1]}; use :predict"
        )
    return chosen[0], signature_defs[chosen[0]]
