"""Everything a caller on another thread is waiting for: start/stop/update futures, and the
deferred steps ("once these have stopped, do this") that complete them.

Owns: per-process start and stop futures, pending update futures, the continuation list.
A future is resolved by :meth:`Waiters.transition` (a subscriber of every published change),
by :meth:`Waiters.run_ready`, or failed by :meth:`Waiters.fail_all` when the loop ends; so no
caller waits on a future nothing will complete.
May import: model, errors, core.process.
Threading: loop thread only (the futures themselves are read by RPC threads).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future

from ..errors import AbnormalTermination, SpawnError, SupervisorError
from ..machine import Publish
from ..model import STOPPED_STATES, ConfigDiff, ProcessState
from .process import Process

log = logging.getLogger("supgrpc")
S = ProcessState


class Waiters:
    def __init__(self) -> None:
        self._start: dict[Process, list[Future[bool]]] = {}
        self._stop: dict[Process, list[Future[bool]]] = {}
        self._updates: set[Future[ConfigDiff]] = set()
        self._continuations: list[tuple[list[Process], Callable[[], None]]] = []

    # ---- start / stop -------------------------------------------------------------------

    def start(self, proc: Process) -> Future[bool]:
        """A future for ``proc`` reaching RUNNING (or failing to), settled now if it can be."""
        waiter: Future[bool] = Future()
        state = proc.machine.state
        if state is S.RUNNING:
            waiter.set_result(True)
        elif state in (S.BACKOFF, S.FATAL):
            waiter.set_exception(SpawnError(f"{proc.namespec}: {proc.machine.spawn_error}"))
        else:
            self._start.setdefault(proc, []).append(waiter)
        return waiter

    def stop(self, proc: Process) -> Future[bool]:
        waiter: Future[bool] = Future()
        self._stop.setdefault(proc, []).append(waiter)
        return waiter

    def transition(self, proc: Process, pub: Publish, now: float) -> None:
        """Subscriber: resolve the futures a published transition answers."""
        self.settle(proc, pub.to_state)

    def settle(self, proc: Process, state: ProcessState) -> None:
        starts = self._start.pop(proc, None)
        if starts and state is S.STARTING:
            self._start[proc] = starts
        elif starts:
            keep = []
            for waiter in starts:
                if waiter.done():
                    continue
                if state is S.RUNNING:
                    waiter.set_result(True)
                elif state in (S.BACKOFF, S.FATAL):
                    waiter.set_exception(SpawnError(f"{proc.namespec}: {proc.machine.spawn_error}"))
                elif state is S.STOPPING or proc.machine.state in (S.STARTING, S.RUNNING):
                    # A restart in progress (stop, then the pending start): keep waiting for
                    # the transition that the new attempt publishes.
                    keep.append(waiter)
                else:
                    waiter.set_exception(AbnormalTermination(proc.namespec))
            if keep:
                self._start.setdefault(proc, []).extend(keep)
        if state in STOPPED_STATES:
            for waiter in self._stop.pop(proc, []):
                if not waiter.done():
                    waiter.set_result(True)

    def forget(self, proc: Process) -> None:
        """A removed process publishes nothing again; its futures are already settled."""
        self._start.pop(proc, None)
        self._stop.pop(proc, None)

    # ---- deferred steps and updates -----------------------------------------------------

    def when_stopped(self, procs: list[Process], step: Callable[[], None]) -> None:
        self._continuations.append((procs, step))

    def run_ready(self) -> None:
        """Run each deferred step whose processes have all stopped."""
        if not self._continuations:
            return
        ready = [
            (procs, fn)
            for procs, fn in self._continuations
            if all(p.machine.state in STOPPED_STATES for p in procs)
        ]
        if not ready:
            return
        self._continuations = [c for c in self._continuations if c not in ready]
        for _, fn in ready:
            try:
                fn()
            except SupervisorError as exc:
                log.error("update: %s", exc)
            except Exception:  # one broken continuation must not stop the others (rule 9)
                log.exception("internal error in a deferred step")

    def add_update(self, fut: Future[ConfigDiff]) -> None:
        self._updates.add(fut)

    def update_done(self, fut: Future[ConfigDiff]) -> None:
        self._updates.discard(fut)

    def fail_all(self, error: SupervisorError) -> None:
        """The loop is ending: nothing will publish or run a continuation again."""
        self._continuations.clear()
        updates, self._updates = self._updates, set()
        for fut in updates:
            if not fut.done():
                fut.set_exception(error)
        pending = [*self._start.values(), *self._stop.values()]
        self._start, self._stop = {}, {}
        for waiters in pending:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
