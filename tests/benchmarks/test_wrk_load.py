"""benchmarks/wrk_load.py against a real HTTP server on loopback (Debian's wrk)."""

import http.server
import threading

import pytest

from benchmarks.wrk_load import run_wrk

BODY = b'{"instances": [[1, 2, 3]]}'


class _Counting(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    answered = {"ok": 0, "refused": 0}
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        good = body == BODY and self.headers["Content-Type"] == "application/json"
        with self.lock:
            self.answered["ok" if good else "refused"] += 1
        self.send_response(200 if good else 400)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Counting.answered.update(ok=0, refused=0)
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/models/m:predict", _Counting.answered
    httpd.shutdown()


def test_wrk_posts_the_body_and_counts_what_the_server_answered(server):
    url, answered = server
    result, wrk_cores = run_wrk(url, BODY, concurrency=2, duration_s=1)
    assert result.errors == 0 and answered["refused"] == 0
    # wrk counts the requests answered within its window; the server may see a few more.
    assert 0 < result.requests <= answered["ok"] <= result.requests + 2
    assert result.p50_ms > 0 and result.p99_ms >= result.p50_ms
    assert result.rps == pytest.approx(result.requests, rel=0.2)
    assert 0 <= wrk_cores < 2.5


def test_non_2xx_answers_count_as_errors(server):
    url, answered = server
    result, _ = run_wrk(url, b'{"instances": []}', concurrency=1, duration_s=1)
    assert result.requests > 0 and result.errors == result.requests
    assert answered["ok"] == 0 and answered["refused"] >= result.requests
