"""supgrpcd as PID 1 (``unshare --pid --fork --mount-proc``), shut down in the middle of the
RPCs that hold a connection open: the follower streams (TailLog, WatchEvents, the health
Watch, /logtail) and the waits (StopProcess, Update). An init that hangs on exit hangs the
whole container, so: it exits within the bound with status 0, every client gets a clean
answer, and the main log has no traceback (tests/integration/midrpc_harness).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator

import pytest
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from tests.pid1.test_pid1 import INIT, REFUSAL
from tests.support import Daemon, children_of, wait_until
from tests.support.midrpc_cases import CASES, EXTRA_STREAMS, InFlight, run_in_flight
from tests.support.midrpc_harness import (
    CLIENT_TIMEOUT,
    CONFIG,
    SIGNALS,
    assert_clean_logs,
    channel,
    daemons,
    shut_down,
)

pytestmark = [
    pytest.mark.pid1,
    pytest.mark.skipif(REFUSAL is not None, reason=f"PID namespaces refused: {REFUSAL}"),
]

RPCS = ["TailLog", "WatchEvents", "StopProcess", "Update", "TailLog-main", "Health.Watch"]
TWO_SIGNALS = {k: SIGNALS[k] for k in ("SIGTERM", "SIGTERM-twice")}


@pytest.fixture
def midrpc() -> Iterator[Callable[..., Daemon]]:
    yield from daemons()


def _send_to_init(d: Daemon) -> Callable[[int], None]:
    """A signal for the namespace's PID 1 (the unshare process's only child), from the host."""
    init = wait_until(lambda: children_of(d.pid) and children_of(d.pid)[0])
    return lambda sig: os.kill(init, sig)


@pytest.mark.parametrize("sigs", TWO_SIGNALS.values(), ids=TWO_SIGNALS.keys())
@pytest.mark.parametrize("rpc", RPCS)
def test_pid_1_shut_down_in_the_middle_of_a_grpc_call(
    midrpc: Callable[..., Daemon], rpc: str, sigs: tuple[int, ...]
) -> None:
    d = midrpc(CONFIG, argv=INIT)
    assert d.wait_started() == 1, "not PID 1 in its namespace"
    case = CASES.get(rpc) or EXTRA_STREAMS[rpc]
    assert isinstance(case, InFlight)
    with channel(d) as ch:
        stub = pb_grpc.SupervisorServiceStub(ch)
        outcome = run_in_flight(d, stub, case, sigs, _send_to_init(d))
    assert outcome in case.allowed, f"{rpc}: {outcome}"
    assert_clean_logs(d)


@pytest.mark.parametrize("sigs", TWO_SIGNALS.values(), ids=TWO_SIGNALS.keys())
def test_pid_1_shut_down_under_a_logtail_follower(
    midrpc: Callable[..., Daemon], sigs: tuple[int, ...]
) -> None:
    d = midrpc(CONFIG, argv=INIT)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(CLIENT_TIMEOUT)
        sock.connect(str(d.dir / "x.sock"))
        sock.sendall(b"GET /logtail/quiet HTTP/1.0\r\n\r\n")
        received = b""
        while b"ready" not in received:
            received += sock.recv(4096)
        shut_down(d, sigs, _send_to_init(d))
        while sock.recv(4096):  # to EOF; a timeout here is a connection left open
            pass
    assert_clean_logs(d)
