"""Back-to-back requests on one kept-alive connection: a worker that has answered writes the
answer itself and takes the next complete request itself (keepalive.py). What the reactor
guards must hold on that path too: a client that dribbles or does not read holds no worker,
auth is checked before the body, and a partial request handed back is read on.

With one worker (``SUPGRPC_XMLRPC_MAX_WORKERS=1``) any worker held by the hostile client
would leave the other client unanswered.
"""

from __future__ import annotations

import base64
import threading

import pytest

from tests.support import Daemon
from tests.support.daemon import DaemonFactory
from tests.support.raw_http import CALL, connect, is_closed, post, read_response

pytestmark = pytest.mark.compat

ONE_WORKER = {"SUPGRPC_XMLRPC_MAX_WORKERS": "1"}
LIST_METHODS = (
    b"<?xml version='1.0'?><methodCall><methodName>system.listMethods</methodName>"
    b"<params></params></methodCall>"
)


def answered_meanwhile(d: Daemon, calls: int = 5, bound: float = 10.0) -> bool:
    """Another client's calls, each answered within a generous bound (not a timing goal: a
    held worker would leave them unanswered until the bound)."""
    done = threading.Event()

    def call() -> None:
        s = d.rpc().supervisor
        for _ in range(calls):
            assert s.getAPIVersion() == "3.0"
        done.set()

    threading.Thread(target=call, daemon=True).start()
    return done.wait(bound)


def test_an_idle_kept_alive_connection_holds_no_worker(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory("", env=ONE_WORKER)
    with connect(d) as s:
        s.sendall(post(CALL))
        assert read_response(s)[0] == 200
        assert answered_meanwhile(d)  # while this one sends nothing more
        s.sendall(post(CALL))
        assert read_response(s)[0] == 200


def test_a_served_connection_that_then_dribbles_holds_no_worker(
    daemon_factory: DaemonFactory,
) -> None:
    d = daemon_factory("", env=ONE_WORKER)
    with connect(d) as s:
        s.sendall(post(CALL))
        assert read_response(s)[0] == 200
        request = post(CALL)
        s.sendall(request[:30])  # the next request begins, then stalls
        assert answered_meanwhile(d)
        s.sendall(request[30:])  # what was handed back with the connection is kept
        status, _, body = read_response(s)
        assert status == 200 and b"<string>3.0</string>" in body


def test_pipelined_answers_to_a_client_that_does_not_read_hold_no_worker(
    daemon_factory: DaemonFactory,
) -> None:
    d = daemon_factory("", env=ONE_WORKER)
    count = 400  # ~1 MiB of answers: far more than a socket buffer holds
    with connect(d, timeout=30) as s:
        s.sendall(post(LIST_METHODS) * count)
        assert answered_meanwhile(d)
        for _ in range(count):
            status, _, body = read_response(s)
            assert status == 200 and b"supervisor.getState" in body


def basic(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Authorization: Basic {token}\r\n"


@pytest.mark.parametrize("headers", ["", basic("admin", "wrong")])
def test_auth_before_the_body_on_a_kept_alive_connection(
    daemon_factory: DaemonFactory, headers: str
) -> None:
    d = daemon_factory("", auth=("admin", "s3cret"))
    with connect(d) as s:
        s.sendall(post(CALL, headers=basic("admin", "s3cret")))
        assert read_response(s)[0] == 200
        # the next request announces a body that never comes: refused from its head alone
        s.sendall(post(b"x" * 100000, headers=headers)[:-100000])
        status, got, _ = read_response(s)
        assert status == 401 and got["connection"] == "close"
        assert is_closed(s)


def test_expect_100_continue_on_a_kept_alive_connection(shared: Daemon) -> None:
    with connect(shared) as s:
        s.sendall(post(CALL))
        assert read_response(s)[0] == 200
        s.sendall(post(CALL, headers="Expect: 100-continue\r\n")[: -len(CALL)])
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(CALL)
        assert read_response(s)[0] == 200
