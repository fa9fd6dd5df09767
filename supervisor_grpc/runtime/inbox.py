"""Handing work from other threads to the loop: a deque, one wakeup byte, a Future per job.

Owns: the job deque and the wakeup socketpair (trio's EntryQueue design).
May import: errors, stdlib.
Threading: ``submit`` from any thread; ``run_pending``/``close`` on the loop thread.

A deque is used rather than ``queue.Queue`` because its append/popleft are atomic with respect
to both threads and signal handlers. The loop runs only the jobs present when it woke, so a
flood of RPCs cannot starve reaping or pipe draining.
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from ..errors import Failed, ShuttingDown, SupervisorError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Tiny buffers: one byte is enough to wake the loop, and a full buffer already means "woken"
# (trio measured that small SO_SNDBUF values still hold a few hundred bytes).
_WAKEUP_BUFFER_BYTES = 1


class Inbox:
    """Jobs for the loop thread, each answered through a concurrent.futures.Future."""

    def __init__(self) -> None:
        self._jobs: collections.deque[tuple[Callable[[], Any], Future[Any]]] = collections.deque()
        self._lock = threading.Lock()
        self._closed = False
        self._reader: socket.socket | None = None
        self._writer: socket.socket | None = None
        self.reraise = False  # tests set this so bugs in jobs are loud

    def open(self) -> int:
        """Create the wakeup socketpair; return the fd the loop must watch."""
        self._reader, self._writer = socket.socketpair()
        for sock in (self._reader, self._writer):
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _WAKEUP_BUFFER_BYTES)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _WAKEUP_BUFFER_BYTES)
            except OSError:
                pass
        return self._reader.fileno()

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue ``fn`` for the loop thread. Raises ShuttingDown once the inbox is closed."""
        fut: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise ShuttingDown("supervisor is shutting down")
            self._jobs.append((fn, fut))
        self._wake()
        return fut

    def _wake(self) -> None:
        writer = self._writer
        if writer is None:
            return
        try:
            writer.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # buffer full: the loop is already due to wake
        except OSError:
            pass  # closed during shutdown; submit already refused new jobs

    def run_pending(self) -> None:
        """Loop thread: drain the wakeup bytes, then run the jobs queued so far."""
        if self._reader is not None:
            try:
                while self._reader.recv(4096):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
        for _ in range(len(self._jobs)):
            fn, fut = self._jobs.popleft()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except SupervisorError as exc:
                fut.set_exception(exc)
            except Exception as exc:
                if self.reraise:
                    fut.set_exception(exc)
                    raise
                log.critical("internal error while handling a request", exc_info=True)
                fut.set_exception(Failed(f"internal error: {type(exc).__name__}: {exc}"))
            else:
                fut.set_result(result)

    def close(self) -> None:
        """Refuse new jobs and fail the ones still queued."""
        with self._lock:
            self._closed = True
        while self._jobs:
            _, fut = self._jobs.popleft()
            if fut.set_running_or_notify_cancel():
                fut.set_exception(ShuttingDown("supervisor is shutting down"))
        for sock in (self._reader, self._writer):
            if sock is not None:
                sock.close()
        self._reader = self._writer = None

    @property
    def closed(self) -> bool:
        return self._closed
