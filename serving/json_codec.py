"""JSON in and out of the REST API, fast and with TF Serving's extensions.

orjson does the work. TF Serving also accepts and prints the `NaN`, `Infinity` and `-Infinity`
tokens, which strict JSON (and orjson) refuses; the standard library reads and writes them, so
it takes over only when those tokens are present.
"""

import json
from typing import Any

import numpy as np
import orjson

from serving.errors import InvalidArgument, echo

# orjson's own nesting limit; deeper bodies are refused before any work is done on them.
MAX_JSON_DEPTH = 1024
_NON_FINITE_TOKENS = (b"NaN", b"Infinity")


def loads(body: bytes) -> Any:
    """Parses a request body.

    Raises:
      InvalidArgument: the body is not JSON, or nests deeper than MAX_JSON_DEPTH.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error):
            raise InvalidArgument(
                f"JSON nests deeper than {MAX_JSON_DEPTH} levels; the request is refused"
            ) from None
        if not any(token in body for token in _NON_FINITE_TOKENS):
            raise InvalidArgument(f"the body is not valid JSON: {error}") from None
    try:
        return json.loads(body)
    except RecursionError:
        raise InvalidArgument(
            f"JSON nests deeper than {MAX_JSON_DEPTH} levels; the request is refused"
        ) from None
    except ValueError as error:
        raise InvalidArgument(f"the body is not valid JSON: {echo(str(error))}") from None


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
