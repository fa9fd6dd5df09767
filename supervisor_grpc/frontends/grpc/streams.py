"""Followers for the server-streaming RPCs: TailLog over log channels, WatchEvents over the
journal (ARCHITECTURE.md rule 8; style-anchors §4 example C), as coroutines.

Owns: streaming slots (a cap on concurrent streams), ``Wakeups`` (how a coroutine waits for
a logstore source without a thread), ``GroupsAdded`` (when log followers re-resolve their
processes after a reload), and the cursor loops that read, yield and wait.
``EventFilter`` is WatchEvents' request filter, applied to the converted message so it
speaks the API's names (``EventKind``, the record's name and group) and never a kind string.
May import: logstore (reader side: ``read``/``closed``/``watch``), model (the journal's
record types), grpc, the generated package, stdlib.
Threading: the front-end's asyncio loop only, except the watcher callbacks, which run on
whatever thread appended (the supervisor loop, or any thread logging to the daemon log):
they only schedule a wake-up with ``call_soon_threadsafe`` (at most one pending per source;
``GroupsAdded`` first reads the journal's new records under its own small lock),
so the loop thread never waits for a follower and an idle follower costs no thread and no
periodic wake-up beyond one safety re-check every ``FOLLOW_RECHECK_SECONDS``.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Generic, Protocol, TypeVar

import grpc
from supgrpc.v1 import supervisor_pb2 as pb

from ...logstore import EventJournal, LogChannel
from ...model import Event, GroupAdded
from .interceptors import Abort

T = TypeVar("T")

# Bytes read from one channel per turn: bounded so one busy channel cannot starve the others
# in a multiplexed stream, and well under gRPC's 4 MiB default message limit. As large as the
# channel's ring (1 MiB): one message per turn keeps a fast follower from seeing gaps.
CHUNK_BYTES = 1 << 20
# Records read from the journal per turn.
EVENT_BATCH = 256
# An idle follower is woken by the watcher callbacks; this bound only guards against a lost
# wake-up (none is known) and keeps "every wait has a bound" literally true.
FOLLOW_RECHECK_SECONDS = 30.0


class StreamSlots:
    """A fixed number of concurrent streams; one more gets RESOURCE_EXHAUSTED at once.

    Streams hold no thread (they are coroutines), so the cap only bounds memory: it is far
    above any real number of followers.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0  # asyncio loop only

    @contextmanager
    def hold(self) -> Iterator[None]:
        if self._used >= self.capacity:
            raise Abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"all {self.capacity} streaming slots are in use; retry later",
            )
        self._used += 1
        try:
            yield
        finally:
            self._used -= 1


class Watchable(Protocol):
    def watch(self, callback: Callable[[], None]) -> None: ...
    def unwatch(self, callback: Callable[[], None]) -> None: ...


class _Watch:
    """The coroutines waiting on one source, and the one callback registered on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, source: Watchable) -> None:
        self.loop = loop
        self.source = source
        self.waiters: set[asyncio.Future[None]] = set()
        self.scheduled = False

    def poke(self) -> None:
        """Any thread: schedule one wake-up (a wake-up already pending covers this one)."""
        if self.scheduled:
            return
        self.scheduled = True
        try:
            self.loop.call_soon_threadsafe(self.fire)
        except RuntimeError:
            pass  # the front-end's loop is gone

    def fire(self) -> None:
        self.scheduled = False  # before waking: a later append schedules again
        for fut in self.waiters:
            if not fut.done():
                fut.set_result(None)


class Wakeups:
    """Lets coroutines wait for any of several logstore sources to change."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._watches: dict[int, _Watch] = {}
        self._everyone: set[asyncio.Future[None]] = set()

    def wake_all(self) -> None:
        """Asyncio loop: every waiting follower re-checks now (the front-end is stopping)."""
        for fut in self._everyone:
            if not fut.done():
                fut.set_result(None)

    async def wait(
        self, sources: Iterable[Watchable], ready: Callable[[], bool], timeout: float
    ) -> None:
        """Return once ``ready()`` may have become true (or after ``timeout``).

        The future is registered before ``ready`` is checked, so a change that lands between
        the check and the wait still wakes it.
        """
        fut: asyncio.Future[None] = self._loop.create_future()
        watches = []
        for source in sources:
            watch = self._watches.get(id(source))
            if watch is None:
                watch = self._watches[id(source)] = _Watch(self._loop, source)
                source.watch(watch.poke)
            watch.waiters.add(fut)
            watches.append(watch)
        self._everyone.add(fut)
        try:
            if not ready():
                await asyncio.wait((fut,), timeout=timeout)
        finally:
            self._everyone.discard(fut)
            fut.cancel()
            for watch in watches:
                watch.waiters.discard(fut)
                if not watch.waiters:
                    watch.source.unwatch(watch.poke)
                    del self._watches[id(watch.source)]


