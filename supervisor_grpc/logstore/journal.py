"""The event journal: records with sequence numbers, read by cursor like a log channel.

Owns: a bounded history of published records (process transitions, daemon events) and the
condition event followers wait on.
May import: stdlib only.
Threading: the loop thread appends; any thread reads and waits. The lock covers one append or
the copy of at most ``max_items`` records.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Generic, TypeVar

from .watchers import Watchers

T = TypeVar("T")


class EventJournal(Generic[T]):
    """Same cursor primitive over records with sequence numbers (bounded deque).

    A cursor is "the last sequence number seen"; 0 means "from the oldest record kept". A
    follower that fell behind the kept window learns exactly how many records it missed.
    """

    def __init__(self, capacity: int = 10000) -> None:
        self._items: deque[T] = deque(maxlen=max(1, capacity))
        self._last_seq = 0
        self._closed = False
        self._cond = threading.Condition(threading.Lock())
        # Called after every append and at close (see ByteRing.watch).
        self._watchers = Watchers()

    def watch(self, callback: Callable[[], None]) -> None:
        self._watchers.add(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        self._watchers.remove(callback)

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, item: T) -> int:
        with self._cond:
            self._items.append(item)
            self._last_seq += 1
            self._cond.notify_all()
            seq = self._last_seq
        self._watchers.notify()
        return seq

    def read(self, cursor: int, max_items: int = 256) -> tuple[list[tuple[int, T]], int, int]:
        """Returns ``(items as (seq, item), next_cursor, skipped_count)``."""
        with self._cond:
            last = self._last_seq
            kept = len(self._items)
            before_first = last - kept  # the seq just before the oldest record kept
            cursor = min(max(cursor, 0), last)
            skipped = 0
            if cursor < before_first:
                skipped = before_first - cursor
                cursor = before_first
            index = cursor - before_first
            take = max(0, min(max_items, kept - index))
            if index > kept // 2:
                # Followers live near the tail: walk from the right end, not across the deque.
                items = list(islice(reversed(self._items), kept - index - take, kept - index))
                items.reverse()
            else:
                items = list(islice(self._items, index, index + take))
        return [(cursor + 1 + i, item) for i, item in enumerate(items)], cursor + take, skipped

    def wait(self, cursor: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: self._last_seq > cursor or self._closed, max(timeout, 0.0)
            )

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._watchers.notify()
