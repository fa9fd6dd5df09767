"""The gRPC calls of the "shutdown in the middle of an RPC" tests: for every RPC of
SupervisorService, how to catch it in flight (an RPC that takes time) or call it over and over
(a quick one), and which outcomes are a clean answer. Used by tests/integration and tests/pid1.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from supgrpc.v1 import supervisor_pb2 as pb

from tests.support import Daemon, wait_until
from tests.support.midrpc_harness import (
    CLIENT_TIMEOUT,
    PROGRAMS,
    XMLRPC,
    Hammer,
    channel,
    grpc_outcome,
    shut_down,
    state_of,
)

GONE = {"UNAVAILABLE", "CANCELLED"}
REFUSED = {"FAILED_PRECONDITION"}  # ShuttingDown (and the RPC's own preconditions)


class Stream:
    """A server stream read on a thread: ``ready`` once a first message came, ``outcome``
    once it ended ('OK' or the status name)."""

    def __init__(self, call: Any, owned: grpc.Channel | None = None) -> None:
        self.call = call
        self.owned = owned
        self.messages = 0
        self.outcome: str | None = None
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        def drain() -> None:
            for _ in self.call:
                self.messages += 1

        self.outcome = grpc_outcome(drain)
        self.ended.set()

    def ready(self) -> bool:
        return self.messages > 0

    def result(self) -> str:
        assert self.ended.wait(CLIENT_TIMEOUT), "the stream never ended"
        assert self.outcome is not None
        if self.owned is not None:
            self.owned.close()
        return self.outcome


class Unary:
    def __init__(self, future: Any, ready: Callable[[], bool]) -> None:
        self.future = future
        self.ready = ready

    def result(self) -> str:
        return grpc_outcome(lambda: self.future.result(timeout=CLIENT_TIMEOUT))


@dataclass(frozen=True)
class InFlight:
    """An RPC that takes time: ``begin`` starts it, its ``ready`` says it is waiting."""

    begin: Callable[[Daemon, Any], Any]
    allowed: frozenset[str]


@dataclass(frozen=True)
class Repeated:
    """A quick RPC, called again and again across the shutdown."""

    call: Callable[[Daemon, Any], Any]
    allowed: frozenset[str]


T = CLIENT_TIMEOUT


def _waiting_for(d: Daemon, name: str, state: str) -> Callable[[], bool]:
    return lambda: state_of(d, name).endswith(state)


def _start(d: Daemon, s: Any) -> Unary:
    req = pb.StartProcessRequest(target="slowstart", wait=True)
    return Unary(s.StartProcess.future(req, timeout=T), _waiting_for(d, "slowstart", "STARTING"))


def _stop(d: Daemon, s: Any) -> Unary:
    req = pb.StopProcessRequest(target="stubborn", wait=True)
    return Unary(s.StopProcess.future(req, timeout=T), _waiting_for(d, "stubborn", "STOPPING"))


def _restart(d: Daemon, s: Any) -> Unary:
    req = pb.RestartProcessRequest(target="stubborn", wait=True)
    return Unary(s.RestartProcess.future(req, timeout=T), _waiting_for(d, "stubborn", "STOPPING"))


def _update(d: Daemon, s: Any) -> Unary:
    # stubborn's command changes: Update stops it (STOPWAIT seconds) before starting the new.
    d.write_config(XMLRPC + PROGRAMS.replace("ignore_term.py", "ignore_term.py --v2", 1))
    fut = s.Update.future(pb.UpdateRequest(), timeout=T)
    return Unary(fut, _waiting_for(d, "stubborn", "STOPPING"))


def _tail(d: Daemon, s: Any) -> Stream:
    req = pb.TailLogRequest(processes=["quiet"], follow=True, tail_bytes=100)
    return Stream(s.TailLog(req, timeout=T))


def _tail_main(d: Daemon, s: Any) -> Stream:
    req = pb.TailLogRequest(streams=[pb.LOG_STREAM_MAIN], follow=True, tail_bytes=100)
    return Stream(s.TailLog(req, timeout=T))


def _watch(d: Daemon, s: Any) -> Stream:
    return Stream(s.WatchEvents(pb.WatchEventsRequest(after_sequence=0), timeout=T))


def _health_watch(d: Daemon, s: Any) -> Stream:
    ch = channel(d)
    stub = health_pb2_grpc.HealthStub(ch)
    return Stream(stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=T), ch)


def _add_remove(d: Daemon, s: Any) -> None:
    s.AddGroup(pb.AddGroupRequest(group="late"), timeout=T)
    s.RemoveGroup(pb.RemoveGroupRequest(group="late"), timeout=T)


LATE = "\n[program:late]\ncommand=sleep 1000\nautostart=false\n"
ANY_OUTCOME_OF_A_CALL = frozenset({"OK"} | GONE | REFUSED)

CASES: dict[str, InFlight | Repeated] = {
    "GetState": Repeated(
        lambda d, s: s.GetState(pb.GetStateRequest(), timeout=T), ANY_OUTCOME_OF_A_CALL
    ),
    "ListProcesses": Repeated(
        lambda d, s: s.ListProcesses(pb.ListProcessesRequest(), timeout=T),
        ANY_OUTCOME_OF_A_CALL,
    ),
    "GetProcess": Repeated(
        lambda d, s: s.GetProcess(pb.GetProcessRequest(process="quiet"), timeout=T),
        ANY_OUTCOME_OF_A_CALL,
    ),
    "StartProcess": InFlight(_start, ANY_OUTCOME_OF_A_CALL),
    "StopProcess": InFlight(_stop, ANY_OUTCOME_OF_A_CALL),
    "RestartProcess": InFlight(_restart, ANY_OUTCOME_OF_A_CALL),
    "SignalProcess": Repeated(
        lambda d, s: s.SignalProcess(
            pb.SignalProcessRequest(target="stubborn", name="TERM"), timeout=T
        ),
        ANY_OUTCOME_OF_A_CALL,
    ),
    "WriteStdin": Repeated(
        lambda d, s: s.WriteStdin(pb.WriteStdinRequest(process="quiet", data=b"x\n"), timeout=T),
        ANY_OUTCOME_OF_A_CALL,
    ),
    "ReadLog": Repeated(
        lambda d, s: s.ReadLog(
            pb.ReadLogRequest(process="stubborn", stream=pb.LOG_STREAM_STDOUT), timeout=T
        ),
        ANY_OUTCOME_OF_A_CALL,
    ),
    "ClearLog": Repeated(
        lambda d, s: s.ClearLog(pb.ClearLogRequest(process="quiet"), timeout=T),
        ANY_OUTCOME_OF_A_CALL,
    ),
    "TailLog": InFlight(_tail, frozenset({"OK"} | GONE)),
    "WatchEvents": InFlight(_watch, frozenset({"OK"} | GONE)),
    "Reread": Repeated(lambda d, s: s.Reread(pb.RereadRequest(), timeout=T), ANY_OUTCOME_OF_A_CALL),
    "Update": InFlight(_update, ANY_OUTCOME_OF_A_CALL),
    "AddGroup": Repeated(_add_remove, ANY_OUTCOME_OF_A_CALL),
    "RemoveGroup": Repeated(
        lambda d, s: s.RemoveGroup(pb.RemoveGroupRequest(group="quiet"), timeout=T),
        ANY_OUTCOME_OF_A_CALL,
    ),
    "ReopenLogs": Repeated(
        lambda d, s: s.ReopenLogs(pb.ReopenLogsRequest(), timeout=T), ANY_OUTCOME_OF_A_CALL
    ),
    "Shutdown": Repeated(
        lambda d, s: s.Shutdown(pb.ShutdownRequest(), timeout=T), ANY_OUTCOME_OF_A_CALL
    ),
}
# Streams outside SupervisorService that a client may hold open across a shutdown.
EXTRA_STREAMS: dict[str, InFlight] = {
    "TailLog-main": InFlight(_tail_main, frozenset({"OK"} | GONE)),
    "Health.Watch": InFlight(_health_watch, frozenset({"OK"} | GONE)),
}


def run_in_flight(
    d: Daemon, stub: Any, case: InFlight, signals: tuple[int, ...], send: Any = None
) -> str:
    pending = case.begin(d, stub)
    wait_until(pending.ready, timeout=CLIENT_TIMEOUT, what=d.diagnostics)
    shut_down(d, signals, send)
    return str(pending.result())


def run_repeated(d: Daemon, stub: Any, case: Repeated, signals: tuple[int, ...]) -> set[str]:
    return Hammer(lambda: case.call(d, stub)).across(d, signals)