@dataclass(eq=False, slots=True)
class LogSource:
    """One followed channel: who it belongs to, where the reader is, where to stop."""

    process: str  # namespec, or "" for the daemon's log
    stream: int  # a supgrpc.v1.LogStream value
    channel: LogChannel
    cursor: int
    stop_at: int | None = None  # None: follow


@dataclass(frozen=True, slots=True)
class LogPiece:
    """Data at ``offset``, or a gap of ``gap`` bytes starting at ``offset``."""

    source: LogSource
    offset: int
    data: bytes = b""
    gap: int = 0


def read_round(active: list[LogSource]) -> Iterator[LogPiece]:
    """One turn over every source (at most CHUNK_BYTES each); drops finished sources."""
    for src in list(active):
        limit = CHUNK_BYTES
        if src.stop_at is not None:
            limit = min(limit, src.stop_at - src.cursor)
            if limit <= 0:
                active.remove(src)
                continue
        result = src.channel.read(src.cursor, limit)
        src.cursor = result.next_cursor
        if result.skipped:
            yield LogPiece(src, result.offset - result.skipped, gap=result.skipped)
        if result.data:
            yield LogPiece(src, result.offset, data=result.data)
        elif not result.skipped and src.channel.closed:
            active.remove(src)  # removed group or daemon ending: nothing more will come


class Refresh(Protocol):
    """The sources to follow now, given the current ones: called when groups were added (a
    reload replaced a program's channel, or a ``*`` follower gained a program)."""

    async def __call__(self, current: list[LogSource]) -> list[LogSource]: ...


