"""JSON in and out of the REST API, fast and with TF Serving's extensions.

orjson does the work. TF Serving also accepts and prints the `NaN`, `Infinity` and `-Infinity`
tokens, which strict JSON (and orjson) refuses; the standard library reads and writes them, so
it takes over only when those tokens are present, reading numbers as orjson does.

This module imports only orjson, numpy and json: the body-decoding processes import it
(serving/body_decoding.py), and they must not load TensorFlow or grpc.
"""

import json
from typing import Any

import numpy as np
import orjson

# orjson's own nesting limit; deeper bodies are refused before any work is done on them.
MAX_JSON_DEPTH = 1024
_NON_FINITE_TOKENS = (b"NaN", b"Infinity")
# orjson reads an integer as an int when it fits int64 or uint64, else as a float.
_INT_MIN, _INT_END = -(2**63), 2**64


class InvalidJson(ValueError):
    """The body is not JSON, or nests deeper than MAX_JSON_DEPTH (a 400 for the REST API)."""


def _json_int(text: str) -> int | float:
    value = int(text)  # more than 4,300 digits: ValueError, as Python limits them
    if _INT_MIN <= value < _INT_END:
        return value
    try:
        return float(value)
    except OverflowError:
        raise ValueError("number is infinity when parsed as double") from None


def loads(body: bytes) -> Any:
    """Parses a request body.

    Raises:
      InvalidJson: the body is not JSON, or nests deeper than MAX_JSON_DEPTH.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error):
            raise InvalidJson(
                f"JSON nests deeper than {MAX_JSON_DEPTH} levels; the request is refused"
            ) from None
        if not any(token in body for token in _NON_FINITE_TOKENS):
            raise InvalidJson(f"the body is not valid JSON: {error}") from None
    try:
        return json.loads(body, parse_int=_json_int)
    except RecursionError:
        raise InvalidJson(
            f"JSON nests deeper than {MAX_JSON_DEPTH} levels; the request is refused"
        ) from None
    except ValueError as error:
        raise InvalidJson(f"the body is not valid JSON: {error}") from None


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f" and not np.isfinite(value).all()
    if isinstance(value, float | np.floating):
        return not np.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """Serializes a response; numpy arrays are written directly, non-finite floats as tokens."""
    if _has_non_finite(value):
        return json.dumps(_plain(value), allow_nan=True).encode()
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
