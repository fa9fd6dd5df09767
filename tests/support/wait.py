"""The one poll-with-a-deadline of the test suite and the bench (tini's ``busy_wait``).

Owns: ``wait_until``. May import: the standard library only (the bench imports it too).
Threading: called from any thread; it only sleeps in the calling thread.

Tests wait for an event or poll with a deadline, never sleep a fixed time: the deadline is
generous (a loaded CI machine must not fail a correct test) and the failure names what was
awaited, so a timeout reads as a finding rather than as "flaky".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    what: str | Callable[[], str] = "",
    *,
    interval: float = 0.005,
    retry_on: tuple[type[BaseException], ...] = (),
    backoff: bool = True,
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that value.

    ``what`` (text, or a callable evaluated only on failure, e.g. ``daemon.log``) says what was
    awaited. ``retry_on`` lists exceptions that mean "not yet" (a socket that does not listen
    yet, an RPC refused while starting); the last one is quoted if time runs out. The poll
    interval starts at ``interval`` and backs off to 50 ms so long waits stay cheap; the bench,
    which times what it waits for, keeps it fixed (``backoff=False``).
    """
    deadline = time.monotonic() + timeout
    delay = interval
    last: BaseException | None = None
    while True:
        try:
            value = predicate()
        except retry_on as exc:
            last, value = exc, None  # type: ignore[assignment]
        if value:
            return value
        if time.monotonic() >= deadline:
            text = what() if callable(what) else what
            text = text or repr(predicate)
            tail = f" (last error: {last!r})" if last is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {text}{tail}")
        time.sleep(delay)
        if backoff:
            delay = max(interval, min(delay * 1.5, 0.05))