class GroupsAdded:
    """One journal cursor shared by every log follower: ``generation`` grows when a group is
    added (or records were missed), and only then are the followers woken.

    Followers wait on this gate rather than on the journal itself, so a crash storm's
    ProcessStateChanged records cost one journal read on the appending thread, not a wake-up of
    every follower. ``watch`` callbacks run on the thread that appended (the supervisor loop):
    a short read of the new records, then a poke; nothing blocks.
    """

    def __init__(self, journal: EventJournal[Event]) -> None:
        self._journal = journal
        self._lock = threading.Lock()
        self._cursor = journal.last_seq
        self.generation = 0
        self._callbacks: tuple[Callable[[], None], ...] = ()

    @property
    def closed(self) -> bool:
        return self._journal.closed

    def start(self) -> None:
        """Follow the journal from now on (for the front-end's whole life: a cursor that
        only moves while followers wait would miss a group added in between)."""
        self._cursor = self._journal.last_seq
        self._journal.watch(self._on_journal)

    def watch(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks = (*self._callbacks, callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks = tuple(c for c in self._callbacks if c is not callback)

    def _on_journal(self) -> None:
        with self._lock:
            added = False
            while True:
                items, self._cursor, skipped = self._journal.read(self._cursor, 1024)
                added = added or bool(skipped)
                added = added or any(isinstance(e, GroupAdded) for _, e in items)
                if not items:
                    break
            if added:
                self.generation += 1
            callbacks = self._callbacks if added or self._journal.closed else ()
        for callback in callbacks:
            callback()


async def follow_logs(
    sources: list[LogSource],
    *,
    follow: bool,
    wakeups: Wakeups,
    stopping: Callable[[], bool],
    groups: GroupsAdded | None = None,
    refresh: Refresh | None = None,
) -> AsyncIterator[LogPiece]:
    """Round-robin over the sources' cursors until caught up, or with ``follow`` until
    stopping. With ``refresh`` (and ``groups``) a follower outlives its channels: when a
    group is added it asks for its sources again, so a reload's replacement channel or a new
    program is followed on. Without it, the stream ends once every channel has closed."""
    active = list(sources)
    renew = refresh if groups is not None else None
    seen = groups.generation if groups is not None else 0
    while not stopping():
        progressed = False
        for piece in read_round(active):
            progressed = True
            yield piece
        if progressed:
            continue
        if not follow:
            return
        if renew is not None and groups is not None:
            if groups.generation != seen:
                seen = groups.generation
                active = await renew(active)
                continue
            if groups.closed and not active:
                return  # the daemon's run is over
        elif not active:
            return
        gate = groups if renew is not None else None
        ready = functools.partial(_log_ready, stopping, list(active), gate, seen)
        watched: list[Watchable] = [s.channel for s in active]
        if gate is not None:
            watched.append(gate)
        await wakeups.wait(watched, ready, FOLLOW_RECHECK_SECONDS)


def _log_ready(
    stopping: Callable[[], bool],
    active: list[LogSource],
    groups: GroupsAdded | None,
    seen: int,
) -> bool:
    if stopping() or (groups is not None and (groups.generation != seen or groups.closed)):
        return True
    return any(s.channel.end_offset > s.cursor or s.channel.closed for s in active)


@dataclass(frozen=True, slots=True)
class JournalEntry(Generic[T]):
    """A record with its sequence number, or (``item`` None) a count of missed records."""

    seq: int
    item: T | None = None
    missed: int = 0


async def follow_events(
    journal: EventJournal[T],
    cursor: int,
    *,
    wakeups: Wakeups,
    stopping: Callable[[], bool],
) -> AsyncIterator[JournalEntry[T]]:
    """Every record after ``cursor``, in order; a reader that fell behind the kept history is
    told how many records it missed, then continues with the oldest one kept."""
    while not stopping():
        items, cursor_next, skipped = journal.read(cursor, EVENT_BATCH)
        if skipped:
            yield JournalEntry(0, None, skipped)
        for seq, item in items:
            yield JournalEntry(seq, item)
        cursor = cursor_next
        if items or skipped:
            continue
        if journal.closed:
            return
        ready = functools.partial(_events_ready, stopping, journal, cursor)
        await wakeups.wait((journal,), ready, FOLLOW_RECHECK_SECONDS)


def _events_ready(stopping: Callable[[], bool], journal: EventJournal[Any], seen: int) -> bool:
    return stopping() or journal.last_seq > seen or journal.closed


class EventFilter:
    """WatchEvents' ``kinds`` and ``processes``: which converted records a stream yields.

    A pattern is matched against the record's name, group and ``group:name`` (a group
    record: its group); daemon records pass every pattern, since they concern every process.
    """

    def __init__(self, kinds: Iterable[int], patterns: Iterable[str]) -> None:
        self._kinds = {k for k in kinds if k != pb.EVENT_KIND_UNSPECIFIED}
        self._patterns = list(patterns)

    def __call__(self, msg: pb.WatchEventsResponse) -> bool:
        kind = event_kind(msg)
        if kind == pb.EVENT_KIND_UNSPECIFIED or (self._kinds and kind not in self._kinds):
            return False  # a record kind this API version does not describe, or unasked
        if not self._patterns or kind == pb.EVENT_KIND_DAEMON_STATE:
            return True
        body = getattr(msg, msg.WhichOneof("event") or "")
        name: str = getattr(body, "name", "")
        group: str = getattr(body, "group", "")
        candidates = [group] if not name else [name, group, f"{group}:{name}"]
        if name and name == group:
            candidates.append(name)
        return any(fnmatchcase(c, p) for c in candidates for p in self._patterns)


def event_kind(msg: pb.WatchEventsResponse) -> int:
    """The filter kind of a converted record (UNSPECIFIED: not a record, e.g. missed)."""
    return _KIND_OF_FIELD.get(msg.WhichOneof("event") or "", pb.EVENT_KIND_UNSPECIFIED)


# The proto names each ``EventKind`` after the ``oneof event`` field it classifies, so this
# is read off the generated descriptors (the proto's own spelling), not kept by hand.
_KIND_OF_FIELD: dict[str, int] = {
    field.name: pb.EventKind.Value(f"EVENT_KIND_{field.name.upper()}")
    for field in pb.WatchEventsResponse.DESCRIPTOR.oneofs_by_name["event"].fields
    if f"EVENT_KIND_{field.name.upper()}" in pb.EventKind.keys()  # noqa: SIM118
}
