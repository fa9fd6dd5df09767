"""The file side of a log channel: append-only writes, size rotation, reopen, removal.

Owns: one file descriptor and supervisor's rotation scheme (``path`` → ``path.1`` → ... →
``path.N``), plus AUTO log naming and the startup sweep of stale AUTO logs.
May import: stdlib only.
Threading: loop thread only (or a caller holding the main log handler's lock). Readers never
touch the descriptor; they open the path themselves.
"""

from __future__ import annotations

import errno
import os
import re
import select
import stat
import tempfile

STD_STREAMS = {"/dev/stdout": 1, "/dev/stderr": 2}
# How long one chunk may wait for a full pipe/tty to drain before it counts as a write error.
# supervisor blocks forever here; an init that stops reaping because nobody reads its stdout
# is worse than a truncated log line.
STREAM_STALL_SECONDS = 5.0

_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class FileSink:
    """One open log file. Tracks its own size so rotation needs no stat per write."""

    def __init__(self, path: str, maxbytes: int, backups: int) -> None:
        self.path = path
        self.maxbytes = maxbytes
        self.backups = max(0, backups)
        self.size = 0
        self.stream = False  # pipe/tty/char device: no seek, rotation or truncation
        self._fd: int | None = None
        # Set while a rotation/reopen is between close and open; a failed one is retried by
        # the next write instead of leaving the channel file-less for good.
        self._broken = False

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def open(self, truncate: bool = False) -> None:
        std = STD_STREAMS.get(self.path)
        if std is not None:
            # Our own stdout may be a socket or a pipe shared with others: reuse it rather than
            # reopening /proc/self/fd/N (which fails for sockets), and never close fd 1/2.
            self._fd = os.dup(std)
            self.stream = True
            self.size = 0
            return
        # 0o666 filtered by the umask, as supervisor's open(path, 'ab') does.
        fd = os.open(self.path, _APPEND_FLAGS | (os.O_TRUNC if truncate else 0), 0o666)
        st = os.fstat(fd)
        self.stream = not stat.S_ISREG(st.st_mode)
        self.size = 0 if self.stream else st.st_size
        self._fd = fd
        self._broken = False

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def reopen(self) -> None:
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
        """Write all of ``data`` then rotate if due; raises OSError after counting what landed."""
        if self._fd is None:
            if not self._broken:
                return
            self.open()
        fd = self._fd
        assert fd is not None
        view = memoryview(data)
        done = 0
        while done < len(view):
            try:
                n = os.write(fd, view[done:])
            except BlockingIOError:
                _await_writable(fd)
                continue
            if n <= 0:
                raise OSError(errno.EIO, "write returned 0", self.path)
            done += n
            if not self.stream:
                self.size += n
        if not self.stream and 0 < self.maxbytes <= self.size:
            self.rotate()

    def rotate(self) -> None:
        self._broken = True
        self.close()
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                _move(f"{self.path}.{i}", f"{self.path}.{i + 1}")
            _move(self.path, f"{self.path}.1")
        # With backups=0 this truncates in place, as supervisor's reopen in 'wb' mode does.
        self.open(truncate=True)


def _move(src: str, dst: str) -> None:
    try:
        os.replace(src, dst)
    except FileNotFoundError:
        # A cleanup script may have removed a backup or the live file; supervisor shrugs too.
        pass


def _await_writable(fd: int) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    if not poller.poll(int(STREAM_STALL_SECONDS * 1000)):
        raise OSError(errno.EAGAIN, "log stream stalled")


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
