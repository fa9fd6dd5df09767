"""Adding and removing a group: every owner learns of the group's processes, or forgets them.

Owns: nothing of its own; it is the one place that knows which owners keep something per
process (table, listener hub, pipes, health, dependencies, waiters), so that a removed
process leaves nothing behind in any of them.
May import: model, errors, machine, logstore, the core owners.
Threading: loop thread only.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import AlreadyAdded, NoSuchProcess, NotSupported, StillRunning
from ..logstore import EventJournal, StreamFlusher
from ..machine import Input, StartRequested
from ..model import (
    STOPPED_STATES,
    DaemonSpec,
    Event,
    GroupAdded,
    GroupKind,
    GroupRemoved,
    GroupSpec,
)
from .childpipes import ChildPipes
from .deps import Dependencies
from .health import HealthMonitor
from .listeners import EventHub
from .process import Process
from .table import ProcessTable, open_group
from .waiters import Waiters


class Groups:
    def __init__(
        self,
        spec: DaemonSpec,
        *,
        table: ProcessTable,
        hub: EventHub,
        journal: EventJournal[Event],
        child_pipes: ChildPipes,
        health: HealthMonitor,
        dependencies: Dependencies,
        waiters: Waiters,
        clock: Callable[[], float],
        drive: Callable[[Process, Input], None],
        ring_bytes: int,
        flusher: StreamFlusher | None = None,
    ) -> None:
        self.spec = spec
        self.table = table
        self.hub = hub
        self.journal = journal
        self.child_pipes = child_pipes
        self.health = health
        self.dependencies = dependencies
        self.waiters = waiters
        self.clock = clock
        self.drive = drive
        self.ring_bytes = ring_bytes
        self.flusher = flusher

    def add(self, group: GroupSpec) -> None:
        """Create ``group`` (opening its log files); nothing starts yet."""
        if group.kind is GroupKind.FCGI_PROGRAM:
            raise NotSupported(
                f"[{group.section}]: {group.kind.value} sections are not supported yet"
            )
        created = open_group(group, self.spec, self.ring_bytes, self.flusher)
        self.table.add(group, created)
        self.hub.add_group(group, created)
        self.journal.append(GroupAdded(self.clock(), group.name))

    def add_named(self, name: str, latest: DaemonSpec) -> None:
        """addProcessGroup: add ``name`` from the last read config and start its autostarts."""
        if name in self.table.groups:
            raise AlreadyAdded(name)
        group = latest.group(name)
        if group is None:
            raise NoSuchProcess(name)
        self.add(group)
        for proc in self.table.ordered():
            if proc.group == name and proc.spec.autostart and proc.machine.start_mono is None:
                self.drive(proc, StartRequested())

    def remove(self, name: str) -> None:
        if name not in self.table.groups:
            raise NoSuchProcess(name)
        procs = self.table.in_group(name)
        if any(p.machine.state not in STOPPED_STATES for p in procs):
            raise StillRunning(name)
        for proc in procs:
            self._forget(proc)
        self.table.drop_group(name)
        self.journal.append(GroupRemoved(self.clock(), name))

    def _forget(self, proc: Process) -> None:
        """Drop a removed group's process: pipes, stdin, log files, health state."""
        self.table.drop(proc)
        self.child_pipes.forget(proc)
        self.health.forget(proc)
        self.hub.forget_process(proc)
        self.dependencies.forget(proc)
        self.waiters.forget(proc)
        proc.stdout.close()
        proc.stderr.close()
