"""A byte ring addressed by absolute offset, with cursor reads and a wait primitive.

Owns: the in-memory tail of one log channel and the condition its followers wait on.
May import: stdlib only.
Threading: one writer (the loop thread, or a caller holding the writer's own lock); any number
of readers. The lock covers only append/trim/offset bump and a reader's snapshot of the chunk
lists; readers slice and join outside the lock, so the writer never waits on a slow reader.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from .watchers import Watchers

_NEWLINE = 0x0A
# Small reads are merged into the newest chunk up to this size. A bytes object, its two
# list slots and its offset int cost ~90 bytes: kept one per 10-byte read, a 1 MiB ring
# held ~5 MiB of Python objects (and ~27 MiB of RSS after fragmentation).
COALESCE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What a cursor read returns; ``skipped`` is the gap the reader fell behind by."""

    data: bytes
    offset: int
    next_cursor: int
    skipped: int


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Chunk lists as of one instant, plus a copy of the unfinished tail.

    Entries in ``[lo, hi)`` of these list objects are never mutated afterwards: the writer only
    appends past ``hi``, and compaction builds new lists instead of deleting in place. That is
    what lets a reader work on the snapshot without the lock.
    """

    chunks: list[bytes]
    starts: list[int]
    lo: int
    hi: int
    start: int
    end: int
    tail: bytes
    tail_start: int

    def chunk(self, i: int) -> tuple[bytes, int]:
        """Chunk ``i`` of ``[lo, hi]`` (``hi`` being the tail) and its absolute start."""
        if i < self.hi:
            return self.chunks[i], self.starts[i]
        return self.tail, self.tail_start

    def index(self, offset: int) -> int:
        """Which chunk holds ``offset`` (``start <= offset < end``)."""
        if self.tail and offset >= self.tail_start:
            return self.hi
        return bisect_right(self.starts, offset, self.lo, self.hi) - 1


class ByteRing:
    """Keeps received bytes until they fall out of ``capacity``.

    Small reads gather in a tail buffer that becomes one immutable chunk when it reaches
    ``COALESCE_BYTES``; a big read is a chunk of its own (no copy). One bytes object per
    10-byte read (plus its list slots and offset int) cost ~5x the byte bound in Python
    objects and far more in RSS; uniform 4 KiB chunks also let the allocator reuse the space of
    trimmed ones exactly.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = max(1, capacity)
        # Small enough against the bound that trimming stays fine-grained in a small ring.
        self._coalesce = min(COALESCE_BYTES, self._capacity // 16)
        self._cond = threading.Condition(threading.Lock())
        self._chunks: list[bytes] = []
        self._starts: list[int] = []
        self._tail = bytearray()
        self._tail_start = 0
        self._head = 0
        self._dead_bytes = 0
        self._start = 0
        self._end = 0
        self._closed = False
        # Callbacks run after every change (any thread; each must be quick and never block):
        # how asyncio followers get woken without a thread each waiting on ``_cond``.
        self._watchers = Watchers()

    def watch(self, callback: Callable[[], None]) -> None:
        self._watchers.add(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        self._watchers.remove(callback)

    @property
    def start(self) -> int:
        return self._start

    @property
    def end(self) -> int:
        return self._end

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, data: bytes) -> None:
        if not data:
            return
        with self._cond:
            if len(data) < self._coalesce:
                if not self._tail:
                    self._tail_start = self._end
                self._tail += data
                if len(self._tail) >= self._coalesce:
                    self._seal()
            else:
                self._seal()
                self._chunks.append(data)
                self._starts.append(self._end)
            self._end += len(data)
            self._trim()
            self._cond.notify_all()
        self._watchers.notify()

    def _seal(self) -> None:
        if self._tail:
            self._chunks.append(bytes(self._tail))
            self._starts.append(self._tail_start)
            self._tail = bytearray()

    def _trim(self) -> None:
        # Whole chunks only, and never the newest, so a chunk larger than the ring still
        # reaches followers intact.
        chunks, starts = self._chunks, self._starts
        last = len(chunks) if self._tail else len(chunks) - 1
        while self._head < last and self._end - starts[self._head] > self._capacity:
            self._dead_bytes += len(chunks[self._head])
            self._head += 1
        self._start = starts[self._head] if self._head < len(chunks) else self._tail_start
        # Dead chunks still referenced by the lists are real memory: compact once they reach
        # a quarter of the bound.
        if self._head and (2 * self._head >= len(chunks) or 4 * self._dead_bytes >= self._capacity):
            # New lists, not ``del chunks[:head]``: readers may hold the old ones.
            self._chunks = chunks[self._head :]
            self._starts = starts[self._head :]
            self._head = 0
            self._dead_bytes = 0

    def clear(self) -> None:
        """Forget the kept bytes; offsets keep counting so old cursors see a gap."""
        with self._cond:
            self._chunks = []
            self._starts = []
            self._tail = bytearray()
            self._head = 0
            self._dead_bytes = 0
            self._start = self._end
            self._cond.notify_all()
        self._watchers.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._watchers.notify()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    def _snapshot(self) -> _Snapshot:
        with self._cond:
            return _Snapshot(
                self._chunks,
                self._starts,
                self._head,
                len(self._chunks),
                self._start,
                self._end,
                bytes(self._tail),  # at most COALESCE_BYTES: the one copy made under the lock
                self._tail_start,
            )

    def read(self, cursor: int, max_bytes: int) -> ReadResult:
        snap = self._snapshot()
        cursor = min(max(cursor, 0), snap.end)
        skipped = 0
        if cursor < snap.start:
            skipped = snap.start - cursor
            cursor = snap.start
        limit = min(snap.end, cursor + max(max_bytes, 0))
        if limit <= cursor:
            return ReadResult(b"", cursor, cursor, skipped)
        i = snap.index(cursor)
        pieces: list[bytes] = []
        pos = cursor
        while pos < limit:
            chunk, base = snap.chunk(i)
            a, b = pos - base, min(len(chunk), limit - base)
            pieces.append(chunk if a == 0 and b == len(chunk) else chunk[a:b])
            pos = base + b
            i += 1
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        return ReadResult(data, cursor, limit, skipped)

    def wait(self, cursor: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: self._end > cursor or self._closed, max(timeout, 0.0)
            )

    def read_from_end(self, n_bytes: int) -> int:
        snap = self._snapshot()
        return max(snap.start, snap.end - max(n_bytes, 0))

    def cursor_for_last_lines(self, n_lines: int) -> int:
        """Like ``tail -n``: a final line without its newline still counts as a line."""
        snap = self._snapshot()
        if n_lines <= 0 or snap.end == snap.start:
            return snap.end
        stop = snap.end  # search for newlines strictly before this absolute offset
        last_chunk, last_base = snap.chunk(snap.index(snap.end - 1))
        if last_chunk[snap.end - 1 - last_base] == _NEWLINE:
            stop -= 1
        wanted = n_lines
        for i in range(snap.index(snap.end - 1), snap.lo - 1, -1):
            chunk, base = snap.chunk(i)
            if base >= stop:
                continue
            hi = stop - base
            while True:
                k = chunk.rfind(b"\n", 0, hi)
                if k < 0:
                    break
                wanted -= 1
                if wanted == 0:
                    return base + k + 1
                hi = k
        return snap.start
