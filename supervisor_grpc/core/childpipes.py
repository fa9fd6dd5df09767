"""A child's pipes as the core handles them: output to its log channels (and the forwarder),
drained to EOF before its exit is recorded, and buffered writes to its stdin.

Owns: which fd belongs to which process and channel, each child's output fds (by pid), each
process's stdin fd and unsent stdin bytes, health-check children's output fds, the output forwarder.
May import: model, errors, logstore, core.process, core.ports, core.listeners, core.health.
Threading: loop thread only (reactor callbacks run on it).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from ..errors import NoFile, NotRunning
from ..logstore import Forwarder, LogChannel
from ..model import HealthSpec, ProcessState
from .health import check_spec
from .listeners import EventHub
from .ports import Child, Pipes, Reactor, Spawner
from .process import Process

log = logging.getLogger("supgrpc")
S = ProcessState


class ChildPipes:
    def __init__(self, reactor: Reactor, pipes: Pipes, hub: EventHub, spawner: Spawner):
        self.reactor = reactor
        self.pipes = pipes
        self.hub = hub
        self.spawner = spawner
        # Where a check's output goes (the health monitor, built after this).
        self.check_output: Callable[[int, bytes], None] = lambda _pid, _data: None
        self.forwarder: Forwarder | None = None
        self._fd_owner: dict[int, tuple[Process, LogChannel]] = {}
        self._child_fds: dict[int, list[int]] = {}  # pid -> its output fds
        self._stdin: dict[Process, int] = {}
        self._stdin_buffer: dict[Process, bytearray] = {}
        self._check_fds: dict[int, int] = {}  # health-check output fd -> check pid

    # ---- program output -----------------------------------------------------------------

    def attach(self, proc: Process, child: Child) -> None:
        """A fresh child of ``proc``: follow its output, and take its stdin."""
        pairs = [
            (fd, channel)
            for fd, channel in ((child.stdout_fd, proc.stdout), (child.stderr_fd, proc.stderr))
            if fd is not None
        ]
        self._child_fds[child.pid] = [fd for fd, _ in pairs]
        for fd, channel in pairs:
            self._fd_owner[fd] = (proc, channel)
            self.reactor.add_reader(fd, self.on_readable)
        if child.stdin_fd is not None:
            self._stdin[proc] = child.stdin_fd
        else:
            self._stdin.pop(proc, None)
        self._stdin_buffer.pop(proc, None)

    def on_readable(self, fd: int) -> None:
        owner = self._fd_owner.get(fd)
        if owner is None:
            self.reactor.remove(fd)
            return
        data = self.pipes.read(fd)
        if data is None:
            return
        if data:
            self._record(owner[0], owner[1], data)
        else:
            self._close_output(fd)

    def _record(self, proc: Process, channel: LogChannel, data: bytes) -> None:
        if proc in self.hub.watched:  # listener protocol, capture mode, log events
            data = self.hub.output(proc, channel.channel, data)
        channel.write(data)
        if self.forwarder is not None:
            self.forwarder.feed(proc.name, channel.channel, data)

    def _close_output(self, fd: int) -> None:
        self.reactor.remove(fd)
        self.pipes.close(fd)
        owner = self._fd_owner.pop(fd, None)
        if owner is not None and owner[0] in self.hub.watched:
            self._record_tail(owner[0], owner[1])
        if owner is not None and self.forwarder is not None:
            self.forwarder.flush(owner[0].name, owner[1].channel)

    def _record_tail(self, proc: Process, channel: LogChannel) -> None:
        tail = self.hub.output_closed(proc, channel.channel)
        if tail:
            channel.write(tail)
            if self.forwarder is not None:
                self.forwarder.feed(proc.name, channel.channel, tail)

    def _drain(self, fd: int) -> None:
        """Read everything the child left in the pipe (its last words) before its exit."""
        owner = self._fd_owner.get(fd)
        while owner is not None:
            data = self.pipes.read(fd)
            if data is None:
                return  # a grandchild still holds the pipe: keep following it
            if not data:
                self._close_output(fd)
                return
            self._record(owner[0], owner[1], data)

    def child_exited(self, pid: int, proc: Process) -> None:
        """Before the exit is recorded: drain its output, close its stdin."""
        for fd in self._child_fds.pop(pid, []):
            self._drain(fd)
        self.close_stdin(proc)

    def drain_all(self) -> None:
        for fd in list(self._fd_owner):
            self._drain(fd)

    def forget(self, proc: Process) -> None:
        for fd, (owner, _) in list(self._fd_owner.items()):
            if owner is proc:
                self._close_output(fd)
        self.close_stdin(proc)

    def close_all(self) -> None:
        for fd in list(self._fd_owner):
            self._drain(fd)
            if fd in self._fd_owner:
                self._close_output(fd)
        for proc in list(self._stdin):
            self.close_stdin(proc)
        for fd in list(self._check_fds):
            self.reactor.remove(fd)
            self.pipes.close(fd)
        self._check_fds.clear()

    # ---- stdin --------------------------------------------------------------------------

    def stdin_fd(self, proc: Process) -> int | None:
        return self._stdin.get(proc)

    def send_stdin(self, proc: Process, data: bytes) -> None:
        m = proc.machine
        if not m.pid or m.state is S.STOPPING or proc not in self._stdin:
            raise NotRunning(proc.namespec)
        self._stdin_buffer.setdefault(proc, bytearray()).extend(data)
        self._flush_stdin(proc)

    def listener_write(self, proc: Process, data: bytes) -> bool:
        """Queue an envelope on a listener's stdin (never blocking); False = like EPIPE."""
        if not proc.machine.pid or proc not in self._stdin:
            return False
        self._stdin_buffer.setdefault(proc, bytearray()).extend(data)
        try:
            self._flush_stdin(proc)
        except NoFile:
            return False
        return True

    def _flush_stdin(self, proc: Process) -> None:
        fd = self._stdin.get(proc)
        buffer = self._stdin_buffer.get(proc)
        if fd is None or buffer is None:
            self._stdin_buffer.pop(proc, None)
            return
        try:
            while buffer:
                n = self.pipes.write(fd, bytes(buffer[: 1 << 16]))
                if n == 0:
                    break
                del buffer[:n]
        except OSError:
            self._stdin_buffer.pop(proc, None)
            self.close_stdin(proc)
            raise NoFile(f"{proc.namespec}: stdin is closed")
        self.reactor.remove(fd)
        if buffer:
            self.reactor.add_writer(fd, functools.partial(self._on_stdin_writable, proc))

    def _on_stdin_writable(self, proc: Process, _fd: int) -> None:
        try:
            self._flush_stdin(proc)
        except NoFile:
            log.debug("stdin of %s closed while writing", proc.namespec)

    def close_stdin(self, proc: Process) -> None:
        fd = self._stdin.pop(proc, None)
        self._stdin_buffer.pop(proc, None)
        if fd is not None:
            self.reactor.remove(fd)
            self.pipes.close(fd)

    # ---- health-check output ------------------------------------------------------------

    def spawn_check(self, proc: Process, health: HealthSpec) -> int:
        """Run a command check as a child of ours, its output followed like a program's."""
        child = self.spawner.spawn(check_spec(proc, health))
        if child.stdin_fd is not None:
            self.pipes.close(child.stdin_fd)
        for fd in (child.stdout_fd, child.stderr_fd):
            if fd is not None:
                self._check_fds[fd] = child.pid
                self.reactor.add_reader(fd, self._on_check_readable)
        return child.pid

    def kill_check(self, pid: int) -> None:
        self.spawner.kill(pid, 9, True, False)

    def check_exited(self, pid: int) -> None:
        for fd in [fd for fd, owner in self._check_fds.items() if owner == pid]:
            self._on_check_readable(fd, until_eof=True)

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
            self.check_output(self._check_fds.get(fd, 0), data)
            if not until_eof:
                return
