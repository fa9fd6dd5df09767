"""Control's waits (issue 11, items 2 and 12): one loop job per TailLog resolution, every
wait bounded, and close() answering outstanding waits (blocking and asyncio) with
ShuttingDown instead of leaving them hanging."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from supervisor_grpc.control.waits import Wait, run_sync
from supervisor_grpc.errors import NoSuchProcess, ShuttingDown, Timeout
from supervisor_grpc.model import Channel, GroupSpec, ProcessState
from tests.support.fakes import (
    CountingInbox,
    control_on,
    exit_,
    fake_control,
    program,
    single,
    state,
)


def test_log_targets_of_a_hundred_programs_is_one_loop_job() -> None:
    inbox = CountingInbox()
    control = fake_control(inbox)
    plan = control.plan_log_targets(["*"], [Channel.STDOUT, Channel.STDERR])
    targets = run_sync(plan, control.closing)
    assert inbox.jobs == 1
    assert len(targets) == 200
    assert targets[0].namespec == "g0:p0" and targets[0].channel is Channel.STDOUT
    plan = control.plan_log_targets(["g1:*", "g2:p2", "g3:p?"], [Channel.STDOUT])
    assert [t.namespec for t in run_sync(plan, control.closing)] == ["g1:p1", "g2:p2", "g3:p3"]
    assert inbox.jobs == 2


def test_log_targets_names_what_is_missing_unless_re_resolving() -> None:
    control = fake_control(CountingInbox())
    with pytest.raises(NoSuchProcess):
        run_sync(control.plan_log_targets(["nope"], [Channel.STDOUT]), control.closing)
    plan = control.plan_log_targets(["nope", "g0:p0"], [Channel.STDOUT], missing_ok=True)
    assert [t.namespec for t in run_sync(plan, control.closing)] == ["g0:p0"]


def test_a_wait_has_a_bound_even_without_a_caller_deadline() -> None:
    never: concurrent.futures.Future[None] = concurrent.futures.Future()
    assert Wait(never, None, "x").bound() > 0
    assert Wait(never, None, "x", withdraw=True).bound() > 0
    control = fake_control(CountingInbox(hold=True))
    with pytest.raises(Timeout):
        control.call(lambda: 1, timeout=0.01)


def test_close_answers_a_blocked_sync_wait_with_shutting_down() -> None:
    control = fake_control(CountingInbox(hold=True))
    outcome: list[BaseException] = []
    started = threading.Event()

    def ask() -> None:
        started.set()
        try:
            control.list_processes()
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    started.wait(5)
    control.close()
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ShuttingDown)
    with pytest.raises(ShuttingDown):
        control.list_processes()


# ---- restart: one loop job (issue 13) -------------------------------------------------------


def test_restart_of_a_group_is_one_loop_job() -> None:
    group = GroupSpec(
        name="web",
        priority=5,
        programs=(program("a", group="web", startsecs=0), program("b", group="web", startsecs=0)),
    )
    control, inbox, core, rt = control_on(group)
    results = control.restart("web:*", wait=False)
    assert inbox.jobs == 1
    assert [(r.namespec, r.error) for r in results] == [("web:a", None), ("web:b", None)]
    for name in ("web:a", "web:b"):
        exit_(core, rt, name)
        assert core.find(name).machine.state is ProcessState.RUNNING
    assert [name for name, _ in rt.spawned] == ["a", "b", "a", "b"]
    assert inbox.jobs == 1


def test_restart_of_what_is_not_running_starts_it_in_the_one_job() -> None:
    control, inbox, core, _ = control_on(single("web", startsecs=0, autostart=False))
    results = control.restart("web")
    assert [(r.namespec, r.error) for r in results] == [("web", None)]
    assert state(core, "web") is ProcessState.RUNNING and inbox.jobs == 1
    with pytest.raises(NoSuchProcess):
        control.restart("nope")
