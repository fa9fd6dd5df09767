"""What callers ask of single processes: start (with its dependencies), stop (after its
dependents), signal, write to stdin.

Owns: nothing kept; it checks a request against the mood and the machine, then drives the
machine along the dependency lanes and hands back a waiter from the waiters' owner.
May import: model, errors, machine, core.process, core.deps, core.waiters, core.childpipes,
core.ports.
Threading: loop thread only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from ..errors import Failed, NoFile, NotExecutable, NotRunning, SupervisorError
from ..machine import Input, StartRequested, StopRequested
from ..model import STOPPED_STATES, ProcessState
from .childpipes import ChildPipes
from .deps import Dependencies
from .ports import Spawner
from .process import Process
from .waiters import Waiters

log = logging.getLogger("supgrpc")
S = ProcessState


@dataclass
class ActionOutcome:
    """What one process made of a request: an error now, or a waiter to resolve later."""

    process: Process
    error: SupervisorError | None = None
    waiter: Future[bool] | None = None


class Requests:
    def __init__(
        self,
        *,
        spawner: Spawner,
        deps: Dependencies,
        waiters: Waiters,
        child_pipes: ChildPipes,
        check_running: Callable[[], None],
        drive: Callable[[Process, Input], None],
    ) -> None:
        self.spawner = spawner
        self.deps = deps
        self.waiters = waiters
        self.child_pipes = child_pipes
        self.check_running = check_running
        self.drive = drive

    def start(self, proc: Process) -> ActionOutcome:
        self.check_running()
        state = proc.machine.state
        if state in STOPPED_STATES and state is not S.UNKNOWN:
            try:
                self.spawner.check(proc.spec)
            except (NoFile, NotExecutable) as exc:
                return ActionOutcome(proc, error=type(exc)(f"{proc.namespec}: {exc}"))
        try:
            self.drive(proc, StartRequested())
        except SupervisorError as exc:
            return ActionOutcome(proc, error=exc)
        # A program cannot run without its dependencies: start those that are stopped.
        for dep in self.deps.start_lane(proc):
            if dep.machine.state in (S.STOPPED, S.EXITED, S.FATAL):
                try:
                    self.drive(dep, StartRequested())
                except SupervisorError as exc:
                    log.warning("cannot start %s for %s: %s", dep.namespec, proc.namespec, exc)
        return ActionOutcome(proc, waiter=self.waiters.start(proc))

    def stop(self, proc: Process) -> ActionOutcome:
        """Stop ``proc``; running dependents are stopped first, and ``proc`` once they are."""
        self.check_running()
        m = proc.machine
        stoppable = m.state in (S.RUNNING, S.STARTING, S.BACKOFF) or (
            m.state is S.STOPPING and m.start_after_stop
        )
        if not stoppable:
            return ActionOutcome(proc, error=NotRunning(proc.namespec))
        running_dependents: list[Process] = []
        for dependent, deeper in self.deps.stop_lane(proc):
            running_dependents.append(dependent)
            if deeper:
                self.waiters.when_stopped(deeper, functools.partial(self._stop_now, dependent))
            elif dependent.machine.state is not S.STOPPING:
                self._stop_now(dependent)
        waiter = self.waiters.stop(proc)
        if running_dependents:
            self.waiters.when_stopped(running_dependents, functools.partial(self._stop_now, proc))
        else:
            self._stop_now(proc)
        return ActionOutcome(proc, waiter=waiter)

    def _stop_now(self, proc: Process) -> None:
        try:
            self.drive(proc, StopRequested())
        except SupervisorError:
            pass  # it stopped on its own meanwhile
        if proc.machine.state in STOPPED_STATES:
            self.waiters.settle(proc, proc.machine.state)

    def signal(self, proc: Process, signum: int) -> None:
        self.check_running()
        m = proc.machine
        if m.state not in (S.RUNNING, S.STARTING, S.STOPPING) or not m.pid:
            raise NotRunning(proc.namespec)
        try:
            self.spawner.kill(m.pid, signum, False, False)
        except OSError as exc:
            raise Failed(f"{proc.namespec}: {exc}")

    def send_stdin(self, proc: Process, data: bytes) -> None:
        self.check_running()
        self.child_pipes.send_stdin(proc, data)
