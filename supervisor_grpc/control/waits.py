"""How control waits: every request is a *plan* (a generator of steps), driven either by a
blocking thread (the XML-RPC shim) or by a coroutine (the grpc.aio front-end).

Owns: the steps a plan may yield (``Wait`` for a Future, ``Offload`` for blocking work), the
bounds every wait gets, the ``Closing`` signal that answers outstanding waits with
ShuttingDown, and the two drivers.
May import: errors, stdlib.
Threading: ``run_sync`` on any thread; ``run_async`` on an asyncio loop's thread (it never
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


class AsyncWaits:
    """One asyncio loop's side of the waits: bridges Futures and the Closing signal."""

    def __init__(self, loop: asyncio.AbstractEventLoop, closing: Closing) -> None:
        self._loop = loop
        self._closing = closing
        self._closed: asyncio.Future[None] = loop.create_future()
        closing.on_close(self._close_threadsafe)

    def _close_threadsafe(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._set_closed)
        except RuntimeError:
            pass  # that loop is gone: nobody waits there any more

    def _set_closed(self) -> None:
        if not self._closed.done():
            self._closed.set_result(None)

    def _bridge(self, fut: concurrent.futures.Future[Any]) -> asyncio.Future[None]:
        """Done (with no value) when ``fut`` is; never cancels ``fut`` itself."""
        mirror: asyncio.Future[None] = self._loop.create_future()

        def settle() -> None:
            if not mirror.done():
                mirror.set_result(None)

        def done(_: concurrent.futures.Future[Any]) -> None:
            try:
                self._loop.call_soon_threadsafe(settle)
            except RuntimeError:
                pass  # loop closed

        fut.add_done_callback(done)
        return mirror

    async def wait(self, step: Wait) -> Any:
        fut = step.future
        if not fut.done():
            if self._closing.closed:
                raise ShuttingDown(SHUTTING_DOWN)
            mirror = self._bridge(fut)
            try:
                await asyncio.wait(
                    (mirror, self._closed), timeout=step.bound(), return_when="FIRST_COMPLETED"
                )
            except asyncio.CancelledError:
                if step.withdraw:
                    fut.cancel()
                raise
            finally:
                mirror.cancel()
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
