"""A restart as ONE loop job: the target is resolved once, and the stop-then-start sequence
runs on the loop thread, driven by the waiters the core completes.

Owns: the order of a restart (stop by priority level, highest first, each level waited for;
then start by level, lowest first, each level waited for when the caller waits; then bring back
the ``restart_with_dependencies`` dependents the stop took down) and the Future that hands the
start outcomes to the caller.
May import: core (public methods only), model, errors, stdlib.
Threading: loop thread only (it is created inside an inbox job and continues from waiter
callbacks, which the core fires on the loop thread).

Why not a caller-side plan: each step of one (resolve, stop a level, start a level) was a round
trip through the inbox, with the target resolved again each time (5 round trips and 3
resolutions for ``restart web``). Here the caller submits one job and waits on one Future.
A waiter's callback fires inside the core's transition handling, so the next step is never run
from it directly (it would publish a STARTING before the core finished publishing the
STOPPED); it is posted back to the loop with ``defer``. A single-level restart (one process, or
a group whose programs share a priority) never needs that: once every process of the level is
STOPPING, the start is requested at once and the machine runs it when the stop completes.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from concurrent.futures import Future

from ..core import ActionOutcome, Process, Supervisor
from ..errors import NoFile, NotExecutable, SupervisorError
from ..model import STOPPED_STATES, ProcessState

S = ProcessState
Defer = Callable[[Callable[[], None]], object]


class Restart:
    """One restart request, from its single resolution to ``done`` (the start outcomes)."""

    def __init__(self, core: Supervisor, target: str, wait: bool, defer: Defer) -> None:
        self._core = core
        self._wait = wait
        self._defer = defer
        procs = core.find_targets(target)  # NoSuchProcess / NoSuchGroup: the job's error
        self.procs = procs
        # Dependents with restart_with_dependencies go down with the stop; bring them back.
        self._dependents = core.bound_dependents(procs)
        levels = [
            list(members)
            for _, members in itertools.groupby(procs, key=lambda p: core.order_key(p)[:2])
        ]
        self._stop_levels = list(reversed(levels))
        self._start_levels = levels
        self._failures: dict[Process, SupervisorError] = {}
        self._started: list[ActionOutcome] = []
        self.done: Future[list[ActionOutcome]] = Future()

    def begin(self) -> Restart:
        """Loop thread, inside the one job: stop (and, when it can, start) right away.

        Errors raised here (ShuttingDown) are the job's error, as they were before.
        """
        self._stop_next()
        return self

    # ---- steps ---------------------------------------------------------------------------

    def _step(self, fn: Callable[[], None]) -> Callable[[], None]:
        """A deferred step: its error answers the caller instead of vanishing in the loop."""

        def run() -> None:
            if self.done.done():
                return
            try:
                fn()
            except SupervisorError as exc:
                self.done.set_exception(exc)

        return run

    def _after(self, waiters: list[Future[bool]], then: Callable[[], None]) -> None:
        """Run ``then`` (posted back to the loop) once every waiter is done."""
        pending = [w for w in waiters if not w.done()]
        if not pending:
            then()
            return
        remaining = [len(pending)]

        def one_done(_: Future[bool]) -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                self._defer(self._step(then))

        for waiter in pending:
            waiter.add_done_callback(one_done)

    def _stop_next(self) -> None:
        if not self._stop_levels:
            self._start_next()
            return
        level = self._stop_levels.pop(0)
        waiters: list[Future[bool]] = []
        for proc in level:
            if self._core.processes.get((proc.group, proc.name)) is not proc:
                continue  # removed meanwhile
            outcome = self._core.stop_process(proc)
            if outcome.error is not None and outcome.error.code != "NOT_RUNNING":
                self._failures[proc] = outcome.error
            if outcome.waiter is not None:
                waiters.append(outcome.waiter)
                outcome.waiter.add_done_callback(functools.partial(self._stop_failed, proc))
        if not self._stop_levels and all(self._stopping(p) for p in level):
            # The last stop level is the first start level: the machine starts each process
            # when its stop completes (start_after_stop), so no step has to wait for it.
            self._start_next()
            return
        self._after(waiters, self._stop_next)

    def _stop_failed(self, proc: Process, waiter: Future[bool]) -> None:
        error = waiter.exception()
        if isinstance(error, SupervisorError):
            self._failures[proc] = error

    def _stopping(self, proc: Process) -> bool:
        state = proc.machine.state
        return state is S.STOPPING or state in STOPPED_STATES

    def _start_next(self) -> None:
        while self._start_levels:
            level = self._start_levels.pop(0)
            waiters: list[Future[bool]] = []
            for proc in level:
                if self._core.processes.get((proc.group, proc.name)) is not proc:
                    continue  # removed meanwhile
                outcome = self._start(proc)
                self._started.append(outcome)
                if outcome.waiter is not None:
                    waiters.append(outcome.waiter)
            if self._wait and self._start_levels and any(not w.done() for w in waiters):
                self._after(waiters, self._start_next)
                return
        self._finish()

    def _start(self, proc: Process) -> ActionOutcome:
        if proc.machine.state is S.STOPPING:
            # start_process checks the command only from a stopped state; a restart that is
            # still stopping must fail the same way as one that had stopped.
            try:
                self._core.spawner.check(proc.spec)
            except (NoFile, NotExecutable) as exc:
                return ActionOutcome(proc, error=type(exc)(f"{proc.namespec}: {exc}"))
        return self._core.start_process(proc)

    def _finish(self) -> None:
        for dependent in self._dependents:
            if self._core.processes.get((dependent.group, dependent.name)) is not dependent:
                continue  # removed meanwhile: nothing to bring back
            try:
                self._core.start_process(dependent)
            except SupervisorError:
                pass  # shutting down meanwhile
        outcomes = [
            ActionOutcome(o.process, error=self._failures[o.process])
            if o.process in self._failures
            else o
            for o in self._started
        ]
        self.done.set_result(outcomes)
