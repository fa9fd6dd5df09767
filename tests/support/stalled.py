"""A supgrpcd whose stdout is a pipe the test holds and does not read: the stalled reader of
``stdout_logfile=/dev/stdout`` (and ``logfile=/dev/stdout``) that the log-fault suites share.

Owns: ``StalledStdoutDaemon``. May import: ``tests.support`` siblings. Threading: the test thread.
"""

from __future__ import annotations

import fcntl
import os
import termios
from typing import Any

from tests.support.daemon import Daemon
from tests.support.layouts import grpc_options


class StalledStdoutDaemon(Daemon):
    """A daemon whose stdout is a pipe: the read end is kept open and never read (its stderr
    goes to the daemon's error file)."""

    read_end: int = -1

    def __init__(self, workdir: str, programs: str, *, supervisord_extra: str = "") -> None:
        options = grpc_options(workdir, supervisord_extra=supervisord_extra)
        super().__init__(workdir, programs, **{**options, "merge_stderr": False})

    def start(self, *args: Any, **kw: Any) -> StalledStdoutDaemon:
        self.read_end, write_end = os.pipe()
        self.popen_kw["stdout"] = write_end
        try:
            super().start(*args, **kw)
        finally:
            os.close(write_end)
        return self

    def queued(self) -> int:
        """Bytes sitting unread in the stdout pipe."""
        buf = bytearray(4)
        fcntl.ioctl(self.read_end, termios.FIONREAD, buf)
        return int.from_bytes(buf, "little")

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.read_end >= 0:
                os.close(self.read_end)
