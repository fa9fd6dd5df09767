"""Shared pieces of the "shutdown in the middle of an RPC" tests: one config whose shutdown
takes a known time, clients with a bound on every read, and the checks every case ends with.

The config (``CONFIG``):
- ``stubborn`` ignores SIGTERM, so every shutdown (and every stop of it) takes
  ``STOPWAIT`` seconds and ends with SIGKILL: an RPC in flight has that long to misbehave;
- ``slowstart`` stays STARTING for a minute: a start-and-wait never returns by itself;
- ``quiet`` prints one line, then nothing: a follower waits on it forever.

Not a conftest: the test modules import what they need.
"""

from __future__ import annotations

import http.client
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support import Daemon, fixture_command, python_command, wait_until

STOPWAIT = 1
# What a shutdown may take beyond stubborn's stopwaitsecs: the front-ends' stop graces (gRPC
# 1 s, XML-RPC 2 s), the final sweep, and a loaded machine.
MARGIN = 8.0
BOUND = STOPWAIT + MARGIN
# No answer within this long means a hang: far above any RPC's normal time, far below the
# time it would take to notice otherwise.
CLIENT_TIMEOUT = 30.0

PROGRAMS = f"""
[program:stubborn]
command={fixture_command("ignore_term.py")}
stdout_logfile=%(here)s/stubborn.log
startsecs=0
stopwaitsecs={STOPWAIT}
priority=1

[program:slowstart]
command=sleep 1000
startsecs=60
autostart=false

[program:quiet]
command={python_command("print('ready', flush=True); import time; time.sleep(10000)")}
stdout_logfile=%(here)s/quiet.log
startsecs=0
"""

XMLRPC = """
[unix_http_server]
file=%(here)s/x.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%(here)s/x.sock
"""

CONFIG = XMLRPC + PROGRAMS

SIGNALS = {
    "SIGTERM": (signal.SIGTERM,),
    "SIGINT": (signal.SIGINT,),
    "SIGTERM-twice": (signal.SIGTERM, signal.SIGTERM),
}


def signal_params(
    calls: Iterable[str], *, every: Collection[str], sampled: Collection[str]
) -> list[Any]:
    """``(call, signals)`` parameters: each call with every signal named in ``every``, and with
    the other ones only for the ``sampled`` calls. Each case costs a whole shutdown (about
    ``STOPWAIT`` seconds), and SIGINT takes SIGTERM's path through the daemon (one shutdown
    request; the signal batch unit tests pin that), so a sample of it is enough."""
    calls = list(calls)
    unknown = set(sampled) - set(calls)
    assert not unknown, f"sampled calls that do not exist: {sorted(unknown)}"
    return [
        pytest.param(call, sigs, id=f"{call}-{name}")
        for call in calls
        for name, sigs in SIGNALS.items()
        if name in every or call in sampled
    ]


def daemons() -> Iterator[Callable[..., Daemon]]:
    """For a fixture: a factory of started supgrpcd (gRPC and XML-RPC on unix sockets) on
    ``config``, each in a short directory under /tmp (a socket path must fit in 107 bytes;
    pytest's tmp_path may not); killed and removed at teardown."""
    made: list[Daemon] = []

    def make(config: str = CONFIG, *, argv: list[str] | None = None) -> Daemon:
        directory = Path(tempfile.mkdtemp(prefix="mr-", dir="/tmp"))
        kw: dict[str, Any] = {} if argv is None else {"argv": argv}
        d = Daemon(
            directory,
            config,
            grpc=True,
            args=["--grpc-listen", f"unix://{directory / 'g.sock'}"],
            loglevel="debug",
            **kw,
        )
        made.append(d)
        d.start()
        wait_until(lambda: "ready" in d.program_log("stubborn.log"), timeout=CLIENT_TIMEOUT)
        wait_until(lambda: "ready" in d.program_log("quiet.log"), timeout=CLIENT_TIMEOUT)
        return d

    yield make
    for d in made:
        d.kill()
        shutil.rmtree(d.dir, ignore_errors=True)


