"""Control's waits answered from another thread: asyncio waits resolved or failed by a thread
that is not the event loop's, and a restart waiting on the core while the test thread feeds the
exit. Threads and an asyncio loop (whose self-pipe is a socketpair): not unit tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

from supervisor_grpc.control.aio import AsyncControl
from supervisor_grpc.control.waits import Wait
from supervisor_grpc.errors import ShuttingDown
from supervisor_grpc.model import ProcessState
from tests.support import wait_until
from tests.support.fakes import CountingInbox, control_on, exit_, fake_control, single, state


def test_close_answers_a_pending_async_wait_with_shutting_down() -> None:
    control = fake_control(CountingInbox(hold=True))

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
    control = fake_control(CountingInbox())
    waiter: concurrent.futures.Future[str] = concurrent.futures.Future()

    def plan() -> Any:
        value = yield Wait(waiter, 10, "slow")
        return value

    async def main() -> str:
        aio = AsyncControl(control, asyncio.get_running_loop())
        threading.Timer(0.05, waiter.set_result, ("done",)).start()
        return await aio._waits.run(plan())

    assert asyncio.run(main()) == "done"


def test_restart_of_one_process_is_one_loop_job_then_the_core_s_future() -> None:
    control, inbox, core, rt = control_on(single("web", startsecs=0))
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
    control = fake_control(CountingInbox(hold=True))
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
