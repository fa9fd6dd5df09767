"""One supervised process as the core sees it: its machine plus what surrounds it."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

from ..logstore import LogChannel
from ..machine import ProcessMachine
from ..model import Channel, ProcessInfo, ProgramSpec


@dataclass(eq=False)
class Process:
    spec: ProgramSpec
    machine: ProcessMachine
    stdout: LogChannel
    stderr: LogChannel
    stdin_fd: int | None = None
    stdin_buffer: bytearray = field(default_factory=bytearray)
    start_waiters: list[Future[bool]] = field(default_factory=list)
    stop_waiters: list[Future[bool]] = field(default_factory=list)
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

    def info(self) -> ProcessInfo:
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
        )
