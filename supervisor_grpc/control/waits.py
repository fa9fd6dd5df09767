"""How control waits: every request is a *plan* (a generator of steps), driven either by a
blocking thread (the XML-RPC shim) or by a coroutine (the grpc.aio front-end).

Owns: the steps a plan may yield (``Wait`` for a Future, ``Offload`` for blocking work), the
bounds every wait gets, the ``Closing`` signal that answers outstanding waits with
ShuttingDown, and the two drivers.
May import: errors, stdlib.
Threading: ``run_sync`` on any thread; ``AsyncWaits.run`` on an asyncio loop's thread (it never
blocks that thread: Futures are bridged with ``call_soon_threadsafe``, blocking work runs in
asyncio's default executor). ``Closing.close`` from any thread.

One plan, two drivers, so the rules of a request (priority levels, which waits turn into
per-process Timeouts) are written once whichever front-end asks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ShuttingDown, Timeout

T = TypeVar("T")

# A job queued for the loop thread is answered within milliseconds unless the loop is stuck;
# past this a caller gets Timeout instead of hanging with it.
LOOP_JOB_SECONDS = 60.0
# A waiter the core hands back (RUNNING, STOPPED, an update) with no caller deadline: the
# longest any front-end keeps one request open for it.
WAITER_SECONDS = 3600.0
SHUTTING_DOWN = "supervisor is shutting down"


@dataclass(frozen=True, slots=True)
class Wait:
    """A Future the plan needs answered, within ``timeout`` (None: the default bound)."""

    future: concurrent.futures.Future[Any]
    timeout: float | None
    message: str  # the Timeout's text
    # A queued inbox job can be withdrawn on timeout; a core waiter cannot (the loop owns it).
    withdraw: bool = False

    def bound(self) -> float:
        default = LOOP_JOB_SECONDS if self.withdraw else WAITER_SECONDS
        return default if self.timeout is None else max(0.0, min(self.timeout, default))


@dataclass(frozen=True, slots=True)
class Offload:
    """Blocking work that is not the loop's (reading the config files)."""

    fn: Callable[[], Any]


Step = Wait | Offload
Plan = Generator[Step, Any, T]


class Closing:
    """Set once when the daemon is done: every outstanding and later wait raises ShuttingDown.

    Sync waiters watch ``future`` (``concurrent.futures.wait`` removes its waiter afterwards,
    so nothing accumulates); asyncio loops register a callback that wakes their own waits.
    """

    def __init__(self) -> None:
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []

    @property
    def closed(self) -> bool:
        return self.future.done()

    def on_close(self, hook: Callable[[], None]) -> None:
        with self._lock:
            if not self.future.done():
                self._hooks.append(hook)
                return
        hook()

    def close(self) -> None:
        with self._lock:
            if self.future.done():
                return
            self.future.set_result(None)
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            hook()


def _outcome(step: Wait, closing: Closing) -> Any:
    fut = step.future
    if fut.done():
        if fut.cancelled():
            raise ShuttingDown(SHUTTING_DOWN)
        return fut.result()
    if step.withdraw:
        fut.cancel()  # still queued: the loop will skip it
    if closing.closed:
        raise ShuttingDown(SHUTTING_DOWN)
    raise Timeout(step.message)


def run_sync(plan: Plan[T], closing: Closing) -> T:
    """Drive ``plan`` on this thread, blocking at each step (each wait bounded)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = plan.send(value) if error is None else plan.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(step, Offload):
                value = step.fn()
            else:
                if closing.closed and not step.future.done():
                    raise ShuttingDown(SHUTTING_DOWN)
                concurrent.futures.wait(
                    (step.future, closing.future),
                    step.bound(),
                    concurrent.futures.FIRST_COMPLETED,
                )
                value = _outcome(step, closing)
        except Exception as exc:
            error = exc


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class AsyncWaits:
    """One asyncio loop's side of the waits: bridges Futures and the Closing signal.

    Each wait is one asyncio Future that the coroutine awaits directly. Whatever comes first
    settles it: the concurrent Future's done-callback (one ``call_soon_threadsafe``), the bound
    (one timer), or ``Closing`` (which settles every pending one). No ``asyncio.wait``: it
    costs a set, a callback per member, a second Future and one more loop pass per wake-up,
    which on the unary path was most of what grpc.aio lost against the thread pool.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, closing: Closing) -> None:
        self._loop = loop
        self._closing = closing
        self._pending: set[asyncio.Future[None]] = set()
        closing.on_close(self._close_threadsafe)

    def _close_threadsafe(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._settle_all)
        except RuntimeError:
            pass  # that loop is gone: nobody waits there any more

    def _settle_all(self) -> None:
        for waiter in list(self._pending):
            _settle(waiter)

    async def wait(self, step: Wait) -> Any:
        fut = step.future
        if not fut.done():
            if self._closing.closed:
                raise ShuttingDown(SHUTTING_DOWN)
            loop = self._loop
            waiter: asyncio.Future[None] = loop.create_future()

            def done(_: concurrent.futures.Future[Any]) -> None:
                try:
                    loop.call_soon_threadsafe(_settle, waiter)
                except RuntimeError:
                    pass  # loop closed

            # A close() after the check above schedules _settle_all on this loop, so it runs
            # after the registration below (nothing here yields before the await).
            self._pending.add(waiter)
            timer = loop.call_later(step.bound(), _settle, waiter)
            fut.add_done_callback(done)
            try:
                await waiter
            except asyncio.CancelledError:
                if step.withdraw:
                    fut.cancel()
                raise
            finally:
                timer.cancel()
                self._pending.discard(waiter)
        return _outcome(step, self._closing)

    async def run(self, plan: Plan[T]) -> T:
        """Drive ``plan`` as a coroutine: no thread is held while it waits."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = plan.send(value) if error is None else plan.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            try:
                if isinstance(step, Offload):
                    value = await asyncio.to_thread(step.fn)
                else:
                    value = await self.wait(step)
            except asyncio.CancelledError:
                plan.close()
                raise
            except Exception as exc:
                error = exc
