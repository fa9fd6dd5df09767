"""Callbacks run after every change of a ring or journal: how asyncio followers are woken
without a thread each waiting on the store's condition.

Owns: one store's list of change callbacks.
May import: stdlib.
Threading: add/remove from any thread; ``notify`` runs on the writer's thread, so each
callback must be quick and never block. The tuple is replaced, never mutated, so ``notify``
needs no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Watchers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: tuple[Callable[[], None], ...] = ()

    def add(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks = (*self._callbacks, callback)

    def remove(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks = tuple(c for c in self._callbacks if c is not callback)

    def notify(self) -> None:
        for callback in self._callbacks:
            callback()
