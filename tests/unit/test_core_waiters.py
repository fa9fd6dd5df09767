"""Every waiter the core hands out is resolved on every path: success, error and shutdown.

A Future left pending is an RPC thread waiting forever, and a non-daemon thread waiting
forever keeps the whole process (as PID 1: the container) alive after it said it exited.
"""

from __future__ import annotations

import pytest

from supervisor_grpc.errors import ShuttingDown
from supervisor_grpc.model import DaemonSpec, ProcessState
from tests.support.fakes import exit_, make, single

S = ProcessState


def _changed(core, name: str) -> None:
    core.latest = DaemonSpec(
        logfile=None, groups=(single(name, startsecs=0, command="/bin/changed"),)
    )


def test_update_interrupted_by_shutdown_fails_with_shutting_down() -> None:
    core, rt = make(single("slow", startsecs=0))
    core.autostart()
    _changed(core, "slow")
    done = core.update()
    assert not done.done() and state_of(core) is S.STOPPING
    core.request_shutdown("received SIGTERM indicating exit request")
    exit_(core, rt, "slow")  # the stop the update was waiting for ends during the shutdown
    assert core.finished
    with pytest.raises(ShuttingDown):
        done.result(0)


def test_update_still_waiting_when_the_loop_ends_is_failed_by_close() -> None:
    core, _rt = make(single("slow", startsecs=0))
    core.autostart()
    _changed(core, "slow")
    done = core.update()
    assert not done.done()
    core.close()  # e.g. the loop ended on a fatal error while the stop was pending
    with pytest.raises(ShuttingDown):
        done.result(0)


def test_start_and_stop_waiters_pending_at_close_are_failed() -> None:
    core, _rt = make(single("a", startsecs=5, autostart=False), single("b", startsecs=0))
    core.autostart()
    start = core.start_process(core.find("a"))
    stop = core.stop_process(core.find("b"))
    assert start.waiter is not None and not start.waiter.done()
    assert stop.waiter is not None and not stop.waiter.done()
    core.close()
    for waiter in (start.waiter, stop.waiter):
        with pytest.raises(ShuttingDown):
            waiter.result(0)


def test_a_completed_update_is_not_touched_by_close() -> None:
    core, rt = make(single("slow", startsecs=0))
    core.autostart()
    _changed(core, "slow")
    done = core.update()
    exit_(core, rt, "slow")
    diff = done.result(0)
    core.close()
    assert done.result(0) == diff


def state_of(core) -> ProcessState:
    return core.find("slow").machine.state
