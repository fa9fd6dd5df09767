"""Every timer of the core in one lazy heap: machine deadlines and health-check schedules.

Owns: the heap of (when, order, still_due, fire) entries. An entry is never removed when it is
superseded; ``still_due(when)`` is asked when it reaches the head, and a stale one is dropped
then (a lazy heap: rescheduling is a push, cancelling is changing the owner's own field).
May import: nothing of the project (callers pass plain callables).
Threading: loop thread only.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

StillDue = Callable[[float], bool]
Fire = Callable[[float, float], None]  # (when, now)


class Deadlines:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, StillDue, Fire]] = []
        self._order = itertools.count()

    def at(self, when: float, still_due: StillDue, fire: Fire) -> None:
        """Call ``fire(when, now)`` once ``now >= when``, if ``still_due(when)`` by then."""
        heapq.heappush(self._heap, (when, next(self._order), still_due, fire))

    def fire_due(self, now: float) -> None:
        """Fire what is due (an entry pushed while firing is due in this same pass if due)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, still_due, fire = heapq.heappop(heap)
            if still_due(when):
                fire(when, now)

    def next_due(self) -> float | None:
        """The earliest live deadline, dropping the stale entries in front of it."""
        heap = self._heap
        while heap:
            when, _, still_due, _ = heap[0]
            if still_due(when):
                return when
            heapq.heappop(heap)
        return None
