"""An optional bearer token (`dlwp serve --auth-token-file FILE`) for a server reached from
outside its cluster: every REST route but the probes, and every gRPC call, must carry
`authorization: Bearer <token>` (docs/serving.md, "Authentication"). Compared in constant time.
"""

import hmac

import grpc
import orjson

from serving.errors import StartupError, Unauthenticated

# Kubernetes' probes carry no token.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def read_token(path: str) -> bytes:
    """The token in `path` (surrounding whitespace dropped).

    Raises:
      StartupError: the file cannot be read, or holds no token.
    """
    try:
        with open(path, "rb") as file:
            token = file.read().strip()
    except OSError as error:
        raise StartupError(
            f"cannot read --auth-token-file {path}: {error.strerror}; give a readable file "
            "that holds the token"
        ) from None
    if not token:
        raise StartupError(f"--auth-token-file {path} is empty; write the token in it")
    return token


def _authorized(header: bytes | None, token: bytes) -> bool:
    return header is not None and hmac.compare_digest(header, b"Bearer " + token)


_REFUSED = Unauthenticated(
    "this server needs 'authorization: Bearer <token>' (dlwp serve --auth-token-file)"
)


class BearerTokenMiddleware:
    """ASGI middleware: 401 `{"error": ...}` for a request without the token."""

    def __init__(self, app, token: bytes):
        self.app, self._token = app, token
        self._refusal = orjson.dumps({"error": _REFUSED.message})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if _authorized(header, self._token):
            return await self.app(scope, receive, send)
        await send(
            {
                "type": "http.response.start",
                "status": _REFUSED.http_status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._refusal})


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """gRPC: UNAUTHENTICATED for a call without the token in its metadata."""

    def __init__(self, token: bytes):
        self._token = token

        def refuse(request, context):
            context.abort(_REFUSED.grpc_code, _REFUSED.message)

        self._refusal = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation, handler_call_details):
        header = dict(handler_call_details.invocation_metadata).get("authorization")
        encoded = header.encode() if isinstance(header, str) else header
        if _authorized(encoded, self._token):
            return continuation(handler_call_details)
        return self._refusal
