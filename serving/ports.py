"""The server's listening ports: checked free before anything loads, and shared by the worker
processes of `dlwp serve --workers N` (SO_REUSEPORT: the kernel spreads new connections over
the processes listening on a port; docs/serving.md, "Workers")."""

import socket

from serving.errors import StartupError

# The kernel's default cap (net.core.somaxconn) since Linux 5.4; uvicorn asks for the same.
BACKLOG = 2048


class PortInUseError(StartupError):
    """A port the server needs is taken."""


def check_port_free(host: str, port: int, what: str) -> None:
    """Raises PortInUseError, naming the flag that picks another port, when `host:port` is
    taken (by another server, or one of our own: a port shared with SO_REUSEPORT counts)."""
    with socket.socket(_family(host, port), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUseError(
                f"cannot listen for {what} on {host}:{port} ({error.strerror}); "
                f"pick another port with --{'grpc-' if what == 'gRPC' else ''}port"
            ) from None


def shared_listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on `host:port` with SO_REUSEPORT, so that every worker listens on
    the same port with its own accept queue."""
    family = _family(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _family(host: str, port: int) -> socket.AddressFamily:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        return socket.AF_INET  # bind then names the problem
