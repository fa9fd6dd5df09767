"""How both front-ends show what control returns: wall-clock times, supervisor's process
``description``, and the supervisor event name of a journal record.

Owns: the presentation rules the gRPC service and the XML-RPC shim share, so ``supervisorctl
status`` and ``supgrpc-cli status`` print the same words (they lived in ``Control``, which only
calls the loop, and in ``grpc.convert``).
May import: model, core.eventtypes (supervisor's event vocabulary: pure functions, so the
name a WatchEvents record carries is the one a listener gets), stdlib.
Threading: pure functions of their arguments and the clocks they are given; any thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from ..core.eventtypes import of_event
from ..model import Event, ProcessInfo, ProcessState, mono_to_wall

S = ProcessState


class Clocks(Protocol):
    """The daemon's clocks (``Control`` has them; tests inject their own)."""

    clock: Callable[[], float]  # monotonic: the times model values carry
    wall: Callable[[], float]  # what the front-ends show


def wall_time(clocks: Clocks, t_mono: float | None) -> float:
    """A monotonic instant on the wall clock, as seen now (0.0: never)."""
    return mono_to_wall(t_mono, clocks.clock(), clocks.wall())


def describe(clocks: Clocks, info: ProcessInfo) -> str:
    """supervisor's ``description``: what ``supervisorctl status`` prints after the state."""
    state = info.state
    if info.description:
        return info.description
    if state is S.RUNNING and info.start_mono is not None:
        seconds = int(max(0.0, clocks.clock() - info.start_mono))
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        days, hours = divmod(hours, 24)
        uptime = f"{hours}:{minutes:02d}:{secs:02d}"
        if days:
            uptime = f"{days} day{'s' if days != 1 else ''}, {uptime}"
        return f"pid {info.pid}, uptime {uptime}"
    if state in (S.FATAL, S.BACKOFF):
        return info.spawn_error or f'unknown error (try "tail {info.name}")'
    if state in (S.STOPPED, S.EXITED):
        if info.start_mono is None:
            return "Not started"
        stop = wall_time(clocks, info.stop_mono)
        if not stop:
            return "Not started"
        return time.strftime("%b %d %I:%M %p", time.localtime(stop))
    return ""


def supervisor_event(ev: Event) -> str:
    """The supervisor 4.3.0 event type name of a journal record ("" when it has none)."""
    pending = of_event(ev)
    return "" if pending is None else pending.name
