"""One thread that drains every stalled stream log, however many there are.

Owns: the set of stream writers that hold bytes their reader has not taken yet (or that wait
for a FIFO's first reader), the one thread that polls their descriptors for writability,
and the wakeup pipe that tells that thread about a newly stalled writer (both exist only
while some writer is stalled).
May import: stdlib (writers are duck-typed, see :class:`Stalled`).
Threading: ``stalled`` from any thread, typically the loop or one holding the main log
handler's lock, while it holds that writer's lock: the order is always writer lock, then
ours, and our lock is never held while a writer's is taken. The thread exists only while
some writer is stalled.

Why a thread and not the loop's selector: the main log is written from any thread (under
its handler's lock) and must keep draining after the loop has closed (the last lines of a
shutdown), and the logstore may not import the runtime. One thread for all of them keeps
the cost of 100 stalled ``/dev/stdout`` logs at one thread instead of 100.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from typing import Protocol

log = logging.getLogger("supgrpc")

# A writer waiting for a FIFO's first reader has no descriptor to poll: try to open again
# this often.
REOPEN_SECONDS = 0.25
# Poll anyway this often while something is stalled: a safety net, not the mechanism.
IDLE_POLL_SECONDS = 1.0


class Stalled(Protocol):
    """What the flusher needs of a writer (:class:`~.streamout.StreamOut`)."""

    def poll_fd(self) -> int:
        """The descriptor to watch for POLLOUT, or -1 when there is none yet."""
        ...

    def wake_at(self) -> float | None:
        """When to call ``flush_step`` even if the descriptor stays full (monotonic)."""
        ...

    def flush_step(self, now: float) -> None:
        """Write what it can without blocking; calls :meth:`StreamFlusher.done` (under its
        own lock) once it holds nothing more."""
        ...


class StreamFlusher:
    """Shared by every stream log of a daemon; no I/O until the first stall."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stalled: set[Stalled] = set()
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1
        self.threads_started = 0  # for tests and diagnostics

    @property
    def active(self) -> bool:
        return self._thread is not None

    def stalled(self, writer: Stalled) -> None:
        """``writer`` (whose lock the caller holds) has bytes it could not write."""
        with self._lock:
            if writer in self._stalled:
                return
            self._stalled.add(writer)
            if self._wake_r < 0:
                try:
                    self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
                except OSError:
                    pass  # out of descriptors: the thread polls briefly instead
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="supgrpc-logout", daemon=True
                )
                self.threads_started += 1
                self._thread.start()
                return
            self._wake_locked()

    def wake(self) -> None:
        """A stalled writer (whose lock the caller holds) now waits for another thing (room
        in its stream rather than time): look at it again now."""
        with self._lock:
            if self._thread is not None:
                self._wake_locked()

    def _wake_locked(self) -> None:
        # Written under our lock: the thread closes the pipe under it when it leaves.
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\0")
            except OSError:
                pass  # a full pipe already means "woken"

    def done(self, writer: Stalled) -> None:
        """``writer`` (whose lock the caller holds) has nothing left to write."""
        with self._lock:
            self._stalled.discard(writer)

    def _run(self) -> None:
        while True:
            with self._lock:
                writers = list(self._stalled)
                if not writers:
                    self._thread = None
                    if self._wake_r >= 0:
                        os.close(self._wake_r)
                        os.close(self._wake_w)
                    self._wake_r = self._wake_w = -1
                    return
            self._wait(writers)
            now = time.monotonic()
            for writer in writers:
                try:
                    writer.flush_step(now)
                except Exception:  # a bug must cost one stream's bytes, not every stream's
                    log.critical("log flusher: unexpected error; dropping a stream", exc_info=True)
                    self.done(writer)  # and never spin on it

    def _wait(self, writers: list[Stalled]) -> None:
        poller = select.poll()
        now = time.monotonic()
        timeout = IDLE_POLL_SECONDS
        if self._wake_r >= 0:
            poller.register(self._wake_r, select.POLLIN)
        else:
            timeout = REOPEN_SECONDS
        for writer in writers:
            fd = writer.poll_fd()
            if fd >= 0:
                poller.register(fd, select.POLLOUT)
            else:
                timeout = min(timeout, REOPEN_SECONDS)
            wake_at = writer.wake_at()
            if wake_at is not None:
                timeout = min(timeout, max(0.0, wake_at - now))
        ready = poller.poll(timeout * 1000)
        if self._wake_r >= 0 and any(fd == self._wake_r for fd, _ in ready):
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
