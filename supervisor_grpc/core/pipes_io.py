"""A child's pipes as the core handles them: output to its log channels (and the forwarder),
drained to EOF before its exit is recorded, and buffered writes to its stdin.

Loop thread only. A mixin of :class:`~supervisor_grpc.core.supervisor.Supervisor`.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from ..errors import NoFile, NotRunning
from ..logstore import Forwarder, LogChannel
from ..model import ProcessState
from .process import Process

if TYPE_CHECKING:
    from .listeners import EventHub
    from .ports import Pipes, Reactor

log = logging.getLogger("supgrpc")
S = ProcessState


class PipesMixin:
    if TYPE_CHECKING:
        pipes: Pipes
        reactor: Reactor
        forwarder: Forwarder | None
        event_hub: EventHub
        _fd_owner: dict[int, tuple[Process, LogChannel]]

        def _check_running(self) -> None: ...

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
        if proc in self.event_hub.watched:  # listener protocol, capture mode, log events
            data = self.event_hub.output(proc, channel.channel, data)
        channel.write(data)
        if self.forwarder is not None:
            self.forwarder.feed(proc.name, channel.channel, data)

    def _close_output(self, fd: int) -> None:
        self.reactor.remove(fd)
        self.pipes.close(fd)
        owner = self._fd_owner.pop(fd, None)
        if owner is not None and owner[0] in self.event_hub.watched:
            self._record_tail(owner[0], owner[1])
        if owner is not None and self.forwarder is not None:
            self.forwarder.flush(owner[0].name, owner[1].channel)

    def _record_tail(self, proc: Process, channel: LogChannel) -> None:
        tail = self.event_hub.output_closed(proc, channel.channel)
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

    def send_stdin(self, proc: Process, data: bytes) -> None:
        self._check_running()
        m = proc.machine
        if not m.pid or m.state is S.STOPPING or proc.stdin_fd is None:
            raise NotRunning(proc.namespec)
        proc.stdin_buffer += data
        self._flush_stdin(proc)

    def _flush_stdin(self, proc: Process) -> None:
        fd = proc.stdin_fd
        if fd is None:
            proc.stdin_buffer.clear()
            return
        try:
            while proc.stdin_buffer:
                n = self.pipes.write(fd, bytes(proc.stdin_buffer[: 1 << 16]))
                if n == 0:
                    break
                del proc.stdin_buffer[:n]
        except OSError:
            proc.stdin_buffer.clear()
            self._close_stdin(proc)
            raise NoFile(f"{proc.namespec}: stdin is closed")
        if proc.stdin_buffer:
            self.reactor.remove(fd)
            self.reactor.add_writer(fd, functools.partial(self._on_stdin_writable, proc))
        else:
            self.reactor.remove(fd)

    def _on_stdin_writable(self, proc: Process, _fd: int) -> None:
        try:
            self._flush_stdin(proc)
        except NoFile:
            log.debug("stdin of %s closed while writing", proc.namespec)

    def _close_stdin(self, proc: Process) -> None:
        if proc.stdin_fd is not None:
            self.reactor.remove(proc.stdin_fd)
            self.pipes.close(proc.stdin_fd)
            proc.stdin_fd = None
