"""Hostile and broken clients: slow or half-open connections, bad headers, huge bodies, and a
daemon out of file descriptors. None of them may lock the real ``supervisorctl`` out, cost
memory far beyond what they sent, or leave a traceback in the main log.
"""

from __future__ import annotations

import base64
import resource
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.support import Daemon, wait_until
from tests.support.daemon import DaemonFactory
from tests.support.raw_http import (
    CALL,
    big_body,
    connect,
    ctl_answers,
    dribblers,
    exchange,
    is_closed,
    peak_rss,
    post,
    read_response,
)

pytestmark = pytest.mark.compat

SLOW = 80  # more slow connections than supgrpcd's default connection limit (64)


def test_slow_connections_do_not_lock_out_supervisorctl(daemon_factory: DaemonFactory) -> None:
    """Slowloris against supgrpcd and supervisord 4.3.0 side by side, with the real
    supervisorctl: every try must be answered, as supervisord answers them."""
    programs = "[program:sleeper]\ncommand=/bin/sleep 1000\nstartsecs=0\n"
    figures = {}
    for real in (False, True):
        d = daemon_factory(programs, real=real)
        d.wait_state("sleeper", "RUNNING")
        with dribblers(d, SLOW, 1.0):
            time.sleep(0.5)  # let every slow connection begin its request
            figures["supervisord" if real else "supgrpcd"] = ctl_answers(d, 5, 10, "sleeper")
    print(f"supervisorctl answered under {SLOW} slow connections (of 5): {figures}")
    assert figures == {"supgrpcd": 5, "supervisord": 5}


def basic(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Authorization: Basic {token}\r\n"


def test_auth_is_checked_before_the_body(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory("", auth=("admin", "s3cret"))
    for headers in ("", basic("admin", "wrong")):
        with connect(d) as s:
            # a head announcing a body that never comes: refused at once, as supervisord does
            s.sendall(post(b"x" * 100000, headers=headers)[:-100000])
            status, got, _ = read_response(s)
            assert status == 401 and got["www-authenticate"] == 'Basic realm="default"'
            assert got["connection"] == "close"
            assert is_closed(s)
    assert exchange(d, post(CALL, headers=basic("admin", "s3cret")))[0] == 200


@pytest.mark.parametrize(
    "header",
    [
        "Content-Length: \u00b2",  # a digit to str.isdigit(), not to int()
        "Content-Length: \u0661\u0662",  # Arabic-Indic digits: int() reads them
        "Content-Length: " + "9" * 5000,  # past int()'s digit limit
        "Content-Length: -1",
        "Bad Header: x",
        "x" * 70000 + ": y",
    ],
)
def test_malformed_headers_are_400_with_one_log_line(shared: Daemon, header: str) -> None:
    before = shared.log()
    with connect(shared) as s:
        s.sendall(f"POST /RPC2 HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n".encode())
        status, _, _ = read_response(s)
        assert status in (400, 413, 431)
        assert is_closed(s)
    wait_until(lambda: len(shared.log()) > len(before), what="the refusal to be logged")
    added = shared.log()[len(before) :].splitlines()
    assert len(added) == 1 and "XML-RPC" in added[0], added
    assert "CRIT" not in added[0] and "Traceback" not in shared.log()
    assert exchange(shared, post(CALL))[0] == 200


def test_big_bodies_cost_a_small_multiple_of_their_size(daemon_factory: DaemonFactory) -> None:
    """Eight concurrent 4 MiB bodies of ``<value/>``: the parse must not build a tree that
    costs tens of times the body (it peaked at 1 GiB)."""
    d = daemon_factory("")
    assert d.proc is not None
    body = big_body()
    before = peak_rss(d.proc.pid)
    results: list[int] = []

    def send() -> None:
        results.append(exchange(d, post(body))[0])

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [200] * 8  # each answered (with a fault: getAPIVersion takes nothing)
    grown = peak_rss(d.proc.pid) - before
    print(f"peak RSS grew by {grown / 2**20:.0f} MiB for 8 x 4 MiB bodies")
    assert grown < 8 * len(body) * 5


def _fd_count(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_out_of_descriptors_backs_off_and_logs_once(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory("")
    assert d.proc is not None
    pid = d.proc.pid
    held = [connect(d) for _ in range(4)]  # kept-alive connections: each holds a descriptor
    for s in held:
        s.sendall(post(CALL))
        assert read_response(s)[0] == 200
    _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (_fd_count(pid), hard))  # none left
    waiting: list[socket.socket] = []

    def refused() -> bool:
        """One more client; true once the daemon could not accept one."""
        if len(waiting) < 20:
            s = connect(d)
            s.sendall(post(CALL))
            waiting.append(s)
        return "Too many open files" in d.log()

    wait_until(refused, what="EMFILE to be logged")
    time.sleep(1.5)  # the old acceptor logged 20 lines a second here
    assert d.log().count("Too many open files") == 1, d.log()
    for s in held:
        s.close()
    for s in waiting:  # each accepted once descriptors are free again, and answered
        assert read_response(s)[0] == 200
        s.close()
    # Said even when no client is queued any more: the last free descriptor may have gone
    # to the one client that was waiting, and the next accept() fails with EMFILE on an
    # empty backlog (Linux takes the descriptor first).
    wait_until(lambda: "accepting connections again" in d.main_log(), 5, "the recovery line")
    assert exchange(d, post(CALL))[0] == 200
