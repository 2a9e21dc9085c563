"""Classify and regress: requests as tf.Examples, results as TF Serving shapes them.

A request carries examples (REST: JSON objects plus a shared `context`; gRPC: an `Input` proto).
They are serialized and fed to a signature that takes tf.Examples; its outputs become
`[[label, score], ...]` per example (classify) or one value per example (regress).
"""

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import input_pb2

from serving.errors import FailedPrecondition, InvalidArgument, echo, too_many_examples
from serving.json_arrays import preview
from serving.signatures import example_signature

_INT64 = np.iinfo(np.int64)


def _feature(name: str, value: Any) -> feature_pb2.Feature:
    values = value if isinstance(value, list) else [value]
    feature = feature_pb2.Feature()
    if not values:
        return feature
    types = set(map(type, values))  # one pass at C speed, where all() would loop in Python
    if bool in types:  # JSON's true and false: bool is a subclass of int
        raise InvalidArgument(
            f"feature '{echo(name)}': booleans have no tf.Example type; use 0 or 1"
        )
    if types == {int}:
        try:
            feature.int64_list.value.extend(values)
        except ValueError:  # protobuf refuses ints beyond int64
            raise InvalidArgument(
                f"feature '{echo(name)}' (int64) has a value outside [{_INT64.min}, {_INT64.max}]"
            ) from None
    elif types <= {int, float}:
        feature.float_list.value.extend(values)
    elif types <= {str, dict}:
        feature.bytes_list.value.extend(_bytes(name, v) for v in values)
    else:
        raise InvalidArgument(
            f"feature '{echo(name)}' must be numbers or strings (one type per feature), got "
            f"{echo(preview(value))}"
        )
    return feature


def _bytes(name: str, value: str | dict) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if set(value) != {"b64"} or not isinstance(value["b64"], str):
        raise InvalidArgument(f"feature '{echo(name)}': objects must be {{\"b64\": ...}}")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except ValueError:  # binascii.Error, or a string that is not ASCII
        raise InvalidArgument(
            f"feature '{echo(name)}': invalid base64 {echo(preview(value['b64']))}"
        ) from None


def examples_from_json(request: Mapping[str, Any], max_examples: int) -> list[bytes]:
    """Serialized tf.Examples of a REST classify/regress body (`examples` + `context`).

    A Python loop over the examples: for a large body, call it in a thread
    (JsonBodyDecoder.run).

    Raises:
      InvalidArgument: naming the malformed part.
    """
    unknown = sorted(set(request) - {"examples", "context", "signature_name"})
    if unknown:
        raise InvalidArgument(f"unknown key(s) in the body: {echo(', '.join(unknown))}")
    examples = request.get("examples")
    if not isinstance(examples, list) or not examples:
        raise InvalidArgument("'examples' must be a non-empty list of objects (feature: value)")
    if len(examples) > max_examples:
        raise too_many_examples(len(examples), max_examples)
    context = request.get("context", {})
    if not isinstance(context, dict):
        raise InvalidArgument("'context' must be an object (feature: value)")
    serialized = []
    for index, features in enumerate(examples):
        if not isinstance(features, dict):
            raise InvalidArgument(f"example {index} is not an object: {echo(preview(features))}")
        both = sorted(set(features) & set(context))
        if both:
            raise InvalidArgument(
                f"feature(s) {echo(', '.join(both))} appear in both 'context' and example {index}"
            )
        example = example_pb2.Example()
        for name, value in {**context, **features}.items():
            example.features.feature[name].CopyFrom(_feature(name, value))
        serialized.append(example.SerializeToString())
    return serialized


def examples_from_input(request_input: input_pb2.Input) -> list[bytes]:
    """Serialized tf.Examples of a gRPC `Input` (example list, or with a shared context)."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples = list(request_input.example_list.examples)
    elif kind == "example_list_with_context":
        with_context = request_input.example_list_with_context
        examples = []
        for example in with_context.examples:
            merged = example_pb2.Example()
            merged.CopyFrom(with_context.context)
            merged.MergeFrom(example)
            examples.append(merged)
    else:
        raise InvalidArgument("the request's input has no examples")
    if not examples:
        raise InvalidArgument("the request's input has no examples")
    return [example.SerializeToString() for example in examples]


def classifications(outputs: Mapping[str, np.ndarray], count: int) -> list[list[tuple[str, float]]]:
    """`[[label, score], ...]` per example.

    A classify signature's `classes` (string [n, classes]) are zipped with its `scores`, as TF
    Serving does; a binary dlwp model's one score (of class 1, the second name) is split into
    the scores of both classes. Without `classes`, a dlwp model's `scores` (class
    probabilities, or of class 1 for a binary model) are labelled by class index.

    Raises:
      FailedPrecondition: the signature has no `scores` output, or its `classes` do not pair
        with its scores.
    """
    if "scores" not in outputs:
        raise FailedPrecondition(
            f"the signature has no 'scores' output (it has {', '.join(outputs)}); "
            "it cannot classify"
        )
    scores = np.asarray(outputs["scores"], dtype=np.float64).reshape(count, -1)
    labels: list[list[str]] | None = None
    if "classes" in outputs:
        classes = np.asarray(outputs["classes"]).reshape(count, -1)
        labels = [[c.decode() if isinstance(c, bytes) else str(c) for c in row] for row in classes]
        width = classes.shape[1]
    else:
        width = 2 if scores.shape[1] == 1 else scores.shape[1]
    if scores.shape[1] == 1 and width == 2:  # a binary model's probability of class 1
        scores = np.concatenate([1.0 - scores, scores], axis=1)
    if labels is None:
        labels = [[str(k) for k in range(width)]] * count
    if width != scores.shape[1]:
        raise FailedPrecondition(
            f"the signature's 'classes' has {width} per example but 'scores' has "
            f"{scores.shape[1]}; classify needs one class name per score"
        )
    return [
        list(zip(row_labels, row.tolist(), strict=True))
        for row_labels, row in zip(labels, scores, strict=True)
    ]


def regressions(outputs: Mapping[str, np.ndarray], count: int) -> list[float]:
    """One value per example: `outputs` (a regress signature), `predictions`, or the only output.

    Raises:
      FailedPrecondition: no output holds one value per example.
    """
    for name in ("outputs", "predictions"):
        if name in outputs:
            break
    else:
        if len(outputs) != 1:
            raise FailedPrecondition(
                f"the signature has no 'outputs' or 'predictions' output (it has "
                f"{', '.join(outputs)}); it cannot regress"
            )
        name = next(iter(outputs))
    values = np.asarray(outputs[name], dtype=np.float64)
    if values.size != count:
        raise FailedPrecondition(
            f"output '{name}' has {values.size} values for {count} examples; regress needs one"
        )
    return values.reshape(count).tolist()


def example_inputs(
    signature_defs: Mapping[str, meta_graph_pb2.SignatureDef],
    signature_name: str | None,
    method: str,
    serialized: list[bytes],
) -> tuple[str, dict[str, np.ndarray]]:
    """The signature a classify/regress request runs on, and its input tensor."""
    name, signature = example_signature(signature_defs, signature_name, method)
    return name, {next(iter(signature.inputs)): np.array(serialized, dtype=object)}
