"""The file side of a log channel: append-only writes, size rotation, reopen, removal.

Owns: one file descriptor and supervisor's rotation scheme (``path`` → ``path.1`` → ... →
``path.N``), what happens when a write fails (ENOSPC, EIO), plus AUTO log naming and the
startup sweep of stale AUTO logs.
May import: the logstore's faults, flusher and stream writer, stdlib.
Threading: loop thread only (or a caller holding the main log handler's lock). Readers never
touch the descriptor; they open the path themselves. A stream target (pipe, socket, tty) is
handed to a :class:`StreamOut`, which never blocks the writer.

A failed write never leaves a torn line behind: the bytes of the line in progress are cut
off the file again (``ftruncate`` back to the last newline we wrote), the rest of the chunk is
dropped and counted, and the next write that succeeds starts at a line boundary.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Callable

from supervisor_grpc.logstore.faults import LineGate, SinkFaults
from supervisor_grpc.logstore.flusher import StreamFlusher
from supervisor_grpc.logstore.streamout import STREAM_BUFFER_BYTES, StreamOut, open_private

STD_STREAMS = {"/dev/stdout": 1, "/dev/stderr": 2}

_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
# O_NONBLOCK on every open: a FIFO with no reader then fails with ENXIO instead of blocking
# the loop in open() (at start, SIGUSR2 or reload); it is cleared again for regular files.
_FIFO_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC


class FileSink:
    """One open log file. Tracks its own size so rotation needs no stat per write.

    ``write`` never raises: failures are recorded in ``faults`` (and reported once per
    episode), so a full disk costs log lines, never the init.
    """

    def __init__(
        self,
        path: str,
        maxbytes: int,
        backups: int,
        faults: SinkFaults | None = None,
        *,
        stream_buffer: int = STREAM_BUFFER_BYTES,
        flusher: StreamFlusher | None = None,
    ) -> None:
        self.path = path
        self.maxbytes = maxbytes
        self.backups = max(0, backups)
        self.faults = faults if faults is not None else SinkFaults(path)
        self.stream_buffer = stream_buffer
        self.flusher = flusher
        self.size = 0
        self.stream = False  # pipe/tty/char device: no seek, rotation or truncation
        self._fd: int | None = None
        self._out: StreamOut | None = None
        # File offset just past the last newline we wrote: where a failed write cuts back to.
        self._line_start = 0
        self._gate = LineGate()
        # Set while a rotation/reopen is between close and open; a failed one is retried by
        # the next write instead of leaving the channel file-less for good.
        self._broken = False

    @property
    def is_open(self) -> bool:
        return self._fd is not None or self._out is not None

    def open(self, truncate: bool = False) -> None:
        std = STD_STREAMS.get(self.path)
        if std is not None:
            # Our own stdout may be a socket or a pipe shared with others: start from a dup
            # (never close fd 1/2), then get a description of our own we may make
            # non-blocking (see streamout).
            fd, kind = open_private(os.dup(std))
            self._stream_out(fd, kind)
            return
        # 0o666 filtered by the umask, as supervisor's open(path, 'ab') does.
        flags = _APPEND_FLAGS | os.O_NONBLOCK | (os.O_TRUNC if truncate else 0)
        try:
            fd = os.open(self.path, flags, 0o666)
        except OSError as exc:
            if exc.errno != errno.ENXIO or not _is_fifo(self.path):
                raise
            # A FIFO nobody reads yet: a stall like a full pipe, whose open is retried by
            # the flusher until a reader comes.
            self._stream_out(-1, "nonblock", opener=self._open_fifo)
            self._report(
                self.faults.fail(f"no reader yet (holding up to {self.stream_buffer} bytes)")
            )
            return
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            os.set_blocking(fd, True)
        else:
            # A FIFO or device we opened ourselves: the description is ours, non-blocking.
            self._stream_out(fd, "nonblock")
            return
        self.stream = False
        self._broken = False
        self.size = self._line_start = st.st_size
        self._fd = fd

    def _stream_out(
        self, fd: int, kind: str, opener: Callable[[], int | None] | None = None
    ) -> None:
        self._out = StreamOut(
            fd,
            kind,
            self.faults,
            max_buffer=self.stream_buffer,
            flusher=self.flusher,
            opener=opener,
        )
        self.stream = True
        self.size = 0
        self._broken = False

    def _open_fifo(self) -> int | None:
        """The flusher's retry: a descriptor once the FIFO has a reader, else None."""
        try:
            return os.open(self.path, _FIFO_FLAGS)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return None
            raise

    def close(self) -> None:
        fd, self._fd = self._fd, None
        out, self._out = self._out, None
        if out is not None:
            out.close()
        if fd is not None:
            os.close(fd)

    def reopen(self) -> None:
        """Raises OSError when the path cannot be opened; the next write retries."""
        if self._out is not None:
            return  # a stream has no path to follow; keep what it still has to write
        self._broken = True
        self.close()
        self.open()

    def remove_and_reopen(self) -> None:
        """supervisor's ``removelogs``: the current file goes, backups stay. A pipe or tty is
        left alone (removing ``/dev/stdout`` as root would be a disaster), and a deliberately
        closed sink stays closed."""
        if self.stream:
            return
        was_open = self._fd is not None or self._broken
        self._broken = was_open
        self.close()
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        if was_open:
            self.open()

    def write(self, data: bytes) -> None:
        """Write all of ``data`` then rotate if due; never raises."""
        if self._out is not None:
            self._out.write(data)
            return
        faults = self.faults
        data = self._gate.admit(data, faults)
        if not data:
            return
        if self._fd is None:
            if not self._broken:
                return
            try:
                self.open()
            except OSError as exc:
                self._report(faults.fail(f"cannot open ({exc.strerror or exc})", exc))
                self._gate.dropped(data, faults)
                return
            if self._out is not None:
                self._out.write(data)
                return
        done = 0
        fd = self._fd
        assert fd is not None
        try:
            while done < len(data):
                n = os.write(fd, data[done:] if done else data)
                if n <= 0:
                    raise OSError(errno.EIO, "write returned 0", self.path)
                done += n
        except OSError as exc:
            self._failed(fd, data, done, exc)
            return
        k = data.rfind(b"\n")
        if k >= 0:
            self._line_start = self.size + k + 1
        self.size += done
        self._report(faults.recovered())
        if 0 < self.maxbytes <= self.size:
            try:
                self.rotate()
            except OSError as exc:
                self._report(faults.fail(f"cannot rotate ({exc.strerror or exc})", exc))

    def _failed(self, fd: int, data: bytes, done: int, exc: OSError) -> None:
        """Cut the torn line off the file, drop the rest of the chunk, resume at a line."""
        faults = self.faults
        message = faults.fail(f"write failed ({exc.strerror or exc})", exc)
        k = data.rfind(b"\n", 0, done)
        if k >= 0:
            self._line_start = self.size + k + 1
        self.size += done
        torn = self.size - self._line_start
        if torn > 0:
            try:
                # Only when nobody else appended meanwhile: their bytes are not ours to cut.
                if os.fstat(fd).st_size == self.size:
                    os.ftruncate(fd, self._line_start)
                    self.size = self._line_start
                    faults.torn(torn)
            except OSError:
                pass
        self._gate.dropped(data[done:], faults)
        self._report(message)

    def _report(self, message: str | None) -> None:
        if message:
            self.faults.report(message)

    def rotate(self) -> None:
        self._broken = True
        self.close()
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                _move(f"{self.path}.{i}", f"{self.path}.{i + 1}")
            _move(self.path, f"{self.path}.1")
        # With backups=0 this truncates in place, as supervisor's reopen in 'wb' mode does.
        self.open(truncate=True)


