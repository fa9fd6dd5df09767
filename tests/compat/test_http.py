"""The HTTP side: sockets, auth, framing, limits, timeouts and the /logtail streams."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support import SUPGRPCD, Daemon, free_port, wait_until
from tests.support.daemon import DaemonFactory
from tests.support.layouts import xmlrpc_daemon
from tests.support.raw_http import CALL, connect, exchange, is_closed, post, read_response
from tests.support.xmlrpc_clients import make_conf

pytestmark = pytest.mark.compat

# ---- /RPC2 framing ---------------------------------------------------------------------------


def test_faults_are_http_200_and_keep_alive_works(shared: Daemon) -> None:
    bad = (
        b"<methodCall><methodName>supervisor.getProcessInfo</methodName><params><param>"
        b"<value><string>nope</string></value></param></params></methodCall>"
    )
    with connect(shared) as s:
        s.sendall(post(bad) + post(CALL))  # pipelined, on one connection
        status, headers, body = read_response(s)
        assert status == 200 and headers["content-type"] == "text/xml"
        assert b"<name>faultCode</name>\n<value><int>10</int>" in body
        assert b"BAD_NAME: nope" in body
        status, _, body = read_response(s)
        assert status == 200 and b"<string>3.0</string>" in body


def test_untyped_values_and_missing_params(shared: Daemon) -> None:
    body = (
        b"<methodCall><methodName>supervisor.getProcessInfo</methodName><params><param>"
        b"<value>sleeper</value></param></params></methodCall>"
    )
    status, _, text = exchange(shared, post(body))
    assert status == 200 and b"<name>statename</name>\n<value><string>RUNNING" in text
    body = (
        b"<methodCall><methodName>supervisor.readLog</methodName><params>"
        b"<param><value>-5</value></param><param><value>0</value></param>"
        b"</params></methodCall>"
    )
    status, _, text = exchange(shared, post(body))
    assert status == 200 and b"fault" not in text
    body = b"<methodCall><methodName>supervisor.getState</methodName></methodCall>"
    status, _, text = exchange(shared, post(body))
    assert status == 200 and b"RUNNING" in text


@pytest.mark.parametrize(
    "body",
    [
        b"<methodCall><methodName>supervisor.getState",  # truncated
        b"not xml at all",
        b"<methodCall><params></params></methodCall>",  # no method name
        b"<methodCall><methodName></methodName></methodCall>",
        b"<methodCall><methodName>x.y</methodName><params><param><value><int>z</int></value>"
        b"</param></params></methodCall>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
        b"<methodCall><methodName>&a;</methodName></methodCall>",  # no DTDs, no entities
        b"<methodCall><methodName>system.multicall</methodName><params><param><value>"
        + b"<array><data><value>" * 100
        + b"</value></data></array>" * 100
        + b"</value></param></params></methodCall>",  # nesting bound
    ],
)
def test_malformed_requests_are_400(shared: Daemon, body: bytes) -> None:
    status, _, _ = exchange(shared, post(body))
    assert status == 400
    status, _, _ = exchange(shared, post(CALL))  # and the server is fine
    assert status == 200


def test_get_rpc2_is_400_and_unknown_paths_404(shared: Daemon) -> None:
    status, _, _ = exchange(shared, b"GET /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400
    status, _, _ = exchange(shared, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 404
    status, _, _ = exchange(shared, b"GET /RPC2 HTTP/2.0\r\n\r\n")
    assert status == 505


def test_http_10(shared: Daemon) -> None:
    with connect(shared) as s:
        s.sendall(post(CALL, version="HTTP/1.0"))
        status, headers, _ = read_response(s)
        assert (status, headers["connection"]) == (200, "close")
        assert is_closed(s)
    with connect(shared) as s:
        s.sendall(post(CALL, version="HTTP/1.0", headers="Connection: keep-alive\r\n") * 2)
        assert read_response(s)[1]["connection"] == "Keep-Alive"
        assert read_response(s)[0] == 200


def test_expect_100_continue(shared: Daemon) -> None:
    with connect(shared) as s:
        head = post(CALL, headers="Expect: 100-continue\r\n")[: -len(CALL)]
        s.sendall(head)
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(CALL)
        assert read_response(s)[0] == 200


def test_silent_new_connection_is_dropped(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory("", env={"SUPGRPC_XMLRPC_REQUEST_TIMEOUT": "0.5"})
    with connect(d) as s:
        started = time.monotonic()
        assert is_closed(s)  # never sent a byte: not allowed to hold a slot
        assert time.monotonic() - started < 3


def test_oversized_body_is_413(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory("", env={"SUPGRPC_XMLRPC_MAX_BODY": "1000"})
    with connect(d) as s:
        s.sendall(post(b"x" * 2000))
        assert read_response(s)[0] == 413
        assert is_closed(s)
    status, _, _ = exchange(d, post(CALL))
    assert status == 200


# ---- slow clients, limits ---------------------------------------------------------------


def test_slow_partial_request_times_out_without_blocking_others(
    daemon_factory: DaemonFactory,
) -> None:
    d = daemon_factory("", env={"SUPGRPC_XMLRPC_REQUEST_TIMEOUT": "1"})
    slow = connect(d)
    slow.sendall(post(CALL)[:30])  # a request that never completes
    started = time.monotonic()
    for _ in range(5):
        assert d.rpc().supervisor.getAPIVersion() == "3.0"
    assert time.monotonic() - started < 1  # nobody waited for the slow client
    status, _, _ = read_response(slow)
    assert status == 408 and time.monotonic() - started < 5
    assert is_closed(slow)
    slow.close()


def test_wait_blocks_only_its_own_connection(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory("[program:slow]\ncommand=/bin/sleep 1000\nstartsecs=2\nautostart=false\n")
    thread = threading.Thread(target=lambda: d.rpc().supervisor.startProcess("slow"))
    thread.start()
    d.wait_state("slow", "STARTING")
    started = time.monotonic()
    for _ in range(10):
        assert d.rpc().supervisor.getState()["statename"] == "RUNNING"
    assert time.monotonic() - started < 1
    assert thread.is_alive()  # still waiting for startsecs
    thread.join(10)


def test_connection_limit(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory(
        env={"SUPGRPC_XMLRPC_MAX_CONNECTIONS": "3", "SUPGRPC_XMLRPC_MAX_STREAMS": "3"}
    )
    idle = [connect(d) for _ in range(3)]
    # a 4th client is served: the longest-idle connection is closed to make room
    wait_until(lambda: exchange(d, post(CALL))[0] == 200, what="a 4th connection served")
    assert is_closed(idle[0])
    for s in idle:
        s.close()
    # when no slot can be freed (three log followers), a new client gets 503
    streams = [open_stream(d, "/logtail/ticker")[0] for _ in range(3)]
    status, _, _ = exchange(d, post(CALL))
    assert status == 503
    streams.pop().close()
    wait_until(lambda: exchange(d, post(CALL))[0] == 200, what="a slot freed")
    for s in streams:
        s.close()


# ---- auth --------------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Authorization: Basic {token}\r\n"


@pytest.mark.parametrize("stored", ["s3cret", "{SHA}" + hashlib.sha1(b"s3cret").hexdigest()])
def test_basic_auth(daemon_factory: DaemonFactory, stored: str) -> None:
    port = free_port()
    d = daemon_factory("", inet_port=port, auth=("admin", stored), ctl_auth=("admin", "s3cret"))
    assert d.ctl("version").out == "4.3.0\n"
    assert "without any HTTP authentication" not in d.log()
    for request in (
        post(CALL),
        post(CALL, headers=basic("admin", "wrong")),
        post(CALL, headers=basic("root", "s3cret")),
        b"GET /logtail/x HTTP/1.1\r\n\r\n",
        b"GET /nope HTTP/1.1\r\n\r\n",
    ):
        status, headers, _ = exchange(d, request)
        assert status == 401 and headers["www-authenticate"] == 'Basic realm="default"'
    assert exchange(d, post(CALL, headers=basic("admin", "s3cret")))[0] == 200
    # the inet server of the same config is guarded the same way
    inet = xmlrpc_daemon(d.dir, d.config_path)
    inet.serverurl = f"http://127.0.0.1:{port}"
    assert exchange(inet, post(CALL))[0] == 401
    assert inet.rpc("admin", "s3cret").supervisor.getAPIVersion() == "3.0"
    # supervisorctl without the password
    make_conf(d.dir, "", auth=("admin", stored), ctl_auth=("admin", "nope"), inet_port=port)
    r = d.ctl("status")  # (supervisorctl then retries once and prints the ProtocolError)
    assert (r.rc, r.lines[0]) == (1, "Server requires authentication")


def test_no_auth_is_logged_critical(shared: Daemon) -> None:
    assert (
        "CRIT Server 'unix_http_server' running without any HTTP authentication checking"
        in shared.log()
    )


def test_inet_only(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory(unix=False, inet_port=free_port())
    assert d.ctl("status", "sleeper").rc == 0
    assert "Server 'inet_http_server' running without" in d.log()


# ---- sockets --------------------------------------------------------------------------


def test_socket_mode_owner_and_stale_socket(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory("", start=False)
    chown = "chown=nobody:nogroup\n" if os.geteuid() == 0 else ""
    conf = d.config_path.read_text().replace(
        "[unix_http_server]\n", f"[unix_http_server]\nchmod=0770\n{chown}"
    )
    d.config_path.write_text(conf)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(d.rpc_sock)  # a socket file nobody listens on, as a crashed daemon leaves
    stale.close()
    d.start()
    st = os.stat(d.rpc_sock)
    assert stat.S_IMODE(st.st_mode) == 0o770 and stat.S_ISSOCK(st.st_mode)
    if chown:
        assert (st.st_uid, st.st_gid) == (65534, 65534)
    assert not any(p.name.startswith("s.sock.") for p in d.dir.iterdir())


def test_socket_in_use_is_a_config_error(daemon: Daemon) -> None:
    second = subprocess.run(
        [SUPGRPCD, "-c", str(daemon.config_path), "--no-grpc"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert second.returncode == 2
    assert "[unix_http_server] file: another program is already listening on" in second.stderr
    assert daemon.rpc().supervisor.getAPIVersion() == "3.0"  # the first one is untouched


def test_port_in_use_is_a_config_error(daemon_factory: DaemonFactory) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        d = daemon_factory("", unix=False, inet_port=port, start=False)
        done = subprocess.run(
            [SUPGRPCD, "-c", str(d.config_path), "--no-grpc"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert done.returncode == 2
    assert f"[inet_http_server] port: cannot listen on 127.0.0.1:{port}" in done.stderr


# ---- /logtail and /mainlogtail ----------------------------------------------------------


def open_stream(d: Daemon, path: str, version: str = "HTTP/1.1") -> tuple[socket.socket, str]:
    s = connect(d)
    s.sendall(f"GET {path} {version}\r\nHost: \r\nAccept-Encoding: chunked\r\n\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    return s, head.decode("latin-1")


def read_chunks_until(s: socket.socket, needle: bytes, timeout: float = 10) -> bytes:
    """Decode a chunked body until ``needle`` has been seen."""
    buf, body = b"", b""
    deadline = time.monotonic() + timeout
    while needle not in body:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        more = s.recv(65536)
        if not more:
            raise EOFError(body)
        buf += more
        while True:
            size_line, sep, rest = buf.partition(b"\r\n")
            if not sep:
                break
            size = int(size_line, 16)
            if len(rest) < size + 2:
                break
            body += rest[:size]
            buf = rest[size + 2 :]
            if size == 0:
                raise EOFError(body)
    return body


def test_logtail_headers_and_head(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    s.sendProcessStdin("cat", "".join(f"line {i:04d}\n" for i in range(300)))
    wait_until(lambda: "line 0299" in s.readProcessStdoutLog("cat", -20, 0), what="cat output")
    sock, head = open_stream(daemon, "/logtail/cat/stdout")
    assert head.startswith("HTTP/1.1 200 OK\r\n")
    for header in (
        "Transfer-Encoding: chunked",
        "Content-Type: text/plain;charset=utf-8",
        "X-Accel-Buffering: no",
        "Last-Modified: ",
    ):
        assert header in head
    assert "Content-Length" not in head
    body = read_chunks_until(sock, b"line 0299\n")
    assert len(body) == 1024 and body.endswith(b"line 0299\n")  # the last 1024 bytes
    s.sendProcessStdin("cat", "appended\n")
    assert read_chunks_until(sock, b"appended\n") == b"appended\n"
    sock.close()


def test_logtail_paths(shared: Daemon) -> None:
    for path, status in (
        ("/logtail/nope", 404),
        ("/logtail/grp:*", 404),
        ("/logtail/writer/bogus", 404),
        ("/logtail/writer/stderr", 200),
        ("/logtail/grp%3Aga", 200),
        ("/logtail/writer", 200),
    ):
        sock, head = open_stream(shared, path)
        assert head.startswith(f"HTTP/1.1 {status} "), path
        sock.close()
    status, _, _ = exchange(shared, post(b"x", path="/logtail/writer"))
    assert status == 400


def test_mainlogtail_and_http10_stream(shared: Daemon) -> None:
    sock, head = open_stream(shared, "/mainlogtail")
    assert head.startswith("HTTP/1.1 200 OK") and "X-Accel-Buffering" not in head
    assert read_chunks_until(sock, b"\n").endswith(b"\n")  # the main log's last KiB
    sock.close()
    sock, head = open_stream(shared, "/logtail/writer", version="HTTP/1.0")
    assert "Transfer-Encoding" not in head and "Connection: close" in head
    data = b""
    while b"out-line\n" not in data:
        data += sock.recv(100)
    sock.close()


def test_logtail_survives_rotation(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory(
        "[program:counter]\ncommand=/bin/cat\nstartsecs=0\n"
        "stdout_logfile={dir}/counter.log\nstdout_logfile_maxbytes=2KB\n"
        "stdout_logfile_backups=2\n"
    )
    sock, _ = open_stream(d, "/logtail/counter")
    lines = [f"n{i:05d}\n" for i in range(2000)]  # 14 KB: seven rotations
    for start in range(0, 2000, 100):
        d.rpc().supervisor.sendProcessStdin("counter", "".join(lines[start : start + 100]))
    body = read_chunks_until(sock, b"n01999\n")
    assert body == "".join(lines).encode()  # nothing lost or repeated across rotations
    assert Path(f"{d.dir}/counter.log.1").exists()
    sock.close()


def test_streams_end_when_the_daemon_stops(daemon: Daemon) -> None:
    sock, _ = open_stream(daemon, "/logtail/ticker")
    read_chunks_until(sock, b"tick-")
    started = time.monotonic()
    daemon.ctl("shutdown")
    with pytest.raises(EOFError):
        read_chunks_until(sock, b"never", timeout=10)
    assert time.monotonic() - started < 5
    sock.close()


def test_stream_limit(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory(env={"SUPGRPC_XMLRPC_MAX_STREAMS": "1"})
    first, head = open_stream(d, "/logtail/ticker")
    assert " 200 " in head.splitlines()[0]
    second, head = open_stream(d, "/logtail/ticker")
    assert " 503 " in head.splitlines()[0]
    second.close()
    assert d.rpc().supervisor.getAPIVersion() == "3.0"  # RPCs still find a slot
    first.close()

    def free() -> bool:
        s, h = open_stream(d, "/logtail/ticker")
        s.close()
        return " 200 " in h.splitlines()[0]

    wait_until(free, what="the stream slot to be released")


def test_tail_f_and_maintail_f(daemon: Daemon) -> None:
    proc = daemon.popen_ctl("tail", "-f", "ticker")
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == "==> Press Ctrl-C to exit <==\n"
        seen = [proc.stdout.readline() for _ in range(5)]
        numbers = [int(re.fullmatch(r"tick-(\d+)\n", line).group(1)) for line in seen]  # type: ignore[union-attr]
        assert numbers == list(range(numbers[0], numbers[0] + 5))
    finally:
        proc.kill()
        proc.wait()
    proc = daemon.popen_ctl("maintail", "-f")
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == "==> Press Ctrl-C to exit <==\n"
        daemon.rpc().supervisor.stopProcess("sleeper")
        wait_line = ""
        while "stopped: sleeper" not in wait_line:
            wait_line = proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
