"""The loop: the daemon's only blocking call.

Owns: the selector (epoll) over the signal fd, the inbox fd and every child pipe, and the
select timeout computed from the earliest deadline. No periodic tick: an idle init sleeps until
its next deadline, or forever.
May import: stdlib.
Threading: runs on the main thread; nothing here is touched from elsewhere.
"""

from __future__ import annotations

import logging
import selectors
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

FdCallback = Callable[[int], None]


class Loop:
    """A selectors loop whose every iteration ends in one ``service(now)`` call."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._selector = selectors.DefaultSelector()
        self.reraise = False  # tests set this so a bug in a callback fails the test
        self.iterations = 0

    def add_reader(self, fd: int, callback: FdCallback) -> None:
        self._selector.register(fd, selectors.EVENT_READ, callback)

    def add_writer(self, fd: int, callback: FdCallback) -> None:
        self._selector.register(fd, selectors.EVENT_WRITE, callback)

    def remove(self, fd: int) -> None:
        self.remove_reader(fd)

    def remove_reader(self, fd: int) -> None:
        try:
            self._selector.unregister(fd)
        except (KeyError, ValueError):
            pass

    def has_reader(self, fd: int) -> bool:
        try:
            self._selector.get_key(fd)
        except (KeyError, ValueError):
            return False
        return True

    def run(
        self,
        service: Callable[[float], float | None],
        finished: Callable[[], bool],
    ) -> None:
        """Run until ``finished()``. ``service(now)`` reaps, ticks and returns the next deadline."""
        while True:
            now = self.clock()
            try:
                deadline = service(now)
            except Exception:
                if self.reraise:
                    raise
                log.critical("unexpected error in the supervisor loop; continuing", exc_info=True)
                deadline = now + 1.0  # retry soon, but never spin
            if finished():
                return
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            for key, _ in self._selector.select(timeout):
                self._guard(key.data, key.fd)
            self.iterations += 1

    def _guard(self, fn: FdCallback, fd: int) -> None:
        try:
            fn(fd)
        except Exception:
            if self.reraise:
                raise
            log.critical("unexpected error handling fd %d; continuing", fd, exc_info=True)

    def close(self) -> None:
        self._selector.close()
