"""Control's waits (issue 11, items 2 and 12): one loop job per TailLog resolution, every
wait bounded, and close() answering outstanding waits (blocking and asyncio) with
ShuttingDown instead of leaving them hanging."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from supervisor_grpc.control import Control
from supervisor_grpc.control.aio import AsyncControl
from supervisor_grpc.control.waits import Wait, run_sync
from supervisor_grpc.errors import NoSuchProcess, ShuttingDown, Timeout
from supervisor_grpc.logstore import EventJournal
from supervisor_grpc.model import Channel, Event, GroupSpec, ProcessState
from tests.helpers import wait_until
from tests.unit.test_core import exit_, make, program, single, state


class Inbox:
    """Runs each job at once and counts them, or (``hold``) never runs them."""

    def __init__(self, hold: bool = False) -> None:
        self.jobs = 0
        self.hold = hold

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        self.jobs += 1
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if not self.hold:
            try:
                fut.set_result(fn())
            except Exception as exc:
                fut.set_exception(exc)
        return fut


class Proc:
    def __init__(self, group: str, name: str) -> None:
        self.group, self.name = group, name
        self.namespec = name if group == name else f"{group}:{name}"
        self.logs = {Channel.STDOUT: object(), Channel.STDERR: object()}

    def channel(self, ch: Channel) -> Any:
        return self.logs[ch]


def _control(inbox: Inbox, n: int = 100) -> Control:
    procs = {(f"g{i}", f"p{i}"): Proc(f"g{i}", f"p{i}") for i in range(n)}
    by_spec = {p.namespec: p for p in procs.values()}

    def find(name: str) -> Proc:
        if name not in by_spec:
            raise NoSuchProcess(name)
        return by_spec[name]

    def find_targets(target: str) -> list[Proc]:
        group = target.rstrip("*").rstrip(":")
        found = [p for p in procs.values() if p.group == group]
        if not found:
            raise NoSuchProcess(target)
        return found

    core = SimpleNamespace(
        journal=EventJournal[Event](10), processes=procs, find=find, find_targets=find_targets
    )
    return Control(inbox, core, lambda: None)  # type: ignore[arg-type]


def test_log_targets_of_a_hundred_programs_is_one_loop_job() -> None:
    inbox = Inbox()
    control = _control(inbox)
    plan = control.plan_log_targets(["*"], [Channel.STDOUT, Channel.STDERR])
    targets = run_sync(plan, control.closing)
    assert inbox.jobs == 1
    assert len(targets) == 200
    assert targets[0].namespec == "g0:p0" and targets[0].channel is Channel.STDOUT
    plan = control.plan_log_targets(["g1:*", "g2:p2", "g3:p?"], [Channel.STDOUT])
    assert [t.namespec for t in run_sync(plan, control.closing)] == ["g1:p1", "g2:p2", "g3:p3"]
    assert inbox.jobs == 2


def test_log_targets_names_what_is_missing_unless_re_resolving() -> None:
    control = _control(Inbox())
    with pytest.raises(NoSuchProcess):
        run_sync(control.plan_log_targets(["nope"], [Channel.STDOUT]), control.closing)
    plan = control.plan_log_targets(["nope", "g0:p0"], [Channel.STDOUT], missing_ok=True)
    assert [t.namespec for t in run_sync(plan, control.closing)] == ["g0:p0"]


def test_a_wait_has_a_bound_even_without_a_caller_deadline() -> None:
    never: concurrent.futures.Future[None] = concurrent.futures.Future()
    assert Wait(never, None, "x").bound() > 0
    assert Wait(never, None, "x", withdraw=True).bound() > 0
    control = _control(Inbox(hold=True))
    with pytest.raises(Timeout):
        control.call(lambda: 1, timeout=0.01)


def test_close_answers_a_blocked_sync_wait_with_shutting_down() -> None:
    control = _control(Inbox(hold=True))
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


def test_close_answers_a_pending_async_wait_with_shutting_down() -> None:
    control = _control(Inbox(hold=True))

    async def main() -> BaseException | None:
        aio = AsyncControl(control, asyncio.get_running_loop())
        task = asyncio.ensure_future(aio.list_processes())
        await asyncio.sleep(0)
        threading.Thread(target=control.close).start()
        try:
            await asyncio.wait_for(task, 10)
        except BaseException as exc:
            return exc
        return None

    assert isinstance(asyncio.run(main()), ShuttingDown)


def test_an_async_wait_resolves_from_another_thread() -> None:
    control = _control(Inbox())
    waiter: concurrent.futures.Future[str] = concurrent.futures.Future()

    def plan() -> Any:
        value = yield Wait(waiter, 10, "slow")
        return value

    async def main() -> str:
        aio = AsyncControl(control, asyncio.get_running_loop())
        threading.Timer(0.05, waiter.set_result, ("done",)).start()
        return await aio._waits.run(plan())

    assert asyncio.run(main()) == "done"


# ---- restart: one loop job (issue 13) -------------------------------------------------------


def _real(*groups: Any) -> tuple[Control, Inbox, Any, Any]:
    core, rt = make(*groups)
    core.autostart()
    inbox = Inbox()
    return Control(inbox, core, lambda: None), inbox, core, rt  # type: ignore[arg-type]


def test_restart_of_one_process_is_one_loop_job_then_the_core_s_future() -> None:
    control, inbox, core, rt = _real(single("web", startsecs=0))
    old_pid = core.find("web").machine.pid
    answer: list[Any] = []
    thread = threading.Thread(target=lambda: answer.append(control.restart("web", timeout=30)))
    thread.start()
    assert wait_until(lambda: state(core, "web") is ProcessState.STOPPING)
    exit_(core, rt, "web")  # the stop completes: the machine starts it again
    thread.join(30)
    assert [(r.namespec, r.error) for r in answer[0]] == [("web", None)]
    assert state(core, "web") is ProcessState.RUNNING
    assert core.find("web").machine.pid != old_pid
    assert inbox.jobs == 1


def test_restart_of_a_group_is_one_loop_job() -> None:
    group = GroupSpec(
        name="web",
        priority=5,
        programs=(program("a", group="web", startsecs=0), program("b", group="web", startsecs=0)),
    )
    control, inbox, core, rt = _real(group)
    results = control.restart("web:*", wait=False)
    assert inbox.jobs == 1
    assert [(r.namespec, r.error) for r in results] == [("web:a", None), ("web:b", None)]
    for name in ("web:a", "web:b"):
        exit_(core, rt, name)
        assert core.find(name).machine.state is ProcessState.RUNNING
    assert [name for name, _ in rt.spawned] == ["a", "b", "a", "b"]
    assert inbox.jobs == 1


def test_restart_of_what_is_not_running_starts_it_in_the_one_job() -> None:
    control, inbox, core, _ = _real(single("web", startsecs=0, autostart=False))
    results = control.restart("web")
    assert [(r.namespec, r.error) for r in results] == [("web", None)]
    assert state(core, "web") is ProcessState.RUNNING and inbox.jobs == 1
    with pytest.raises(NoSuchProcess):
        control.restart("nope")


# ---- the asyncio bridge's cost (issue 13: gRPC unary throughput) ---------------------------


class _CountingLoop(asyncio.SelectorEventLoop):
    """Counts the callbacks scheduled on it (``call_soon``, also via ``_threadsafe``)."""

    scheduled = 0

    def call_soon(self, *args: Any, **kwargs: Any) -> Any:
        self.scheduled += 1
        return super().call_soon(*args, **kwargs)

    def call_soon_threadsafe(self, *args: Any, **kwargs: Any) -> Any:
        self.scheduled += 1
        return super().call_soon_threadsafe(*args, **kwargs)


def test_an_awaited_loop_job_costs_two_asyncio_callbacks_and_leaves_nothing_behind() -> None:
    """One wake-up from the loop thread, one resumption of the coroutine: every further pass
    of the asyncio loop per job was gRPC unary throughput lost against the thread pool."""
    control = _control(Inbox(hold=True))
    job: concurrent.futures.Future[str] = concurrent.futures.Future()
    loop = _CountingLoop()
    try:

        async def main() -> tuple[str, int]:
            aio = AsyncControl(control, loop)

            def plan() -> Any:
                return (yield Wait(job, None, "slow", withdraw=True))

            task = loop.create_task(aio._waits.run(plan()))
            for _ in range(3):
                await asyncio.sleep(0)  # the task is parked on its wait
            before = loop.scheduled
            threading.Thread(target=job.set_result, args=("done",)).start()
            value = await task
            # our own await of the task is one more callback: not the bridge's
            return value, loop.scheduled - before - 1

        value, callbacks = loop.run_until_complete(main())
        assert value == "done"
        assert callbacks <= 2
        assert not [h for h in loop._scheduled if not h.cancelled()]  # the bound's timer went
    finally:
        loop.close()
