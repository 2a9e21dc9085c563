"""The REST port's connections: uvicorn's httptools protocol with the connection limits of
docs/serving.md ("Limits"), so slow, silent and surplus clients cannot hold the server.

    header timeout  a request's headers must be complete `--header-timeout-s` after the
                    connection opened (first request) or after its first byte (later ones): 408
    body timeout    a body still incomplete `--body-timeout-s` after its headers: 408 and
                    closed (also for routes that answer without reading their body); the app
                    sees a disconnect and `ConnectionEvents.body_timed_out`
    idle timeout    a keep-alive connection without a new request for `--idle-timeout-s` is
                    closed; stray bytes between requests do not restart the clock
    header size     headers over `MAX_HEADER_BYTES` are answered 431: httptools has no limit
                    and joins a long header's pieces one by one (one client sending a header
                    at full speed held 130 MB and slowed /healthz from 2 to 57 ms, median)
    connections     one over `--max-connections` is answered 503 before it reaches the app

A request that arrives in one piece arms no timer: a phase is noted in each parser callback and
a timer is armed only when a read ends with the headers or the body still incomplete.

The app learns about its connection through `scope["extensions"][CONNECTION_EVENTS]`: whether
the body timed out, and a callback when the connection closes, so that a handler can stop
waiting for a model call whose client left without a task of its own watching `receive()`.
"""

import asyncio
import http

from prometheus_client import Counter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from serving import json_codec
from serving.metrics import ServingMetrics
from serving.settings import RestLimits

# How long a refused connection stays half-closed so that its answer is read rather than reset
# (closing a socket with unread input sends RST, which can destroy the answer in flight).
_REFUSED_LINGER_S = 1.0

# nginx's default (large_client_header_buffers) is 32 KiB; twice that leaves room for big
# cookies and tokens.
MAX_HEADER_BYTES = 64 * 1024

_HEADERS, _BODY = "headers", "body"
CLOSE_REASONS = ("header_timeout", "body_timeout", "idle", "limit", "headers_too_large")
CONNECTION_EVENTS = "dlwp.connection_events"


class ConnectionEvents:
    """What one request's connection tells the app (in the ASGI scope's extensions).

    Usage (a handler):
        events = request.scope["extensions"][CONNECTION_EVENTS]
        events.on_close(waiter.cancel)   # called on the loop when the connection closes
    """

    def __init__(self) -> None:
        self.body_timed_out = False
        self.closed = False
        self._on_close: list = []

    def on_close(self, callback) -> None:
        """Calls `callback()` when the connection closes (at once if it has)."""
        if self.closed:
            callback()
        else:
            self._on_close.append(callback)

    def close(self) -> None:
        """The connection closed: runs the callbacks."""
        self.closed = True
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback()