def channel(d: Daemon) -> grpc.Channel:
    return grpc.insecure_channel(f"unix://{d.dir / 'g.sock'}")


def shut_down(
    d: Daemon, signals: tuple[int, ...], send: Callable[[int], None] | None = None
) -> float:
    """Send the first signal; a second one only once the shutdown is under way (stubborn is
    being waited for). Returns how long the daemon took to exit; asserts the exit status.
    ``send`` delivers a signal (default: to the daemon's process; as PID 1: to the init)."""
    send = send or d.send
    t0 = time.monotonic()
    send(signals[0])
    for sig in signals[1:]:
        d.wait_log(r"waiting for stubborn to die", timeout=BOUND)
        send(sig)
    code = d.wait(BOUND + 20)
    took = time.monotonic() - t0
    assert code == 0, d.diagnostics()
    assert took < BOUND, f"exit took {took:.1f}s (bound {BOUND}s)\n{d.diagnostics()}"
    return took


def assert_clean_logs(d: Daemon) -> None:
    for name, text in (("main log", d.log()), ("stderr", d.stderr())):
        assert "Traceback" not in text, f"traceback in the {name}:\n{d.diagnostics()}"
    assert re.search(r"exiting with status 0", d.log()), d.diagnostics()


# ---- gRPC outcomes -----------------------------------------------------------------------


def grpc_outcome(call: Callable[[], Any]) -> str:
    """'OK' or the status code's name."""
    try:
        call()
    except grpc.RpcError as exc:
        return str(exc.code().name)
    return "OK"


@dataclass
class Hammer:
    """Calls ``call`` again and again on a thread, from before the shutdown until the daemon
    is gone, and records every outcome (a status name, or 'OK')."""

    call: Callable[[], Any]
    outcome_of: Callable[[Callable[[], Any]], str] = grpc_outcome
    outcomes: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.is_set():
            self.outcomes.append(self.outcome_of(self.call))
            time.sleep(0.01)

    def start(self) -> Hammer:
        self._thread.start()
        wait_until(lambda: self.outcomes, timeout=CLIENT_TIMEOUT)
        return self

    def stop(self) -> set[str]:
        self.done.set()
        self._thread.join(CLIENT_TIMEOUT + 5)
        assert not self._thread.is_alive(), "a call hung"
        return set(self.outcomes)

    def across(self, d: Daemon, signals: tuple[int, ...]) -> set[str]:
        """Start calling, shut the daemon down, stop once a call was made after it exited."""
        self.start()
        shut_down(d, signals)
        count = len(self.outcomes)
        wait_until(lambda: len(self.outcomes) > count, timeout=CLIENT_TIMEOUT)
        return self.stop()


# ---- XML-RPC with a bound on every read ---------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path, self._timeout)


def xmlrpc_proxy(d: Daemon, timeout: float = CLIENT_TIMEOUT) -> Any:
    transport = _UnixTransport(str(d.dir / "x.sock"), timeout)
    return xmlrpc.client.ServerProxy("http://localhost", transport=transport)


# A closed connection (or, once the daemon is gone, a refused one) is a clean answer; a
# timeout is a hang and is never caught here.
CLOSED = (
    ConnectionError,
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    http.client.IncompleteRead,
    FileNotFoundError,
)


def xmlrpc_outcome(call: Callable[[], Any]) -> str:
    """'result', 'fault:<code>' or 'closed'."""
    try:
        call()
    except xmlrpc.client.Fault as fault:
        return f"fault:{fault.faultCode}"
    except xmlrpc.client.ProtocolError as exc:
        return f"http:{exc.errcode}"
    except CLOSED:
        return "closed"
    return "result"


def state_of(d: Daemon, name: str) -> str:
    with channel(d) as ch:
        from supgrpc.v1 import supervisor_pb2 as pb
        from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

        reply = pb_grpc.SupervisorServiceStub(ch).GetProcess(
            pb.GetProcessRequest(process=name), timeout=10
        )
        return str(pb.ProcessState.Name(reply.process.state))
