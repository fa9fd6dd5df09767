"""Network health probes against real loopback servers (runtime/probes.py)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from supervisor_grpc.model import HealthKind, HealthSpec
from supervisor_grpc.runtime.probes import probe


@pytest.fixture
def http_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tcp_probe_passes_on_a_listener_and_fails_on_a_closed_port(http_server: int) -> None:
    ok, text = probe(HealthSpec(HealthKind.TCP, f"127.0.0.1:{http_server}", timeout=2))
    assert ok and text == f"connected to 127.0.0.1:{http_server}"
    port = closed_port()
    ok, text = probe(HealthSpec(HealthKind.TCP, f"127.0.0.1:{port}", timeout=2))
    assert not ok and "refused" in text.lower()


def test_http_probe_wants_a_2xx(http_server: int) -> None:
    base = f"http://127.0.0.1:{http_server}"
    assert probe(HealthSpec(HealthKind.HTTP, f"{base}/ok", timeout=2)) == (
        True,
        f"http {base}/ok: status 200",
    )
    assert probe(HealthSpec(HealthKind.HTTP, f"{base}/down", timeout=2)) == (
        False,
        f"http {base}/down: status 503",
    )
    ok, text = probe(HealthSpec(HealthKind.HTTP, f"http://127.0.0.1:{closed_port()}/", timeout=2))
    assert not ok and text.startswith("http ")
