"""The process table: which groups and processes exist, how they are found and ordered.

Owns: group name -> GroupSpec, (group, name) -> Process, pid -> Process (the only pid table),
start order (group priority, then program priority), namespec lookup.
May import: model, errors, logstore, machine, core.process.
Threading: loop thread only.
"""

from __future__ import annotations

from ..errors import Failed, NoSuchGroup, NoSuchProcess
from ..logstore import LogChannel, StreamFlusher
from ..machine import ProcessMachine
from ..model import DaemonSpec, GroupSpec, ProgramSpec
from .process import Process


class ProcessTable:
    def __init__(self) -> None:
        # Never rebound: the Supervisor hands these very dicts to the rooms that read them.
        self.groups: dict[str, GroupSpec] = {}
        self.processes: dict[tuple[str, str], Process] = {}
        self.by_pid: dict[int, Process] = {}

    def add(self, group: GroupSpec, procs: list[Process]) -> None:
        self.groups[group.name] = group
        for proc in procs:
            self.processes[(proc.group, proc.name)] = proc

    def drop(self, proc: Process) -> None:
        del self.processes[(proc.group, proc.name)]

    def drop_group(self, name: str) -> None:
        del self.groups[name]

    def in_group(self, name: str) -> list[Process]:
        return [p for p in self.processes.values() if p.group == name]

    def is_live(self, proc: Process) -> bool:
        """Still the process of its name (not one of a group removed or replaced since)."""
        return self.processes.get((proc.group, proc.name)) is proc

    def group_priority(self, proc: Process) -> int:
        group = self.groups.get(proc.group)
        return group.priority if group is not None else proc.spec.priority

    def order_key(self, proc: Process) -> tuple[int, int, str, str]:
        return (self.group_priority(proc), proc.spec.priority, proc.group, proc.name)

    def ordered(self) -> list[Process]:
        return sorted(self.processes.values(), key=self.order_key)

    def find(self, namespec: str) -> Process:
        """supervisor's namespec rules, plus a bare process name when it is unambiguous."""
        if ":" in namespec:
            group, _, name = namespec.partition(":")
            proc = self.processes.get((group, name))
            if proc is None:
                raise NoSuchProcess(namespec)
            return proc
        proc = self.processes.get((namespec, namespec))
        if proc is not None:
            return proc
        matches = [p for (g, n), p in self.processes.items() if n == namespec]
        if len(matches) == 1:
            return matches[0]
        raise NoSuchProcess(namespec)

    def find_targets(self, target: str) -> list[Process]:
        """``*``/``all``, ``group:*``/``group:``, ``group:name`` or ``name``, in start order."""
        if target in ("*", "all"):
            return self.ordered()
        if target.endswith(":*") or target.endswith(":"):
            group = target.rsplit(":", 1)[0]
            if group not in self.groups:
                raise NoSuchGroup(group)
            return [p for p in self.ordered() if p.group == group]
        return [self.find(target)]


def open_process(
    spec: ProgramSpec, daemon: DaemonSpec, ring_bytes: int, flusher: StreamFlusher | None = None
) -> Process:
    """A new process with its two log channels open (closed again if the second fails)."""
    channels: list[LogChannel] = []
    for channel, logspec in (("stdout", spec.stdout), ("stderr", spec.stderr)):
        ch = LogChannel(
            spec.name,
            None if (channel == "stderr" and spec.redirect_stderr) else logspec,
            childlogdir=daemon.childlogdir,
            identifier=daemon.identifier,
            channel=channel,
            ring_bytes=ring_bytes,
            strip_ansi=daemon.strip_ansi,
            flusher=flusher,
        )
        try:
            ch.open()
        except OSError:
            for opened in channels:
                opened.close()
            raise
        channels.append(ch)
    return Process(spec, ProcessMachine(spec), channels[0], channels[1])


def open_group(
    group: GroupSpec, daemon: DaemonSpec, ring_bytes: int, flusher: StreamFlusher | None = None
) -> list[Process]:
    """The processes of ``group``, every log file open, or none (one clear error)."""
    created: list[Process] = []
    try:
        for spec in group.programs:
            created.append(open_process(spec, daemon, ring_bytes, flusher))
    except OSError as exc:
        for proc in created:
            proc.stdout.close()
            proc.stderr.close()
        raise Failed(f"[{group.section}]: cannot open log file: {exc}")
    return created