def _is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _move(src: str, dst: str) -> None:
    try:
        os.replace(src, dst)
    except FileNotFoundError:
        # A cleanup script may have removed a backup or the live file; supervisor shrugs too.
        pass


def make_auto_path(childlogdir: str, name: str, channel: str, identifier: str) -> str:
    """A fresh, unique file named so that :func:`cleanup_auto_logs` recognises it later."""
    fd, path = tempfile.mkstemp(
        suffix=".log", prefix=f"{name}-{channel}---{identifier}-", dir=childlogdir
    )
    os.close(fd)
    return path


def cleanup_auto_logs(childlogdir: str, identifier: str) -> int:
    """Remove AUTO logs a previous run left behind (supervisor's ``clear_autochildlogdir``).

    The pattern is supervisor's, matched at the start of the name as supervisor does, so it
    also removes the rotated ``.N`` backups. Unlistable directories and undeletable files are
    skipped rather than fatal, because a dirty log directory must not stop the init.
    """
    pattern = re.compile(r".+?---" + re.escape(identifier) + r"-\S+\.log\.?\d{0,4}")
    try:
        names = os.listdir(childlogdir)
    except OSError:
        return 0
    removed = 0
    for name in names:
        if not pattern.match(name):
            continue
        path = os.path.join(childlogdir, name)
        try:
            if os.path.isdir(path):
                continue
            os.remove(path)
        except OSError:
            continue
        removed += 1
    return removed
