"""Slow, silent and surplus clients on the REST port (serving/http_protocol.py, rest.py): they
are cut by the header, body and idle timeouts or refused over --max-connections, while normal
requests keep being answered. Raw sockets on real servers, with timeouts of a second or two.
"""

import json
import logging
import socket
import time

import pytest
from servers import running_server, settings_for, wait_for

from serving.settings import RestLimits

PREDICT_HEAD = (
    b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: test\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
)
PREDICT = {"instances": [[1.0, 2.0, 3.0]]}
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
# Timers fire on a busy event loop with two shared cores: allow this much past a deadline.
SLACK_S = 2.5


def connect(server) -> socket.socket:
    settings = server.stack.settings
    return socket.create_connection((settings.host, settings.port), timeout=10)


def read_until_closed(sock: socket.socket, within_s: float) -> tuple[bytes, float]:
    """What the server sends until it closes the connection, and the seconds that took.

    Raises:
      AssertionError: the connection is still open after `within_s`.
    """
    start = time.monotonic()
    data = b""
    while True:
        remaining = start + within_s - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"the server kept the connection open for {within_s} s")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - start


def read_answer(sock: socket.socket) -> bytes:
    """One complete answer with a Content-Length, on a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(headers_of(head)["content-length"])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), headers_of(head), body


def requests_counted(server, code: str) -> float:
    """REST predicts counted with TF Serving status `code`."""
    registry = server.stack.metrics.registry
    return sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "dlwp_request_count"
        for sample in metric.samples
        if sample.name == "dlwp_request_count_total"
        and sample.labels["api"] == "predict"
        and sample.labels["protocol"] == "rest"
        and sample.labels["code"] == code
    )


def open_connections(server) -> int:
    return len(server.stack.http.server_state.connections)


def closed(server, reason: str) -> float:
    value = server.stack.metrics.registry.get_sample_value(
        "dlwp_connections_closed_total", {"reason": reason}
    )
    return value or 0.0


@pytest.fixture(scope="module")
def timed_server(toy_models):
    """A server with one-second header and body timeouts and a three-second idle timeout."""
    limits = RestLimits(header_timeout_s=1.0, body_timeout_s=1.0, idle_timeout_s=3.0)
    with running_server(settings_for(workers=1, models_dir=toy_models, limits=limits)) as server:
        yield server


def test_slow_bodies_do_not_hold_the_slots_and_each_gets_408(toy_models):
    limits = RestLimits(max_concurrent_requests=16, body_timeout_s=2.0, header_timeout_s=5.0)
    with (
        running_server(settings_for(workers=1, models_dir=toy_models, limits=limits)) as server,
        server.client() as client,
    ):
        slow = [connect(server) for _ in range(64)]
        for sock in slow:
            sock.sendall(PREDICT_HEAD + b"{")
        wait_for(lambda: open_connections(server) == 64, 10, "the 64 slow connections")
        answers = [client.post("/v1/models/toy:predict", json=PREDICT) for _ in range(20)]
        health = client.get("/healthz")
        for sock in slow:  # all still waiting: the predicts ran while the flood held on
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
            sock.setblocking(True)

        assert [answer.status_code for answer in answers] == [200] * 20
        assert health.status_code == 200
        for sock in slow:
            answer, _ = read_until_closed(sock, 2.0 + SLACK_S)
            status, headers, body = parse(answer)
            assert (status, headers["connection"]) == (408, "close")
            assert "within 2 s" in json.loads(body)["error"]
            sock.close()
        assert requests_counted(server, "DEADLINE_EXCEEDED") == 64
        assert requests_counted(server, "INTERNAL") == 0
        assert requests_counted(server, "OK") == 20


def test_clients_leaving_mid_body_are_counted_cancelled_without_a_traceback(timed_server, caplog):
    uvicorn_log = logging.getLogger("uvicorn.error")  # uvicorn's loggers stop propagating
    uvicorn_log.addHandler(caplog.handler)
    before = requests_counted(timed_server, "CANCELLED")
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(8):
                with connect(timed_server) as sock:
                    sock.sendall(PREDICT_HEAD + b'{"instances": [[1.0,')
                    time.sleep(0.05)
            wait_for(
                lambda: requests_counted(timed_server, "CANCELLED") == before + 8,
                10,
                "eight cancelled predicts",
            )
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    ours = [r for r in caplog.records if r.name.startswith(("dlwp.serving", "uvicorn"))]
    assert [record.getMessage() for record in ours] == []
    assert requests_counted(timed_server, "INTERNAL") == 0


def test_silent_connection_gets_408_at_the_header_timeout(timed_server):
    before = closed(timed_server, "header_timeout")
    with connect(timed_server) as sock:
        answer, elapsed_s = read_until_closed(sock, 1.0 + SLACK_S)
    status, headers, body = parse(answer)
    assert (status, headers["connection"], headers["content-type"]) == (
        408,
        "close",
        "application/json",
    )
    assert json.loads(body) == {
        "error": "the request headers did not arrive within 1 s (--header-timeout-s)"
    }
    assert elapsed_s > 0.8
    assert closed(timed_server, "header_timeout") == before + 1


def test_slowloris_headers_are_cut_at_the_header_timeout(timed_server):
    with connect(timed_server) as sock:
        sock.sendall(b"POST /v1/models/toy:predict HTTP/1.1\r\nX-Slow: ")
        start = time.monotonic()
        try:
            while time.monotonic() - start < 1.0 + SLACK_S:
                sock.sendall(b"a")  # one header byte every 0.1 s
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer, _ = read_until_closed(sock, 1.0)
        elapsed_s = time.monotonic() - start
    status, headers, _ = parse(answer)
    assert (status, headers["connection"]) == (408, "close")
    assert 0.8 < elapsed_s < 1.0 + SLACK_S


def test_later_request_headers_are_timed_from_their_first_byte(timed_server):
    with connect(timed_server) as sock:
        sock.sendall(HEALTH)
        assert parse(read_answer(sock))[0] == 200
        time.sleep(1.5)  # longer than the header timeout: the clock starts with the next byte
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        start = time.monotonic()
        answer, _ = read_until_closed(sock, 1.0 + SLACK_S)
        elapsed_s = time.monotonic() - start
    assert parse(answer)[0] == 408
    assert elapsed_s > 0.8


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(timed_server):
    before = closed(timed_server, "idle")
    with connect(timed_server) as sock:
        sock.sendall(HEALTH)
        assert parse(read_answer(sock))[0] == 200
        answer, elapsed_s = read_until_closed(sock, 3.0 + SLACK_S)
    assert answer == b""
    assert elapsed_s > 2.5
    assert closed(timed_server, "idle") == before + 1


def test_bytes_trickled_after_an_answer_do_not_keep_the_connection_open(timed_server):
    with connect(timed_server) as sock:
        sock.sendall(HEALTH)
        assert parse(read_answer(sock))[0] == 200
        start = time.monotonic()
        try:
            while time.monotonic() - start < 3.0 + SLACK_S:
                sock.sendall(b"\r\n")  # blank lines between requests, as HTTP allows
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        read_until_closed(sock, 1.0)
        elapsed_s = time.monotonic() - start
    assert elapsed_s < 3.0 + SLACK_S


def test_body_a_route_never_reads_is_cut_at_the_body_timeout(timed_server):
    before = closed(timed_server, "body_timeout")
    with connect(timed_server) as sock:
        # /healthz answers 405 to a POST without reading its body, and the body never comes.
        sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n")
        start = time.monotonic()
        answer, _ = read_until_closed(sock, 3.0)  # before the idle timeout could close it
        elapsed_s = time.monotonic() - start
    assert parse(answer)[0] == 405
    assert elapsed_s > 0.9  # cut at the body timeout (1 s), not before
    assert closed(timed_server, "body_timeout") == before + 1


def test_connection_over_the_limit_gets_503_until_others_close(toy_models):
    limits = RestLimits(max_connections=4)
    with running_server(settings_for(workers=1, models_dir=toy_models, limits=limits)) as server:
        held = [connect(server) for _ in range(4)]
        for sock in held:  # answered, so the server holds all four
            sock.sendall(HEALTH)
            assert parse(read_answer(sock))[0] == 200
        with connect(server) as fifth:
            fifth.sendall(HEALTH)
            answer, _ = read_until_closed(fifth, 5.0)
        status, headers, body = parse(answer)
        assert (status, headers["connection"], headers["content-type"]) == (
            503,
            "close",
            "application/json",
        )
        assert json.loads(body) == {
            "error": "4 connections are open, the limit is 4 (--max-connections); retry later"
        }
        assert closed(server, "limit") == 1

        for sock in held[:2]:
            sock.close()

        def served() -> bool:
            with connect(server) as sock:
                sock.sendall(HEALTH)
                return parse(read_answer(sock))[0] == 200  # or 503, until they are gone

        wait_for(served, 10, "a new connection served")
        for sock in held[2:]:
            sock.close()


def test_headers_over_the_size_limit_get_431_at_once(timed_server):
    with connect(timed_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: ")
        try:
            for _ in range(64):  # 4 MiB, sent in 64 KiB pieces
                sock.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer, _ = read_until_closed(sock, 1.0)  # long before the header timeout
    status, headers, body = parse(answer)
    assert (status, headers["connection"]) == (431, "close")
    assert json.loads(body) == {"error": "the request headers are larger than 65536 bytes"}


def test_headers_under_the_size_limit_are_served(timed_server):
    with connect(timed_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: ")
        for _ in range(6):  # 48 KiB in 8 KiB pieces
            sock.sendall(b"a" * 8192)
            time.sleep(0.01)
        sock.sendall(b"\r\n\r\n")
        assert parse(read_answer(sock))[0] == 200


def test_unparsable_request_gets_tf_servings_error_shape(timed_server):
    with connect(timed_server) as sock:
        sock.sendall(b"GARBAGE \x00 HTTP/9\r\n\r\n")
        answer, _ = read_until_closed(sock, 1.0)
    status, headers, body = parse(answer)
    assert (status, headers["content-type"]) == (400, "application/json")
    assert json.loads(body) == {"error": "Invalid HTTP request received."}
