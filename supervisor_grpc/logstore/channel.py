"""One log channel: a rotating file plus an in-memory ring addressed by absolute offset.

Owns: a (process, channel) pair's log, or the daemon's own: where its bytes go (file, ring),
the absolute offsets followers use, and supervisor's file-relative read/tail/clear semantics.
May import: supervisor_grpc.model, supervisor_grpc.errors, stdlib.
Threading: the loop thread writes, opens, rotates, reopens, clears and closes; any thread calls
``read``/``wait``/``read_from_end``/``cursor_for_last_lines``/``read_file``/``tail_file``/
``file_size``. File writes happen outside the ring's lock, so a reader can never stall the loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from supervisor_grpc import errors
from supervisor_grpc.logstore import filereads
from supervisor_grpc.logstore.faults import SinkFaults
from supervisor_grpc.logstore.flusher import StreamFlusher
from supervisor_grpc.logstore.ring import ByteRing, ReadResult
from supervisor_grpc.logstore.sink import FileSink, make_auto_path
from supervisor_grpc.logstore.streamout import STREAM_BUFFER_BYTES
from supervisor_grpc.model import LogFaults, LogSpec

# supervisor's stripEscapes: from ESC[ up to and including the first of its terminator
# letters; an unterminated sequence swallows the rest of the chunk.
_ANSI = re.compile(rb"\x1b\[[^HfABCDRsuJKhlpm]*(?:[HfABCDRsuJKhlpm]|\Z)")


def strip_ansi(data: bytes) -> bytes:
    return _ANSI.sub(b"", data) if b"\x1b[" in data else data


class LogChannel:
    """One (process, channel) or the daemon's own log: file with size rotation + in-memory ring
    addressed by absolute offset.

    Absolute offsets count every byte written since the channel was created; rotation, clear
    and reopen never reset them, so a follower's cursor stays meaningful across all three.
    """

    def __init__(
        self,
        name: str,
        spec: LogSpec | None,
        *,
        childlogdir: str = "/tmp",
        identifier: str = "supervisor",
        channel: str = "stdout",
        ring_bytes: int = 1 << 20,
        strip_ansi: bool = False,
        stream_buffer_bytes: int = STREAM_BUFFER_BYTES,
        flusher: StreamFlusher | None = None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.childlogdir = childlogdir
        self.identifier = identifier
        self.channel = channel
        self.strip_ansi = strip_ansi
        self.stream_buffer_bytes = stream_buffer_bytes
        # Shared by every channel of a daemon: one thread drains all stalled streams.
        self.flusher = flusher
        self.path: str | None = None
        self.faults = SinkFaults(f"{name} {channel} log")
        self._ring = ByteRing(ring_bytes)
        self._sink: FileSink | None = None

    @property
    def write_errors(self) -> int:
        return self.faults.write_errors

    @property
    def last_write_error(self) -> OSError | None:
        return self.faults.last_error

    def fault_info(self) -> LogFaults:
        """Any thread: what this channel could not write, for process info."""
        return self.faults.snapshot()

    # -- loop thread -----------------------------------------------------------------------

    def open(self) -> None:
        """Open (creating) the file; a second call while open is a no-op.

        An AUTO name is chosen once and kept for the channel's life, so reopen/clear and a
        later open after close all land in the same file supervisor users were shown.
        """
        self._ring.reopen()
        if self._sink is not None and self._sink.is_open:
            return
        spec = self.spec
        if spec is None:
            return
        if self.path is None:
            if spec.auto:
                self.path = make_auto_path(
                    self.childlogdir, self.name, self.channel, self.identifier
                )
            elif spec.path:
                self.path = spec.path
            else:
                return
        self.faults.label = f"{self.name} {self.channel} log {self.path}"
        sink = FileSink(
            self.path,
            spec.maxbytes,
            spec.backups,
            self.faults,
            stream_buffer=self.stream_buffer_bytes,
            flusher=self.flusher,
        )
        sink.open()
        self._sink = sink

    def write(self, data: bytes) -> None:
        """Never raises nor blocks: a file error or a stalled stream is counted and reported
        once per episode (see faults), and the ring still gets the bytes, so followers keep
        seeing output even when the disk is full."""
        if self.strip_ansi:
            data = strip_ansi(data)
        if not data:
            return
        # Ring first, file second: a byte found in the file is then always already in the
        # ring, which lets a reader that starts from the file and follows the ring (the
        # /logtail head) tell exactly which bytes it has seen.
        self._ring.append(data)
        sink = self._sink
        if sink is not None:
            sink.write(data)

    def close(self) -> None:
        sink = self._sink
        try:
            if sink is not None:
                sink.close()
        finally:
            self._ring.close()
        if sink is not None and not sink.stream:
            message = self.faults.closing()
            if message:
                self.faults.report(message)

    def reopen(self) -> bool:
        """SIGUSR2: let an external logrotate move the file away; the next byte goes to a new
        file at the same path. Never raises, so one channel that cannot be reopened never
        stops the others: the failure is reported (once per episode) and the next write
        retries. Returns whether the channel has a file open afterwards."""
        sink = self._sink
        if sink is None:
            return True
        try:
            sink.reopen()
        except OSError as exc:
            message = self.faults.fail(f"cannot reopen ({exc.strerror or exc})", exc)
            if message:
                self.faults.report(message)
            return False
        return True

    def clear(self) -> None:
        """clearProcessLogs/clearLog: the current file is removed and recreated empty; backups
        stay (as in supervisor). The ring empties too, so followers see a gap, not old bytes."""
        self._ring.clear()
        sink = self._sink
        if sink is None:
            return
        try:
            sink.remove_and_reopen()
        except OSError as exc:
            raise errors.Failed(f"{self.path}: {exc.strerror or exc}")

    # -- any thread: cursor reads over the ring -----------------------------------------------

    @property
    def end_offset(self) -> int:
        return self._ring.end

    @property
    def start_offset(self) -> int:
        return self._ring.start

    @property
    def closed(self) -> bool:
        return self._ring.closed

    def read(self, cursor: int, max_bytes: int = 65536) -> ReadResult:
        return self._ring.read(cursor, max_bytes)

    def wait(self, cursor: int, timeout: float) -> bool:
        return self._ring.wait(cursor, timeout)

    def watch(self, callback: Callable[[], None]) -> None:
        """``callback()`` after every append, clear and close (any thread; must not block)."""
        self._ring.watch(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        self._ring.unwatch(callback)

    def read_from_end(self, n_bytes: int) -> int:
        return self._ring.read_from_end(n_bytes)

    def cursor_for_last_lines(self, n_lines: int) -> int:
        return self._ring.cursor_for_last_lines(n_lines)

    # -- any thread: supervisor's XML-RPC reads on the current file ---------------------------

    def _readable_path(self) -> str | None:
        # A pipe or tty cannot be read back (and reading /dev/stdout might block forever).
        sink = self._sink
        if self.path is None or sink is None or sink.stream:
            return None
        return self.path

    def read_file(self, offset: int, length: int) -> bytes:
        path = self._readable_path()
        if path is None:
            # Checked before the arguments, in supervisor's order.
            raise errors.NoFile(self.path or "")
        return filereads.read_file(path, offset, length)

    def tail_file(self, offset: int, length: int) -> tuple[bytes, int, bool]:
        if length < 0:
            raise errors.BadArgument("BAD_ARGUMENTS")
        path = self._readable_path()
        if path is None:
            return b"", 0, False
        return filereads.tail_file(path, offset, length)

    def file_size(self) -> int:
        path = self._readable_path()
        return 0 if path is None else filereads.file_size(path)