def error_response(status: int, message: str, default_headers=()) -> bytes:
    """A complete HTTP/1.1 answer `{"error": message}` (TF Serving's error shape) that closes
    the connection, for the protocol to write without the app."""
    body = json_codec.dumps({"error": message})
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode()]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class _RefusedConnection(asyncio.Protocol):
    """A connection over the limit once its 503 is written: reads and drops what the client
    sends until the client closes, or `_REFUSED_LINGER_S` has passed."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._timer = loop.call_later(_REFUSED_LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> None:
        return None  # asyncio then closes the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._timer.cancel()


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header, body and idle timeouts and the connection
    limit. Build the class for a server with `guarded_http_protocol(limits, metrics)`."""

    limits = RestLimits()
    closed: dict[str, Counter] = {}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._phase: str | None = _HEADERS
        self._timer: asyncio.TimerHandle | None = None
        # Header bytes read so far; None while the next request began inside the last read.
        self._header_bytes: int | None = 0
        self._events: ConnectionEvents | None = None

    # The connection.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.server_state.connections) >= self.limits.max_connections:
            self._refuse(transport)
            return
        super().connection_made(transport)
        self._arm()  # a client that sends nothing is cut too

    def _refuse(self, transport: asyncio.Transport) -> None:
        self.closed["limit"].inc()
        transport.write(
            error_response(
                503,
                f"{len(self.server_state.connections)} connections are open, the limit is "
                f"{self.limits.max_connections} (--max-connections); retry later",
                self.server_state.default_headers,
            )
        )
        if transport.can_write_eof():
            transport.write_eof()
        transport.set_protocol(_RefusedConnection(transport, self.loop))

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super()._unset_keepalive_if_required()
        super().connection_lost(exc)
        if self._events is not None:
            self._events.close()

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn calls this on every read, so a byte now and then would keep an idle
        # connection open for ever; the idle timer ends when a request begins instead (so
        # none is left when uvicorn arms the next one after an answer).
        pass

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            self.closed["idle"].inc()
        super().timeout_keep_alive_handler()

    def handle_websocket_upgrade(self) -> None:
        self._phase = None
        self._disarm()
        super().handle_websocket_upgrade()

    # Reads and the parser's callbacks (the hot path: attribute writes only).

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._phase is not None:
            if self._phase is _HEADERS:
                self._count_header_bytes(len(data))
            if self._timer is None:
                self._arm()

    def on_message_begin(self) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        self._phase = _HEADERS
        super().on_message_begin()
        self._events = ConnectionEvents()
        # ASGI servers put their own extensions in the scope here.
        self.scope["extensions"] = {CONNECTION_EVENTS: self._events}  # type: ignore[dict-item]

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        self._header_bytes = None
        if self._timer is not None:
            self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = None
        if self._timer is not None:
            self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers a request it cannot parse in text/plain; TF Serving's shape is JSON.
        self.transport.write(error_response(400, msg, self.server_state.default_headers))
        self.transport.close()

    def _count_header_bytes(self, size: int) -> None:
        # A read that also held the end of the previous request is not counted: the limit may
        # be passed by one read (uvloop reads up to 250 KB), never hit by a pipelined body.
        if self._header_bytes is None:
            self._header_bytes = 0
            return
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self.closed["headers_too_large"].inc()
            message = f"the request headers are larger than {MAX_HEADER_BYTES} bytes"
            self.transport.write(error_response(431, message, self.server_state.default_headers))
            self.transport.close()

    # The timers.

    def _arm(self) -> None:
        if self._phase is _HEADERS:
            self._timer = self.loop.call_later(self.limits.header_timeout_s, self._headers_late)
        else:
            self._timer = self.loop.call_later(self.limits.body_timeout_s, self._body_late)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        self.closed["header_timeout"].inc()
        # The headers of a request that follows one still being answered: no room for a 408.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(
                error_response(
                    408,
                    f"the request headers did not arrive within "
                    f"{self.limits.header_timeout_s:g} s (--header-timeout-s)",
                    self.server_state.default_headers,
                )
            )
        self.transport.close()

    def _body_late(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        self.closed["body_timeout"].inc()
        if self.cycle is not None and not self.cycle.response_started:
            # The app gets a disconnect, learns why, and answers no more.
            if self._events is not None:
                self._events.body_timed_out = True
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            self.transport.write(
                error_response(
                    408,
                    f"the body did not arrive within {self.limits.body_timeout_s:g} s "
                    "(--body-timeout-s)",
                    self.server_state.default_headers,
                )
            )
        self.transport.close()


def guarded_http_protocol(limits: RestLimits, metrics: ServingMetrics) -> type[GuardedHttpProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, bound to a server's limits and its
    `dlwp_connections_closed_total` counter (uvicorn builds one instance per connection).

    Usage:
        uvicorn.Config(app, http=guarded_http_protocol(settings.limits, metrics),
                       timeout_keep_alive=settings.limits.idle_timeout_s, ...)
    """
    closed = {reason: metrics.connections_closed.labels(reason) for reason in CLOSE_REASONS}
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits, "closed": closed})
