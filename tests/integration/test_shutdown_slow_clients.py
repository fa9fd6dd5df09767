"""Clients that stall never hold up a shutdown: a gRPC follower that stopped reading (its
flow-control window full, the server's write pending), a /logtail follower that stopped
reading (the server's send blocked), an XML-RPC client that sent half a request, and
connections that never send a byte.

Each test sets the client up, checks it is stuck where it should be, sends SIGTERM, and
asserts the daemon exits within the bound (midrpc_harness) with status 0 and a clean log,
and that the stalled client's connection is closed rather than left open.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
import pytest
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from tests.support import Daemon, python_command, wait_until
from tests.support.midrpc_harness import (
    CLIENT_TIMEOUT,
    CONFIG,
    assert_clean_logs,
    channel,
    daemons,
    shut_down,
)


@pytest.fixture
def midrpc() -> Iterator[Callable[..., Daemon]]:
    yield from daemons()


# 64 KiB every 10 ms: megabytes a second, far more than any window a stalled client holds.
CHATTY_CODE = """
import os, time
block = b"x" * 65535 + b"\\n"
while True:
    os.write(1, block)
    time.sleep(0.01)
"""
CHATTY = f"""
[program:chatty]
command={python_command(CHATTY_CODE)}
stdout_logfile=%(here)s/chatty.log
stdout_logfile_maxbytes=0
startsecs=0
"""
STALLED_BYTES = 16 << 20  # written since the stall began: well past every buffer on the way


def _log_size(d: Daemon) -> int:
    try:
        return os.path.getsize(d.dir / "chatty.log")
    except OSError:
        return 0


def _wait_written(d: Daemon, amount: int) -> None:
    start = _log_size(d)
    wait_until(lambda: _log_size(d) - start >= amount, timeout=CLIENT_TIMEOUT)


def _closed_by_peer(sock: socket.socket) -> bool:
    """Read what is left until EOF or a reset; a timeout (the connection kept open) fails."""
    sock.settimeout(CLIENT_TIMEOUT)
    try:
        while sock.recv(1 << 20):
            pass
    except ConnectionError:
        pass
    return True


@contextmanager
def _unix(d: Daemon, name: str) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(CLIENT_TIMEOUT)
    sock.connect(str(d.dir / name))
    try:
        yield sock
    finally:
        sock.close()


def test_a_grpc_follower_that_stopped_reading_does_not_hold_up_the_shutdown(
    midrpc: Callable[..., Daemon],
) -> None:
    d = midrpc(CONFIG + CHATTY)
    with channel(d) as ch:
        stream = pb_grpc.SupervisorServiceStub(ch).TailLog(
            pb.TailLogRequest(processes=["chatty"], follow=True), timeout=CLIENT_TIMEOUT
        )
        next(stream)  # following; from now on nobody reads
        _wait_written(d, STALLED_BYTES)
        shut_down(d, (signal.SIGTERM,))
        try:
            for _ in stream:  # what was buffered, then the end
                pass
        except grpc.RpcError as exc:
            assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), exc
    assert_clean_logs(d)


def test_a_logtail_follower_that_stopped_reading_does_not_hold_up_the_shutdown(
    midrpc: Callable[..., Daemon],
) -> None:
    d = midrpc(CONFIG + CHATTY)
    with _unix(d, "x.sock") as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /logtail/chatty HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(12).startswith(b"HTTP/1.1 200")  # following; nobody reads now
        _wait_written(d, STALLED_BYTES)
        shut_down(d, (signal.SIGTERM,))
        assert _closed_by_peer(sock)
    assert_clean_logs(d)


def test_half_an_xmlrpc_request_does_not_hold_up_the_shutdown(
    midrpc: Callable[..., Daemon],
) -> None:
    d = midrpc(CONFIG)
    with _unix(d, "x.sock") as sock:
        sock.sendall(
            b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Content-Length: 500\r\n\r\n<?xml version='1.0'?><methodCall><methodName>"
        )
        with _unix(d, "x.sock") as head_only:
            head_only.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\n")  # half a head
            # Both are read and waiting for the rest (the daemon answers others meanwhile).
            with channel(d) as ch:
                pb_grpc.SupervisorServiceStub(ch).GetState(pb.GetStateRequest(), timeout=10)
            shut_down(d, (signal.SIGTERM,))
            assert _closed_by_peer(head_only)
        assert _closed_by_peer(sock)
    assert_clean_logs(d)


def test_connections_that_never_send_do_not_hold_up_the_shutdown(
    midrpc: Callable[..., Daemon],
) -> None:
    d = midrpc(CONFIG)
    with _unix(d, "x.sock") as xml, _unix(d, "g.sock") as raw_grpc:
        # A gRPC connection that sent the HTTP/2 preface and then nothing, for a change.
        with _unix(d, "g.sock") as preface_only:
            preface_only.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            shut_down(d, (signal.SIGTERM,))
            assert _closed_by_peer(preface_only)
        assert _closed_by_peer(xml)
        assert _closed_by_peer(raw_grpc)
    assert_clean_logs(d)


def _exit_delay(d: Daemon) -> float:
    """Seconds from the last program stopped to 'exiting': what tearing down took."""
    stamps = {}
    for what, pattern in (("stopped", r"stopped: stubborn"), ("exiting", r"exiting with status")):
        line = next(x for x in d.log().splitlines() if re.search(pattern, x))
        stamps[what] = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return (stamps["exiting"] - stamps["stopped"]).total_seconds()


def test_silent_grpc_connections_do_not_hold_the_exit_for_the_stop_grace(
    midrpc: Callable[..., Daemon],
) -> None:
    # grpc.aio's server.stop(grace) waited the whole grace (1 s) for a connection that
    # holds no call (connected and silent, or half-way through its preface): measured
    # 1.004 s from the last program stopped to 'exiting', against 0.006 s without one.
    d = midrpc(CONFIG)
    with _unix(d, "g.sock") as silent, _unix(d, "g.sock") as preface_only:
        preface_only.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        with channel(d) as ch:  # the server has accepted both by the time this answers
            pb_grpc.SupervisorServiceStub(ch).GetState(pb.GetStateRequest(), timeout=10)
        shut_down(d, (signal.SIGTERM,))
        assert _closed_by_peer(silent) and _closed_by_peer(preface_only)
    assert _exit_delay(d) < 0.6, d.log()
    assert_clean_logs(d)
