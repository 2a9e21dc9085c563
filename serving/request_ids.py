"""Request ids: every predict, classify and regress request carries one, so a prediction can be
found again later (its feedback label, its row in the feedback log: docs/serving.md, "Request
ids and the traffic split").

The client names its request with the `X-Request-Id` header (gRPC: `x-request-id` invocation
metadata) or the server makes one (`uuid4().hex`); the answer carries it back, with the version
that answered (`X-Model-Version`) and, when `--split` chose it, the arm (`X-Split-Arm`). gRPC
sends those as trailing metadata. Bodies stay TF Serving's.

    trace = Trace(request_id(request.headers.get(REQUEST_ID_HEADER)))
    target.submit(signature_name, inputs, trace=trace)   # the observers see it
"""

import dataclasses
import re
import uuid

from serving.errors import InvalidArgument, echo

# Header and metadata names, lower case: HTTP headers are case-insensitive, and gRPC metadata
# keys must be lower case.
REQUEST_ID_HEADER = "x-request-id"
MODEL_VERSION_HEADER = "x-model-version"
SPLIT_ARM_HEADER = "x-split-arm"
SPLIT_KEY_HEADER = "x-split-key"

MAX_REQUEST_ID_CHARS = 128
# What fits a log line, a URL and a SQLite key unquoted: no spaces, quotes, commas or controls.
_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:@/+=~-]{{1,{MAX_REQUEST_ID_CHARS}}}")


@dataclasses.dataclass(frozen=True)
class Trace:
    """What follows a request to its observers (the feedback log, serving/feedback.py).

    Attributes:
      request_id: the client's X-Request-Id, or a new uuid4().hex.
      arm: the version label `--split` routed the request to, or "" when it was not split.
    """

    request_id: str
    arm: str = ""


def new_request_id() -> str:
    """A fresh request id: 32 hex digits (uuid4)."""
    return uuid.uuid4().hex


def request_id(header_value: str | None) -> str:
    """The client's request id, checked, or a new one when the client sent none.

    Raises:
      InvalidArgument: the value is empty, longer than 128 characters, or holds a character
        outside `A-Z a-z 0-9 . _ : @ / + = ~ -`; the message names the header.
    """
    if header_value is None:
        return new_request_id()
    if _REQUEST_ID.fullmatch(header_value) is None:
        raise InvalidArgument(
            f"the X-Request-Id header {echo(repr(header_value))} is not a request id: send 1 to "
            f"{MAX_REQUEST_ID_CHARS} characters of A-Z a-z 0-9 . _ : @ / + = ~ -, or leave the "
            "header out and the server makes one"
        )
    return header_value
