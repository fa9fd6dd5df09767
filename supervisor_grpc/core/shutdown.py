"""How the init ends: the daemon mood, the ordered stop, escalation, ``critical`` programs and
``exit_when``.

Owns: the mood (RUNNING / SHUTDOWN), the exit code, whether the loop may finish, when the
shutdown began and which priority level it waits for.
May import: model, errors, machine, logstore, core.process, core.table, core.deps,
core.policy, core.ports.
Threading: loop thread only.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

from ..errors import ShuttingDown
from ..logstore import EventJournal
from ..machine import Input, Publish, StopRequested
from ..model import (
    STOPPED_STATES,
    DaemonSpec,
    DaemonState,
    DaemonStateChanged,
    Event,
    ExitWhen,
    ProcessState,
)
from .deps import Dependencies
from .policy import failure_exit_code
from .ports import Clock, Spawner
from .process import Process
from .table import ProcessTable

log = logging.getLogger("supgrpc")
S = ProcessState
# A second shutdown request escalates to SIGKILL only this long after the first.
ESCALATE_AFTER_SECONDS = 1.0
Drive = Callable[[Process, Input], None]


class Shutdown:
    def __init__(
        self,
        spec: DaemonSpec,
        table: ProcessTable,
        deps: Dependencies,
        *,
        spawner: Spawner,
        journal: EventJournal[Event],
        clock: Clock,
        drive: Drive,
    ) -> None:
        self.spec = spec
        self.table = table
        self.deps = deps
        self.spawner = spawner
        self.journal = journal
        self.clock = clock
        self.drive = drive
        self.mood = DaemonState.RUNNING
        self.exit_code = 0
        self.finished = False
        self._began_mono = 0.0
        self._level: int | None = None

    @property
    def running(self) -> bool:
        return self.mood is DaemonState.RUNNING

    def check_running(self) -> None:
        if self.mood is not DaemonState.RUNNING:
            raise ShuttingDown("supervisor is shutting down")

    def request(
        self, reason: str, exit_code: int | None = None, *, level: int = logging.WARNING
    ) -> None:
        """Stop everything in reverse priority order, then let the loop finish.

        A second request while already shutting down SIGKILLs what is still stopping, as
        uvicorn treats a second Ctrl-C, but only from ESCALATE_AFTER_SECONDS on: one signal is
        often delivered twice at once (GNU timeout, for one, signals us and our process
        group), and that must not cut an orderly stop short. ``level`` is the log level of
        ``reason`` (supervisor logs exit requests as warnings; an expected end, such as
        single-command mode's command exiting, is not one).
        """
        if self.mood is DaemonState.SHUTDOWN:
            if self.clock() - self._began_mono < ESCALATE_AFTER_SECONDS:
                log.info("%s: already shutting down", reason)
                return
            log.warning("%s: killing remaining programs", reason)
            for proc in self.table.processes.values():
                m = proc.machine
                if m.pid and m.state is S.STOPPING:
                    self.spawner.kill(
                        m.pid, signal.SIGKILL, proc.spec.killasgroup, proc.spec.killtree
                    )
            return
        log.log(level, "%s", reason)
        if exit_code is not None:
            self.exit_code = exit_code
        self.mood = DaemonState.SHUTDOWN
        self._began_mono = self.clock()
        self.journal.append(DaemonStateChanged(self.clock(), DaemonState.SHUTDOWN, reason))
        for proc in self.table.processes.values():
            proc.machine.restart_allowed = False
        self.advance()

    def advance(self) -> None:
        """Stop the next priority level, and keep going while stops complete at once.

        A program held by a dependency (or already stopped) stops synchronously, with no exit
        or deadline to wake the loop afterwards; so one call must carry the shutdown as far
        as it can go now, or an init whose last programs were all held sleeps forever.
        """
        if self.mood is not DaemonState.SHUTDOWN:
            return
        while True:
            unstopped = [
                p for p in self.table.processes.values() if p.machine.state not in STOPPED_STATES
            ]
            if not unstopped:
                self.finished = True
                return
            if not self._stop_next_level(unstopped):
                return

    def _stop_next_level(self, unstopped: list[Process]) -> bool:
        """Ask the next level to stop; True when all of it stopped at once (go on)."""
        # A program stops only once everything that depends on it has stopped; among those
        # that may stop, the highest priority goes first, equal priorities together.
        stoppable = [
            p
            for p in unstopped
            if all(d.machine.state in STOPPED_STATES for d in self.deps.dependents(p))
        ] or unstopped
        priority = self.table.group_priority
        level = max(priority(p) for p in stoppable)
        waiting = []
        for proc in stoppable:
            if priority(proc) != level:
                continue
            if proc.machine.state in (S.RUNNING, S.STARTING, S.BACKOFF):
                self.drive(proc, StopRequested())
            if proc.machine.state not in STOPPED_STATES:
                waiting.append(proc.namespec)
        if waiting and self._level != level:
            self._level = level
            log.info("waiting for %s to die", ", ".join(sorted(waiting)))
        return not waiting

    # ---- end conditions -----------------------------------------------------------------

    def transition(self, proc: Process, pub: Publish, now: float) -> None:
        """Subscriber: ``critical`` programs and ``exit_when`` decide whether the init ends."""
        if self.mood is not DaemonState.RUNNING:
            return
        state = proc.machine.state  # after autorestart: STARTING when it will run again
        if pub.to_state not in (S.EXITED, S.FATAL) or state not in (S.EXITED, S.FATAL):
            return
        held = None if proc.spec.critical else self._held_critical(proc)
        if proc.spec.critical:
            self.request(
                f"critical program {proc.namespec} is {state.name} and will not be restarted: "
                "stopping everything",
                failure_exit_code(proc, critical=True),
            )
        elif held is not None:
            self.request(
                f"critical program {held.namespec} waits for {proc.namespec}, which is "
                f"{state.name} and will not be restarted: stopping everything",
                failure_exit_code(proc, critical=True),
            )
        elif self.spec.exit_when is ExitWhen.ANY:
            self.request(
                f"{proc.namespec} is done (exit_when=any)", failure_exit_code(proc, critical=False)
            )
        elif self.spec.exit_when is ExitWhen.ALL and all(
            self._done_for_good(p) for p in self.table.processes.values()
        ):
            codes = [
                failure_exit_code(p, critical=False)
                for p in self.table.ordered()
                if p.machine.state in (S.EXITED, S.FATAL)
            ]
            self.request("every program is done (exit_when=all)", next((c for c in codes if c), 0))

    def _held_critical(self, ended: Process) -> Process | None:
        """A critical program waiting (directly or not) on ``ended`` can never start."""
        for proc in self.table.processes.values():
            if proc.spec.critical and proc.machine.waiting and self.deps.depends_on(proc, ended):
                return proc
        return None

    def _done_for_good(self, proc: Process) -> bool:
        """For ``exit_when=all``: ended, or held waiting for a dependency that has ended (it
        would never start by itself, and the init must not wait for it forever)."""
        if proc.machine.state in (S.EXITED, S.FATAL, S.STOPPED):
            return True
        return proc.machine.waiting and any(self._done_for_good(d) for d in self.deps.of(proc))
