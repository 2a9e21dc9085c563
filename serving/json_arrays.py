"""The tensors of a REST `:predict` body as numpy arrays, built where the body is parsed.

TF Serving's JSON tensors are nested lists (docs/serving.md). Turning one into an array is a
C call that holds the GIL (0.45 s for a 30 MB body, measured), so `decode` does it beside the
parse, which for a large body runs in a decoding process (serving/decoding_process.py). A list at
a tensor's place (`instances`, `inputs`, or a named input in either) becomes:

- an array, when numpy reads numbers or booleans from it;
- else a JsonList: the list, and why it is no array (strings and objects, rows of different
  lengths, or booleans among numbers: JSON's true and false are not numbers). String inputs
  take the list; a numeric input names the problem.

Named instances (the row format, an object per example) that share their names become
RowColumns: one tensor per name, stacked as TF Serving stacks them.

Imports only numpy, orjson and json (through serving.json_codec), never TensorFlow or grpc:
the decoding processes import this module.
"""

import itertools
import reprlib
from typing import Any

import numpy as np

from serving import json_codec

RAGGED = "rows of different lengths"
OBJECTS = "strings or objects"
BOOLEANS = "booleans among numbers (JSON true and false are not numbers)"

# A JSON value with fewer objects than this (a string counting one per 64 characters) is shown
# whole, for errors.echo to cut; a larger one by its start (reprlib): repr is one C call, 0.65 s
# on a 30 MB list.
_WHOLE_PREVIEW_OBJECTS = 10_000
_previews = reprlib.Repr()
_previews.maxlevel, _previews.maxlist, _previews.maxdict = 4, 16, 8
_previews.maxstring = _previews.maxother = 300


class JsonList(list):
    """A JSON list at a tensor's place that numpy reads no numbers or booleans from.

    Attributes:
      problem: RAGGED, OBJECTS or BOOLEANS.
    """

    problem = OBJECTS

    @classmethod
    def of(cls, items: list, problem: str) -> "JsonList":
        """`items` marked with `problem`."""
        marked = cls(items)
        marked.problem = problem
        return marked


class RowColumns(dict):
    """Named instances (row format) as one tensor per input name, in the first instance's order.

    Attributes:
      count: the number of instances.
    """

    count = 0


class NotAnObject(json_codec.InvalidJson):
    """The body is JSON, but not an object."""


def _has_boolean(items: list, ndim: int) -> bool:
    flat: Any = items
    for _ in range(ndim - 1):
        flat = itertools.chain.from_iterable(flat)
    return bool in set(map(type, flat))


def tensor(value: Any, booleans_possible: bool = True) -> Any:
    """A JSON value at a tensor's place: a list as an array, or as a JsonList; anything else
    as it is.

    Args:
      value: the JSON value.
      booleans_possible: False when the body has no `true` nor `false`, which spares
        searching the list for them.
    """
    if not isinstance(value, list) or isinstance(value, JsonList):
        return value
    first = value
    while isinstance(first, list) and first:
        first = first[0]
    if isinstance(first, str | dict):  # no number array; spares numpy reading every string
        return JsonList.of(value, OBJECTS)
    try:
        array = np.asarray(value)
    except ValueError:  # ragged, or deeper than numpy's 32 dimensions
        return JsonList.of(value, RAGGED)
    if array.dtype.kind == "b":
        return array
    if array.dtype.kind not in "iuf":
        return JsonList.of(value, OBJECTS)
    if booleans_possible and _has_boolean(value, array.ndim):
        return JsonList.of(value, BOOLEANS)
    return array


def _instances(instances: Any, booleans: bool) -> Any:
    if not isinstance(instances, list) or not instances:
        return instances
    # The row format's rule (rest_tensors.predict_inputs): objects other than {"b64": ...}
    # are named inputs.
    if not all(isinstance(i, dict) and "b64" not in i for i in instances):
        return tensor(instances, booleans)
    names = instances[0].keys()
    if any(i.keys() != names for i in instances):
        return instances  # predict_inputs names the first instance that differs
    columns = RowColumns(
        (name, tensor([i[name] for i in instances], booleans)) for name in list(names)
    )
    columns.count = len(instances)
    return columns


def _inputs(inputs: Any, booleans: bool) -> Any:
    if isinstance(inputs, dict) and "b64" not in inputs:
        return {name: tensor(value, booleans) for name, value in inputs.items()}
    return tensor(inputs, booleans)


def _may_hold_booleans(raw: bytes) -> bool:
    """Whether the body has a `true` or `false`; without one no list holds a boolean, and the
    lists are not scanned for one (40 µs for a 784-number list). Searching a 7 KB body for a
    word costs 9 µs, for a byte (memchr) 0.3: `{"instances": ...}` has no `u` nor `l`."""
    return (b"u" in raw and b"true" in raw) or (b"l" in raw and b"false" in raw)


def decode(raw: bytes) -> dict:
    """A request body, parsed, with the tensors of `instances` and `inputs` made arrays.

    Raises:
      InvalidJson: the body is not JSON, or nests too deep.
      NotAnObject: the body is JSON, but not an object.
    """
    body = json_codec.loads(raw)
    if not isinstance(body, dict):
        raise NotAnObject("the body must be a JSON object")
    if "instances" in body or "inputs" in body:
        booleans = _may_hold_booleans(raw)
        if "instances" in body:
            body["instances"] = _instances(body["instances"], booleans)
        if "inputs" in body:
            body["inputs"] = _inputs(body["inputs"], booleans)
    return body


def _small(value: Any) -> bool:
    budget, pending = _WHOLE_PREVIEW_OBJECTS, [value]
    while pending and budget >= 0:
        item = pending.pop()
        budget -= 1
        if isinstance(item, list | dict):
            budget -= len(item)
            if budget >= 0:
                pending.extend(item.values() if isinstance(item, dict) else item)
        elif isinstance(item, str | bytes):
            budget -= len(item) // 64
    return budget >= 0


def preview(value: Any) -> str:
    """A JSON value or array as text for an error message, to cut with errors.echo: whole
    when small, else its start; either way at a cost bounded by _WHOLE_PREVIEW_OBJECTS."""
    if isinstance(value, np.ndarray):  # numpy shows the corners of a large array
        return np.array2string(value, separator=", ", max_line_width=1 << 30).replace("\n", "")
    return repr(value) if _small(value) else _previews.repr(value)
