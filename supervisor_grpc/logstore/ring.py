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

_NEWLINE = 0x0A


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What a cursor read returns; ``skipped`` is the gap the reader fell behind by."""

    data: bytes
    offset: int
    next_cursor: int
    skipped: int


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Chunk lists as of one instant.

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


class ByteRing:
    """Keeps whole received chunks (no copy on append) until they fall out of ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self._capacity = max(1, capacity)
        self._cond = threading.Condition(threading.Lock())
        self._chunks: list[bytes] = []
        self._starts: list[int] = []
        self._head = 0
        self._dead_bytes = 0
        self._start = 0
        self._end = 0
        self._closed = False
        # Callbacks run after every change (any thread; each must be quick and never block):
        # how asyncio followers get woken without a thread each waiting on ``_cond``.
        self._watchers: tuple[Callable[[], None], ...] = ()

    def watch(self, callback: Callable[[], None]) -> None:
        with self._cond:
            self._watchers = (*self._watchers, callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        with self._cond:
            self._watchers = tuple(w for w in self._watchers if w is not callback)

    def _poke(self) -> None:
        for callback in self._watchers:
            callback()

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
            self._chunks.append(data)
            self._starts.append(self._end)
            self._end += len(data)
            self._trim()
            self._cond.notify_all()
        self._poke()

    def _trim(self) -> None:
        # Whole chunks only, and never the newest, so a chunk larger than the ring still
        # reaches followers intact.
        chunks, starts = self._chunks, self._starts
        last = len(chunks) - 1
        while self._head < last and self._end - starts[self._head] > self._capacity:
            self._dead_bytes += len(chunks[self._head])
            self._head += 1
        self._start = starts[self._head]
        if self._head and (2 * self._head >= len(chunks) or self._dead_bytes >= self._capacity):
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
            self._head = 0
            self._dead_bytes = 0
            self._start = self._end
            self._cond.notify_all()
        self._poke()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._poke()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    def _snapshot(self) -> _Snapshot:
        with self._cond:
            return _Snapshot(
                self._chunks, self._starts, self._head, len(self._chunks), self._start, self._end
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
        i = bisect_right(snap.starts, cursor, snap.lo, snap.hi) - 1
        pieces: list[bytes] = []
        pos = cursor
        while pos < limit:
            chunk, base = snap.chunks[i], snap.starts[i]
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
        last_chunk = snap.chunks[snap.hi - 1]
        if last_chunk and last_chunk[-1] == _NEWLINE:
            stop -= 1
        wanted = n_lines
        for i in range(snap.hi - 1, snap.lo - 1, -1):
            chunk, base = snap.chunks[i], snap.starts[i]
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
