"""Dependencies in the machine: a start waits in STARTING (no pid, no Spawn) until released."""

from __future__ import annotations

import signal

from supervisor_grpc.machine import (
    DependenciesReady,
    Kill,
    ProcessMachine,
    Publish,
    Spawn,
    Spawned,
    StartRequested,
    StopRequested,
    Tick,
)
from supervisor_grpc.model import ProcessState as S
from tests.support.fakes import make_spec


def waiting_machine() -> ProcessMachine:
    m = ProcessMachine(make_spec(startsecs=2))
    m.deps_ready = False
    effects = m.handle(StartRequested(), 0.0)
    assert effects == [Publish(S.STOPPED, S.STARTING, 0, True, "", "info")]
    return m


def test_start_with_unready_dependencies_waits_without_spawn_or_deadline() -> None:
    m = waiting_machine()
    assert (m.state, m.pid, m.waiting, m.deadline) == (S.STARTING, 0, True, None)
    assert m.handle(Tick(), 100.0) == []


def test_dependencies_ready_spawns_and_starts_the_startsecs_clock_then() -> None:
    m = waiting_machine()
    assert m.handle(DependenciesReady(), 5.0) == [Spawn()]
    assert m.handle(Spawned(42), 5.0) == []
    assert m.deadline == 7.0
    assert m.handle(Tick(), 7.0)[0].to_state is S.RUNNING  # type: ignore[union-attr]


def test_stop_while_waiting_goes_stopped_without_kill() -> None:
    m = waiting_machine()
    assert m.handle(StopRequested(), 1.0) == [Publish(S.STARTING, S.STOPPED, 0, True, "", "info")]
    assert not m.waiting
    assert m.handle(DependenciesReady(), 2.0) == []  # too late: nothing to release


def test_dependencies_ready_is_ignored_unless_waiting() -> None:
    m = ProcessMachine(make_spec(startsecs=0))
    assert m.handle(DependenciesReady(), 0.0) == []
    m.handle(StartRequested(), 0.0)
    m.handle(Spawned(7), 0.0)
    assert m.handle(DependenciesReady(), 1.0) == []
    assert m.handle(StopRequested(), 1.0)[-1] == Kill(7, int(signal.SIGTERM), False)
