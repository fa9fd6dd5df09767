"""A shutdown signal in the middle of every XML-RPC call that can take time, of the log
followers (``/logtail``, ``/mainlogtail``, the real ``supervisorctl tail -f`` and ``fg``),
and of quick calls made over and over across the shutdown.

The daemon must exit within its bound with status 0 and no traceback (midrpc_harness); each
client gets a response (a result, or a Fault that says why: SHUTDOWN_STATE) or a closed
connection, never a hang (every read has a bound) and never an HTTP 500.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import Daemon, read_text, wait_until
from tests.support.midrpc_harness import (
    CLIENT_TIMEOUT,
    CONFIG,
    Hammer,
    assert_clean_logs,
    daemons,
    shut_down,
    signal_params,
    state_of,
    xmlrpc_outcome,
    xmlrpc_proxy,
)


@pytest.fixture
def midrpc() -> Iterator[Callable[..., Daemon]]:
    yield from daemons()


SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")
SHUTDOWN_STATE = "fault:6"
ABNORMAL_TERMINATION = "fault:40"  # supervisor's answer to a start-and-wait whose start ended
CLEAN = frozenset({"result", "closed", SHUTDOWN_STATE})
STARTS = CLEAN | {ABNORMAL_TERMINATION}


class Call:
    """One XML-RPC call on a thread."""

    def __init__(self, d: Daemon, fn: Callable[[Any], Any], ready: Callable[[], bool]) -> None:
        self.ready = ready
        self.outcome: str | None = None
        self._ended = threading.Event()
        proxy = xmlrpc_proxy(d)

        def run() -> None:
            self.outcome = xmlrpc_outcome(lambda: fn(proxy))
            self._ended.set()

        threading.Thread(target=run, daemon=True).start()

    def result(self) -> str:
        assert self._ended.wait(CLIENT_TIMEOUT + 5), "the call never ended"
        assert self.outcome is not None
        return self.outcome


class LogTail:
    """A raw ``GET /logtail/...`` follower (what supervisorctl's tail -f sends)."""

    def __init__(self, d: Daemon, path: str) -> None:
        self.received = b""
        self.outcome: str | None = None
        self._ended = threading.Event()
        self._sock = socket.socket(socket.AF_UNIX)
        self._sock.settimeout(CLIENT_TIMEOUT)
        self._sock.connect(str(d.dir / "x.sock"))
        self._sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while chunk := self._sock.recv(65536):
                self.received += chunk
            self.outcome = "closed"
        except ConnectionError:
            self.outcome = "closed"
        except TimeoutError:
            self.outcome = "hang"
        finally:
            self._sock.close()
            self._ended.set()

    def ready(self) -> bool:
        return b"\r\n\r\n" in self.received and not self.received.endswith(b"\r\n\r\n")

    def result(self) -> str:
        assert self._ended.wait(CLIENT_TIMEOUT + 5)
        assert self.received.startswith(b"HTTP/1.0 200"), self.received[:200]
        assert self.outcome is not None
        return self.outcome


class Ctl:
    """The real supervisorctl, following a log; its output goes to a file we poll."""

    def __init__(self, d: Daemon, *args: str) -> None:
        self.out = d.dir / f"ctl-{args[0]}.out"
        self.fg = args[0] == "fg"
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                [SUPERVISORCTL, "-c", str(d.config_path), *args],
                stdin=subprocess.PIPE,  # fg reads it; kept open, as a terminal would be
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def ready(self) -> bool:
        return "ready" in read_text(self.out)

    def result(self) -> str:
        assert self.proc.stdin is not None
        if self.fg:
            # fg sits in input() by design (supervisorctl's do_fg, against supervisord too):
            # it notices the daemon is gone at the next line the user types.
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.write(b"x\n")
                self.proc.stdin.flush()
        try:
            self.proc.wait(CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "hang"
        finally:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        assert "Traceback" not in read_text(self.out), read_text(self.out)
        return "closed"


def _state(d: Daemon, name: str, state: str) -> Callable[[], bool]:
    return lambda: state_of(d, name).endswith(state)


@dataclass(frozen=True)
class InFlight:
    begin: Callable[[Daemon], Any]
    allowed: frozenset[str] = CLEAN


def _call(fn: Callable[[Any], Any], name: str, state: str) -> Callable[[Daemon], Call]:
    return lambda d: Call(d, fn, _state(d, name, state))


IN_FLIGHT: dict[str, InFlight] = {
    "startProcess-wait": InFlight(
        _call(lambda p: p.supervisor.startProcess("slowstart", True), "slowstart", "STARTING"),
        STARTS,
    ),
    "stopProcess-wait": InFlight(
        _call(lambda p: p.supervisor.stopProcess("stubborn", True), "stubborn", "STOPPING")
    ),
    "startAllProcesses-wait": InFlight(
        _call(lambda p: p.supervisor.startAllProcesses(True), "slowstart", "STARTING"), STARTS
    ),
    "stopAllProcesses-wait": InFlight(
        _call(lambda p: p.supervisor.stopAllProcesses(True), "stubborn", "STOPPING")
    ),
    "stopProcessGroup-wait": InFlight(
        _call(lambda p: p.supervisor.stopProcessGroup("stubborn", True), "stubborn", "STOPPING")
    ),
    "multicall-stop-wait": InFlight(
        _call(
            lambda p: p.system.multicall(
                [
                    {"methodName": "supervisor.stopProcess", "params": ["stubborn", True]},
                    {"methodName": "supervisor.getState", "params": []},
                ]
            ),
            "stubborn",
            "STOPPING",
        )
    ),
    # restart answers at once, then stops everything (stubborn: STOPWAIT s) to start again:
    # the signal lands in the middle of that.
    "restart": InFlight(_call(lambda p: p.supervisor.restart(), "stubborn", "STOPPING")),
    "logtail-follow": InFlight(lambda d: LogTail(d, "/logtail/quiet")),
    "mainlogtail-follow": InFlight(lambda d: LogTail(d, "/mainlogtail")),
    "supervisorctl-tail-f": InFlight(lambda d: Ctl(d, "tail", "-f", "quiet")),
    "supervisorctl-fg": InFlight(lambda d: Ctl(d, "fg", "quiet")),
}

REPEATED: dict[str, Callable[[Any], Any]] = {
    "getState": lambda p: p.supervisor.getState(),
    "getAllProcessInfo": lambda p: p.supervisor.getAllProcessInfo(),
    "readLog": lambda p: p.supervisor.readLog(0, 0),
    "readProcessStdoutLog": lambda p: p.supervisor.readProcessStdoutLog("stubborn", 0, 100),
    "tailProcessStdoutLog": lambda p: p.supervisor.tailProcessStdoutLog("quiet", 0, 100),
    "reloadConfig": lambda p: p.supervisor.reloadConfig(),
    "signalProcess": lambda p: p.supervisor.signalProcess("stubborn", "TERM"),
    "sendProcessStdin": lambda p: p.supervisor.sendProcessStdin("quiet", "x\n"),
    "clearProcessLogs": lambda p: p.supervisor.clearProcessLogs("quiet"),
    "shutdown": lambda p: p.supervisor.shutdown(),
    "multicall-getState": lambda p: p.system.multicall(
        [{"methodName": "supervisor.getState", "params": []}]
    ),
}


@pytest.mark.parametrize(
    ("call", "sigs"),
    signal_params(
        IN_FLIGHT,
        every=("SIGTERM", "SIGTERM-twice"),
        sampled=("stopProcess-wait", "logtail-follow"),
    ),
)
def test_shutdown_in_the_middle_of_an_xmlrpc_call(
    midrpc: Callable[..., Daemon], call: str, sigs: tuple[int, ...]
) -> None:
    d = midrpc(CONFIG)
    case = IN_FLIGHT[call]
    pending = case.begin(d)
    wait_until(pending.ready, timeout=CLIENT_TIMEOUT, what=d.diagnostics)
    shut_down(d, sigs)
    outcome = pending.result()
    assert outcome in case.allowed, f"{call}: {outcome}"
    assert_clean_logs(d)


@pytest.mark.parametrize(
    ("call", "sigs"), signal_params(REPEATED, every=("SIGTERM",), sampled=("getState",))
)
def test_xmlrpc_calls_across_a_shutdown(
    midrpc: Callable[..., Daemon], call: str, sigs: tuple[int, ...]
) -> None:
    d = midrpc(CONFIG)
    proxy_of_thread = xmlrpc_proxy(d)
    fn = REPEATED[call]
    outcomes = Hammer(lambda: fn(proxy_of_thread), xmlrpc_outcome).across(d, sigs)
    assert outcomes <= CLEAN, f"{call}: {outcomes}"
    assert_clean_logs(d)
