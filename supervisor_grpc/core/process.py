"""One supervised process as the core sees it: its spec, its machine and its two log channels.

Owns: nothing beyond those (pipes, waiters, health and dependencies are kept by their owners,
keyed by the Process); ``last_spawn_error`` is set by the Supervisor when a spawn fails.
May import: model, machine, logstore.
Threading: loop thread only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..logstore import LogChannel
from ..machine import ProcessMachine
from ..model import Channel, Health, ProcessInfo, ProgramSpec


@dataclass(eq=False)
class Process:
    spec: ProgramSpec
    machine: ProcessMachine
    stdout: LogChannel
    stderr: LogChannel
    last_spawn_error: Exception | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def group(self) -> str:
        return self.spec.group

    @property
    def namespec(self) -> str:
        return self.spec.namespec

    def channel(self, channel: Channel) -> LogChannel:
        return self.stdout if channel is Channel.STDOUT else self.stderr

    def info(
        self, *, health: Health = Health.NONE, health_output: str = "", description: str = ""
    ) -> ProcessInfo:
        """The snapshot; what other owners know (health, dependencies) is passed in, so it is
        built once (a ``dataclasses.replace`` afterwards cost as much again per program)."""
        m = self.machine
        return ProcessInfo(
            name=self.spec.name,
            group=self.spec.group,
            state=m.state,
            pid=m.pid,
            start_mono=m.start_mono,
            stop_mono=m.stop_mono,
            exit_status=m.exit_status,
            spawn_error=m.spawn_error,
            stdout_logfile=self.stdout.path or "",
            stderr_logfile=self.stderr.path or "",
            expected=m.expected,
            autostart=self.spec.autostart,
            stdout_log=self.stdout.fault_info(),
            stderr_log=self.stderr.fault_info(),
            description=description,
            health=health,
            health_output=health_output,
        )
