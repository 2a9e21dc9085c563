"""Serving errors: one class per TF Serving status, mapped to HTTP and gRPC in one place.

TF Serving answers REST errors as `{"error": msg}` with the HTTP status its gRPC code maps to
(`tensorflow_serving/model_servers/http_rest_api_util.cc`); each class below names both.
"""

import grpc

# Echoed user input is cut to this many bytes, so an error never mirrors a huge body back.
ECHO_LIMIT_BYTES = 256


def echo(value: object) -> str:
    """`value` as text, cut to ECHO_LIMIT_BYTES for an error message."""
    text = value if isinstance(value, str) else repr(value)
    data = text.encode("utf-8", "replace")
    if len(data) <= ECHO_LIMIT_BYTES:
        return text
    return data[:ECHO_LIMIT_BYTES].decode("utf-8", "ignore") + f"... ({len(data)} bytes)"


class StartupError(Exception):
    """The server cannot start as configured (bad model config, port in use); exit 2."""


class ServeSettingsError(StartupError, ValueError):
    """A serving setting is out of range (a bad `dlwp serve` flag); names the flag and value."""


class ServingError(Exception):
    """Base class: a request failed with a TF Serving status code."""

    http_status = 500
    grpc_code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(ServingError):
    """400 / INVALID_ARGUMENT: the request is malformed or does not fit the signature."""

    http_status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServingError):
    """404 / NOT_FOUND: no such model, version or label."""

    http_status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServingError):
    """400 / FAILED_PRECONDITION: the model cannot answer this kind of request."""

    http_status = 400
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class PayloadTooLarge(InvalidArgument):
    """413: the body is larger than the server accepts (REST only; gRPC has its own limit)."""

    http_status = 413


class ResourceExhausted(ServingError):
    """429 / RESOURCE_EXHAUSTED: too many requests in flight, or the batch queue is full."""

    http_status = 429
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(ServingError):
    """504 / DEADLINE_EXCEEDED: the request did not finish within its deadline."""

    http_status = 504
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unauthenticated(ServingError):
    """401 / UNAUTHENTICATED: `--auth-token-file` is set and the request's bearer token is
    missing or wrong."""

    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class RequestTimeout(ServingError):
    """408 / DEADLINE_EXCEEDED: the client did not send its headers or body in time (REST)."""

    http_status = 408
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(ServingError):
    """499 / CANCELLED: the client went away (closed the connection, cancelled the RPC) before
    the answer; nobody reads the status, it is counted (nginx's 499 names this case)."""

    http_status = 499
    grpc_code = grpc.StatusCode.CANCELLED


class Unavailable(ServingError):
    """503 / UNAVAILABLE: the server is shutting down, or the backend cannot be reached."""

    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE


class Unimplemented(ServingError):
    """501 / UNIMPLEMENTED."""

    http_status = 501
    grpc_code = grpc.StatusCode.UNIMPLEMENTED


_BY_GRPC_CODE = {
    cls.grpc_code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        ResourceExhausted,
        DeadlineExceeded,
        Unavailable,
        Unimplemented,
    )
}


def from_grpc_code(code: grpc.StatusCode, message: str) -> ServingError:
    """The ServingError for a status a TF Serving backend answered with."""
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(message)
    return _BY_GRPC_CODE.get(code, ServingError)(message)


def too_many_examples(count: int, limit: int, what: str = "the request has") -> InvalidArgument:
    """The error for a request (or an input: `what`) of `count` examples, over
    `--max-batch-instances` `limit`; REST and gRPC refuse it alike."""
    return InvalidArgument(
        f"{what} {count} examples, more than --max-batch-instances {limit}; split it"
    )


# tf.errors.OpError.error_code values (TF's error codes are gRPC's).
_TF_INVALID_ARGUMENT = 3


def model_error(error: Exception) -> ServingError:
    """A model call's exception as a ServingError: TF's INVALID_ARGUMENT is the request's
    fault (400); anything else is the server's (500)."""
    message = f"{type(error).__name__}: {echo(_tf_message(str(error)))}"
    if getattr(error, "error_code", None) == _TF_INVALID_ARGUMENT:
        return InvalidArgument(message)
    return ServingError(message)


_TF_BOILERPLATE = ("Graph execution error", "Detected at node", "<stack traces unavailable>")


def _tf_message(message: str) -> str:
    """The informative lines of a TF runtime error, with a hint for a common JSON mistake."""
    lines = [
        line.strip()
        for line in message.splitlines()
        if line.strip()
        and not line.strip().startswith(_TF_BOILERPLATE)
        and not line.strip().startswith("[[")
    ]
    text = " ".join(lines) or message
    if "Data types don't match" in text and "expected type: float" in text:
        text += " (write float features with a decimal point, e.g. 1.0, in JSON examples)"
    return text
