"""Followers for the server-streaming RPCs: TailLog over log channels, WatchEvents over the
journal (ARCHITECTURE.md rule 8; style-anchors §4 example C).

Owns: streaming slots (a BoundedSemaphore smaller than the thread pool, so unary RPCs always
find a thread), cancellation flags, and the cursor loops that read, yield and wait.
May import: logstore (reader side: ``read``/``wait``/``closed``), grpc, stdlib.
Threading: one gRPC handler thread per stream. Reads copy under the channel's or journal's
own lock; every ``yield`` happens outside any lock; waits are bounded (at most
``FOLLOW_WAIT_SECONDS``), so a cancelled or stopping stream frees its slot within that time.
The loop thread only appends and notifies; it never waits for a follower.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc

from ...logstore import EventJournal, LogChannel
from .interceptors import Abort

T = TypeVar("T")

# Bytes read from one channel per turn: bounded so one busy channel cannot starve the others
# in a multiplexed stream, and well under gRPC's 4 MiB default message limit. As large as the
# channel's ring (1 MiB): grpcio's sync server sends one message per stream at a time, so the
# message count, not the bytes, bounds a follower (64 KiB messages capped one at ~30 MiB/s and
# it mostly saw gaps under heavy output; 1 MiB takes a whole ring's worth per send).
CHUNK_BYTES = 1 << 20
# Records read from the journal per turn.
EVENT_BATCH = 256
# The longest a follower waits before re-checking cancellation and shutdown. Bounds how long
# a cancelled stream keeps its slot and how long GrpcFrontend.stop() waits for followers.
FOLLOW_WAIT_SECONDS = 0.5
# Idle wait when several channels are followed: one wait can only watch one channel, so a
# multiplexed follower waits this long on one channel per idle round (rotating), which bounds
# the latency of output on the others. Ten wake-ups a second per idle multiplexed stream.
MULTI_WAIT_SECONDS = 0.1


class StreamSlots:
    """A fixed number of concurrent streams; one more gets RESOURCE_EXHAUSTED at once."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._sem = threading.BoundedSemaphore(capacity)

    @contextmanager
    def hold(self) -> Iterator[None]:
        if not self._sem.acquire(blocking=False):
            raise Abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"all {self.capacity} streaming slots are in use; retry later",
            )
        try:
            yield
        finally:
            self._sem.release()


class Cancellation:
    """True once the client went away, the RPC ended, or the front-end is stopping."""

    def __init__(self, context: Any, stopping: threading.Event) -> None:
        self._flag = threading.Event()
        self._context = context
        self._stopping = stopping
        if not context.add_callback(self._flag.set):
            self._flag.set()  # the RPC already terminated

    def __call__(self) -> bool:
        return self._flag.is_set() or self._stopping.is_set() or not self._context.is_active()


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


def follow_logs(
    sources: list[LogSource], *, follow: bool, cancelled: Callable[[], bool]
) -> Iterator[LogPiece]:
    """Round-robin over the sources' cursors until caught up (or, with ``follow``, until
    cancelled or every channel is closed). Never busy-spins: an idle round waits."""
    active = list(sources)
    turn = 0
    while active and not cancelled():
        progressed = False
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
                progressed = True
                yield LogPiece(src, result.offset - result.skipped, gap=result.skipped)
            if result.data:
                progressed = True
                yield LogPiece(src, result.offset, data=result.data)
            elif not result.skipped and src.channel.closed:
                active.remove(src)  # removed group or daemon ending: nothing more will come
        if progressed or not active:
            continue
        if not follow:
            return
        waiter = active[turn % len(active)]
        turn += 1
        timeout = FOLLOW_WAIT_SECONDS if len(active) == 1 else MULTI_WAIT_SECONDS
        waiter.channel.wait(waiter.cursor, timeout)


@dataclass(frozen=True, slots=True)
class JournalEntry(Generic[T]):
    """A record with its sequence number, or (``item`` None) a count of missed records."""

    seq: int
    item: T | None = None
    missed: int = 0


def follow_events(
    journal: EventJournal[T], cursor: int, *, cancelled: Callable[[], bool]
) -> Iterator[JournalEntry[T]]:
    """Every record after ``cursor``, in order; a reader that fell behind the kept history is
    told how many records it missed, then continues with the oldest one kept."""
    while not cancelled():
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
        journal.wait(cursor, FOLLOW_WAIT_SECONDS)
