"""Our extensions to supervisor's lifecycle: dependencies, health checks, critical programs,
``exit_when`` and restart-with-dependencies.

Loop thread only. A mixin of :class:`~supervisor_grpc.core.supervisor.Supervisor`, kept apart
so that supervisor's own semantics read on their own in supervisor.py.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..machine import DependenciesReady, Publish, StartRequested, StopRequested
from ..model import (
    DaemonSpec,
    DaemonState,
    Event,
    GroupSpec,
    Health,
    HealthSpec,
    ProcessInfo,
    ProcessState,
)
from .deps import dependencies_of, waiting_description
from .health import HealthMonitor, check_spec
from .policy import failure_exit_code
from .process import Process

if TYPE_CHECKING:
    from ..logstore import EventJournal
    from ..machine import Input
    from .ports import Pipes, Reactor, Spawner

log = logging.getLogger("supgrpc")
S = ProcessState


class ExtensionsMixin:
    if TYPE_CHECKING:
        spec: DaemonSpec
        groups: dict[str, GroupSpec]
        processes: dict[tuple[str, str], Process]
        journal: EventJournal[Event]
        mood: DaemonState
        health: HealthMonitor
        health_listeners: list[Callable[[Process, Health], None]]
        spawner: Spawner
        reactor: Reactor
        pipes: Pipes
        clock: Callable[[], float]
        _waiting: set[Process]
        _check_fds: dict[int, int]

        def _drive(self, proc: Process, event: Input, now: float | None = None) -> None: ...
        def _is_live(self, proc: Process) -> bool: ...
        def ordered(self) -> list[Process]: ...
        def request_shutdown(self, reason: str, exit_code: int | None = None) -> None: ...

    # ---- dependencies -------------------------------------------------------------------

    def deps(self, proc: Process) -> list[Process]:
        return dependencies_of(proc, self.processes, self.groups)

    def dependents(self, proc: Process) -> list[Process]:
        return [p for p in self.processes.values() if p.spec.depends_on and proc in self.deps(p)]

    def dep_ready(self, dep: Process) -> bool:
        if dep.machine.state is not S.RUNNING:
            return False
        return dep.spec.health is None or self.health.status(dep) is Health.HEALTHY

    def deps_ready(self, proc: Process) -> bool:
        wanted = proc.spec.depends_on
        found = self.deps(proc)
        return bool(found or not wanted) and all(self.dep_ready(d) for d in found)

    def _release_waiting(self) -> None:
        for proc in list(self._waiting):
            if not proc.machine.waiting or not self._is_live(proc):
                self._waiting.discard(proc)
            elif self.deps_ready(proc):
                self._waiting.discard(proc)
                self._drive(proc, DependenciesReady())

    def info(self, proc: Process) -> ProcessInfo:
        base = proc.info()
        description = ""
        if proc.machine.waiting:
            description = waiting_description(self.deps(proc), proc.spec.depends_on, self.dep_ready)
        return dataclasses.replace(
            base,
            health=self.health.status(proc),
            health_output=self.health.state(proc).output if proc.spec.health else "",
            description=description,
        )

    # ---- health, dependents, end conditions ----------------------------------------------

    def _spawn_check(self, proc: Process, health: HealthSpec) -> int:
        child = self.spawner.spawn(check_spec(proc, health))
        if child.stdin_fd is not None:
            self.pipes.close(child.stdin_fd)
        for fd in (child.stdout_fd, child.stderr_fd):
            if fd is not None:
                self._check_fds[fd] = child.pid
                self.reactor.add_reader(fd, self._on_check_readable)
        return child.pid

    def _kill_check(self, pid: int) -> None:
        self.spawner.kill(pid, 9, True, False)

    def _on_check_readable(self, fd: int, until_eof: bool = False) -> None:
        while True:
            data = self.pipes.read(fd)
            if data is None:
                return
            if not data:
                self.reactor.remove(fd)
                self.pipes.close(fd)
                self._check_fds.pop(fd, None)
                return
            self.health.check_output(self._check_fds.get(fd, 0), data)
            if not until_eof:
                return

    def _on_health_change(self, proc: Process, status: Health) -> None:
        output = self.health.state(proc).output
        level = logging.WARNING if status is Health.UNHEALTHY else logging.INFO
        log.log(
            level,
            "health: %s is %s%s",
            proc.namespec,
            status.value,
            f" ({output})" if output and status is Health.UNHEALTHY else "",
        )
        self.journal.append(
            Event(
                "health",
                self.clock(),
                name=proc.name,
                group=proc.group,
                pid=proc.machine.pid,
                reason=f"{status.value}: {output}" if output else status.value,
            )
        )
        for listener in self.health_listeners:
            listener(proc, status)
        spec = proc.spec.health
        if (
            status is Health.UNHEALTHY
            and spec is not None
            and spec.unhealthy_action == "restart"
            and self.mood is DaemonState.RUNNING
            and proc.machine.state is S.RUNNING
        ):
            log.warning("restarting %s: unhealthy", proc.namespec)
            self._drive(proc, StopRequested())
            self._drive(proc, StartRequested())

    def _restart_dependents(self, dep: Process) -> None:
        """``restart_with_dependencies``: a dependency left RUNNING, so its dependents go
        down now and come back once it is ready again."""
        for proc in self.dependents(dep):
            if not proc.spec.restart_with_dependencies:
                continue
            if proc.machine.state in (S.RUNNING, S.STARTING) and not proc.machine.waiting:
                log.info("restarting %s: its dependency %s restarted", proc.namespec, dep.namespec)
                self._drive(proc, StopRequested())
                self._drive(proc, StartRequested())

    def _check_end(self, proc: Process, pub: Publish) -> None:
        """``critical`` programs and ``exit_when``: decide whether the init itself ends."""
        state = proc.machine.state  # after autorestart: STARTING when it will run again
        if pub.to_state not in (S.EXITED, S.FATAL) or state not in (S.EXITED, S.FATAL):
            return
        if proc.spec.critical:
            self.request_shutdown(
                f"critical program {proc.namespec} is {state.name} and will not be restarted: "
                "stopping everything",
                failure_exit_code(proc, critical=True),
            )
        elif self._held_critical(proc) is not None:
            held = self._held_critical(proc)
            assert held is not None
            self.request_shutdown(
                f"critical program {held.namespec} waits for {proc.namespec}, which is "
                f"{state.name} and will not be restarted: stopping everything",
                failure_exit_code(proc, critical=True),
            )
        elif self.spec.exit_when == "any":
            self.request_shutdown(
                f"{proc.namespec} is done (exit_when=any)", failure_exit_code(proc, critical=False)
            )
        elif self.spec.exit_when == "all" and all(
            self._done_for_good(p) for p in self.processes.values()
        ):
            codes = [
                failure_exit_code(p, critical=False)
                for p in self.ordered()
                if p.machine.state in (S.EXITED, S.FATAL)
            ]
            self.request_shutdown(
                "every program is done (exit_when=all)", next((c for c in codes if c), 0)
            )

    def _held_critical(self, ended: Process) -> Process | None:
        """A critical program waiting (directly or not) on ``ended`` can never start."""
        for proc in self.processes.values():
            if proc.spec.critical and proc.machine.waiting and self._depends_on(proc, ended):
                return proc
        return None

    def _depends_on(
        self, proc: Process, target: Process, seen: frozenset[int] = frozenset()
    ) -> bool:
        for dep in self.deps(proc):
            if dep is target:
                return True
            if id(dep) not in seen and self._depends_on(dep, target, seen | {id(proc)}):
                return True
        return False

    def bound_dependents(self, procs: list[Process]) -> list[Process]:
        """Running programs with ``restart_with_dependencies`` that depend (transitively) on
        ``procs``: an explicit restart of ``procs`` brings them back afterwards."""
        out: list[Process] = []
        for proc in self.processes.values():
            if proc in procs or not proc.spec.restart_with_dependencies:
                continue
            if proc.machine.state in (S.RUNNING, S.STARTING) and any(
                self._depends_on(proc, p) for p in procs
            ):
                out.append(proc)
        return out

    def _done_for_good(self, proc: Process) -> bool:
        """For ``exit_when=all``: ended, or held waiting for a dependency that has ended (it
        would never start by itself, and the init must not wait for it forever)."""
        if proc.machine.state in (S.EXITED, S.FATAL, S.STOPPED):
            return True
        return proc.machine.waiting and any(self._done_for_good(d) for d in self.deps(proc))
