"""Non-blocking pipe I/O for the loop: read a child's output, write to its stdin.

Owns: the os.read/os.write/os.close calls on child pipes and their errno conventions.
May import: stdlib.
Threading: loop thread only.
"""

from __future__ import annotations

import os

# One read takes as much as a (resized) pipe holds: fewer wake-ups and syscalls per byte.
READ_BYTES = 1 << 20


class Pipes:
    def read(self, fd: int) -> bytes | None:
        """Bytes available now; b'' at EOF; None when nothing is ready (EAGAIN)."""
        try:
            return os.read(fd, READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b""  # EIO and friends: treat the pipe as finished

    def write(self, fd: int, data: bytes) -> int:
        """Bytes written now (0 when the pipe is full). Raises BrokenPipeError on EPIPE."""
        try:
            return os.write(fd, data)
        except (BlockingIOError, InterruptedError):
            return 0

    def close(self, fd: int) -> None:
        try:
            os.close(fd)
        except OSError:
            pass
