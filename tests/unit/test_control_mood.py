"""Control.shutting_down: the daemon's mood from the journal the core writes, without a job on
the loop (XML-RPC's per-call SHUTDOWN_STATE check used to cost a loop round trip)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from supervisor_grpc.control import Control
from supervisor_grpc.logstore import EventJournal
from supervisor_grpc.model import (
    DaemonState,
    DaemonStateChanged,
    Event,
    ProcessState,
    ProcessStateChanged,
)


class RecordingInbox:
    """Runs each job at once (as if on the loop) and counts them."""

    def __init__(self) -> None:
        self.jobs = 0

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        self.jobs += 1
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        fut.set_result(fn())
        return fut


def control(capacity: int = 100) -> tuple[Control, Any, RecordingInbox]:
    spec = SimpleNamespace(identifier="supervisor", config_file="x.conf")
    core = SimpleNamespace(
        journal=EventJournal[Event](capacity), mood=DaemonState.RUNNING, spec=spec, started_mono=0
    )
    inbox = RecordingInbox()
    return Control(inbox, core, lambda: spec), core, inbox  # type: ignore[arg-type]


def process_event() -> Event:
    return ProcessStateChanged(0.0, "a", "a", ProcessState.STARTING, ProcessState.RUNNING)


def shutdown(core: Any) -> None:
    core.mood = DaemonState.SHUTDOWN
    core.journal.append(DaemonStateChanged(0.0, DaemonState.SHUTDOWN))


def test_follows_the_journal_without_loop_jobs() -> None:
    c, core, inbox = control()
    assert not c.shutting_down()
    for _ in range(5):
        core.journal.append(process_event())
    assert not c.shutting_down()
    shutdown(core)
    core.journal.append(process_event())
    assert c.shutting_down()
    assert c.shutting_down()  # stays so
    assert inbox.jobs == 0


def test_asks_the_loop_only_when_the_journal_outran_it() -> None:
    c, core, inbox = control(capacity=3)
    shutdown(core)
    for _ in range(10):  # the shutdown record has left the kept history
        core.journal.append(process_event())
    assert c.shutting_down()
    assert inbox.jobs == 1


def test_a_closed_journal_means_the_run_is_over() -> None:
    c, core, inbox = control()
    core.journal.close()
    assert c.shutting_down()
    assert inbox.jobs == 0
