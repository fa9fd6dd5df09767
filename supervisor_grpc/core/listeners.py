"""Event listener pools: who subscribed to what, the bounded buffers, and sending to listeners.

Owns: one pool per ``[eventlistener:x]`` group (its buffer of ``buffer_size`` events, its
serial), the global serial, each listener's protocol state, capture mode and
``*_events_enabled`` for every program's output, and the TICK_* schedule. Listeners are
ordinary processes of the core (same machine, same pipes); this only reads what they write on
stdout and writes envelopes to their stdin through the core's non-blocking stdin buffer.
May import: model, machine, logstore (strip_ansi), our core modules, stdlib.
Threading: loop thread only. Nothing here blocks: a listener that hangs stays BUSY with one
envelope in its pipe, and its pool's buffer overflows by supervisor's rule (the oldest event is
discarded, logged and counted) without touching other pools. A pool's ``result_handler``
is user code run on the loop when a listener answers (core/result_handlers.py): guarded, but
a slow one delays the loop, as it delays supervisord's.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..logstore import strip_ansi
from ..model import STOPPED_STATES, GroupSpec, ProcessState
from . import eventtypes as et
from .capture import CaptureSplitter
from .listener_protocol import (
    BecameReady,
    ListenerProtocol,
    ListenerState,
    Processed,
    Rejected,
    Violated,
)
from .process import Process
from .result_handlers import judge_for

log = logging.getLogger("supgrpc")
S = ProcessState
MAX_SERIAL = (1 << 63) - 1  # supervisor wraps at sys.maxsize
Writer = Callable[[Process, bytes], bool]


@dataclass(eq=False)
class Pool:
    name: str
    events: frozenset[str]
    buffer_size: int
    members: list[Process] = field(default_factory=list)
    buffer: collections.deque[et.PendingEvent] = field(default_factory=collections.deque)
    serial: int = -1
    discarded: int = 0  # events lost to overflow since the pool was added


def _next(serial: int) -> int:
    return 0 if serial >= MAX_SERIAL else serial + 1


class EventHub:
    def __init__(
        self,
        identifier: str,
        write: Writer,
        wall: Callable[[], float],
        *,
        strip: bool = False,
    ) -> None:
        self.identifier = identifier
        self.write = write
        self.wall = wall
        self.strip = strip
        self.pools: dict[str, Pool] = {}
        self.protocols: dict[Process, ListenerProtocol] = {}
        self.serial = -1
        # (process, channel) whose output we must look at; absent = the fast path.
        self._captures: dict[tuple[Process, str], CaptureSplitter] = {}
        self._log_events: set[tuple[Process, str]] = set()
        # Processes whose output must pass through output(); the rest take the fast path.
        self.watched: set[Process] = set()
        self._last_tick: dict[int, int] = {}
        # Where each capture-mode message goes: straight to the pools, unless the core
        # journals it (for WatchEvents), whose journal then tells the pools.
        self.on_communication: Callable[[Process, str, bytes], None] = self._communicated

    # ---- membership -------------------------------------------------------------------

    def add_group(self, group: GroupSpec, procs: Iterable[Process]) -> None:
        procs = list(procs)
        for proc in procs:
            self._add_process(proc)
        if group.events:
            pool = Pool(group.name, frozenset(group.events), group.buffer_size, procs)
            judge = judge_for(group.result_handler, group.name)
            self.pools[group.name] = pool
            for proc in procs:
                self.protocols[proc] = ListenerProtocol(proc.name, judge)
                self.watched.add(proc)
            self._arm_ticks(pool)

    def _add_process(self, proc: Process) -> None:
        for ch, spec in (("stdout", proc.spec.stdout), ("stderr", proc.spec.stderr)):
            if spec.capture_maxbytes > 0:
                self._captures[(proc, ch)] = CaptureSplitter(spec.capture_maxbytes)
                self.watched.add(proc)
            if spec.events_enabled:
                self._log_events.add((proc, ch))
                self.watched.add(proc)

    def remove_group(self, name: str) -> None:
        pool = self.pools.pop(name, None)
        if pool is not None:
            for proc in pool.members:
                self.protocols.pop(proc, None)
                self.watched.discard(proc)
            self._last_tick = {p: self._last_tick[p] for p in self.tick_periods()}

    def forget_process(self, proc: Process) -> None:
        for ch in ("stdout", "stderr"):
            self._captures.pop((proc, ch), None)
            self._log_events.discard((proc, ch))
        if proc not in self.protocols:
            self.watched.discard(proc)

    # ---- notifying and buffering -----------------------------------------------------

    def notify(self, event: et.PendingEvent) -> None:
        """supervisor's ``events.notify``: every pool subscribed to the type buffers it."""
        for pool in self.pools.values():
            if et.subscribes(pool.events, event.name):
                self._accept(pool, event)

    def _accept(self, pool: Pool, event: et.PendingEvent, head: bool = False) -> None:
        if event.serial is None:
            self.serial = _next(self.serial)
            event.serial = self.serial
        if pool.name not in event.pool_serials:
            pool.serial = _next(pool.serial)
            event.pool_serials[pool.name] = pool.serial
        else:
            log.debug(
                "rebuffering event %s for pool %s (buf size=%d, max=%d)",
                event.serial,
                pool.name,
                len(pool.buffer),
                pool.buffer_size,
            )
        if len(pool.buffer) >= pool.buffer_size and pool.buffer:
            lost = pool.buffer.popleft()
            pool.discarded += 1
            log.error(
                "pool %s event buffer overflowed, discarding event %s", pool.name, lost.serial
            )
        if head:
            pool.buffer.appendleft(event)
        else:
            pool.buffer.append(event)

    def _rebuffer(self, proc: Process, event: object) -> None:
        for pool in self.pools.values():
            if proc in pool.members and isinstance(event, et.PendingEvent):
                self._accept(pool, event, head=True)

    # ---- sending ----------------------------------------------------------------------

    def dispatch(self) -> None:
        """Send each pool's oldest events to its READY listeners (once per loop iteration)."""
        for pool in self.pools.values():
            while pool.buffer:
                if not self._send(pool, pool.buffer[0]):
                    break
                pool.buffer.popleft()

    def _send(self, pool: Pool, event: et.PendingEvent) -> bool:
        for proc in pool.members:
            protocol = self.protocols.get(proc)
            if protocol is None or protocol.state is not ListenerState.READY:
                continue
            if proc.machine.state is not S.RUNNING:
                continue
            if not self.write(proc, et.envelope(self.identifier, event, pool.name)):
                log.debug(
                    "epipe occurred while sending event %s to listener %s, "
                    "listener state unchanged",
                    event.serial,
                    proc.name,
                )
                continue
            protocol.sent(event)
            log.debug("event %s sent to listener %s", event.serial, proc.name)
            return True
        return False

    # ---- what processes write ----------------------------------------------------------

    def output(self, proc: Process, channel: str, data: bytes) -> bytes:
        """Look at a watched process's output; returns the bytes its log should get."""
        protocol = self.protocols.get(proc)
        if protocol is not None and channel == "stdout":
            self._listener_said(proc, protocol, data)
            return data
        splitter = self._captures.get((proc, channel))
        if splitter is not None:
            data, bodies = splitter.feed(data)
            for body in bodies:
                self.on_communication(proc, channel, body)
                log.debug("'%s' %s emitted a comm event", proc.name, channel)
        self._log_event(proc, channel, data)
        return data

    def _communicated(self, proc: Process, channel: str, body: bytes) -> None:
        self.notify(
            et.process_communication(proc.name, proc.group, proc.machine.pid, channel, body)
        )

    def output_closed(self, proc: Process, channel: str) -> bytes:
        """The channel hit EOF: what a capture splitter still held goes to the log."""
        splitter = self._captures.get((proc, channel))
        if splitter is None:
            return b""
        tail = splitter.flush()
        self._log_event(proc, channel, tail)
        return tail

    def _log_event(self, proc: Process, channel: str, data: bytes) -> None:
        if data and (proc, channel) in self._log_events:
            shown = strip_ansi(data) if self.strip else data
            self.notify(et.process_log(proc.name, proc.group, proc.machine.pid, channel, shown))

    def _listener_said(self, proc: Process, protocol: ListenerProtocol, data: bytes) -> None:
        for outcome in protocol.feed(data):
            if isinstance(outcome, Rejected):
                log.warning("%s", outcome.message)
                self._rebuffer(proc, outcome.event)
            elif isinstance(outcome, Violated):
                log.warning("%s", outcome.message)
            elif isinstance(outcome, Processed):
                log.debug("%s: event was processed", proc.name)
            elif isinstance(outcome, BecameReady):
                log.debug("%s: ACKNOWLEDGED -> READY", proc.name)

    # ---- process lifecycle --------------------------------------------------------------

    def process_changed(self, proc: Process, to_state: ProcessState) -> None:
        """A listener (re)starting speaks the protocol from the beginning; one that ended
        before answering hands its event back to its pool, at the head."""
        protocol = self.protocols.get(proc)
        if protocol is None:
            return
        if to_state is S.STARTING or to_state in STOPPED_STATES or to_state is S.BACKOFF:
            event = protocol.reset()
            if event is not None:
                self._rebuffer(proc, event)

    # ---- ticks ----------------------------------------------------------------------------

    def tick_periods(self) -> set[int]:
        return {p for pool in self.pools.values() for p in et.wants_ticks(pool.events)}

    def _arm_ticks(self, pool: Pool) -> None:
        now = self.wall()
        for period in et.wants_ticks(pool.events):
            self._last_tick.setdefault(period, et.timeslice(period, now))

    def next_tick(self, now_mono: float) -> float | None:
        """Monotonic instant of the next tick boundary; None when nobody listens to ticks."""
        if not self._last_tick:
            return None
        wall = self.wall()
        due = min(last + period for period, last in self._last_tick.items())
        return now_mono + max(0.0, due - wall)

    def fire_ticks(self) -> None:
        if not self._last_tick:
            return
        wall = self.wall()
        for period in sorted(self._last_tick):
            this = et.timeslice(period, wall)
            if this != self._last_tick[period]:
                self._last_tick[period] = this
                self.notify(et.tick(period, this))
