"""Resource use of live children (CPU %, RSS, descendants) read from /proc, for ProcessInfo.

Owns: a short-lived cache of per-pid samples, so CPU % is a rate between two samples and a
burst of ListProcesses/GetProcess calls costs one read of /proc per pid, not one per call.
May import: stdlib.
Threading: gRPC handler threads only (never the loop thread: this reads /proc). One lock
serialises sampling, so concurrent callers share one sample; a failed read of one pid (gone,
access denied) gives zeros.

Cost per sample (at most once per ``MAX_AGE_SECONDS`` per pid): one read of
``/proc/<pid>/stat`` (CPU ticks, start time and RSS are all in it) and, for descendants, a walk
down the program's own subtree through ``/proc/<pid>/task/<tid>/children``. Kernels built
without ``CONFIG_PROC_CHILDREN`` have no such file; there one scan of ``/proc/*/stat`` per
sample gives every pid's parent (and the programs' own figures on the way).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# A sample is reused for this long: a burst of calls (a dashboard polling every process, a
# CLI `status` right after another) costs one read of /proc. Short enough that figures stay
# current for a human or a scraper polling every few seconds.
MAX_AGE_SECONDS = 1.0
# Beyond this many cached pids, entries for pids that were not sampled recently are dropped.
_CACHE_PRUNE_AT = 256
_STALE_SECONDS = 600.0

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class Usage:
    """What the OS reports for one pid; all zeros when it could not be read."""

    cpu_percent: float = 0.0
    rss_bytes: int = 0
    children: int = 0


ZERO = Usage()


@dataclass(frozen=True, slots=True)
class _Stat:
    """The fields of /proc/<pid>/stat we use."""

    ppid: int
    ticks: int  # utime + stime
    start: int  # start time, clock ticks after boot (tells a reused pid apart)
    rss_pages: int


@dataclass(frozen=True, slots=True)
class _Entry:
    start: int
    ticks: int
    taken: float  # monotonic seconds
    usage: Usage


class ResourceSampler:
    """CPU % since this pid's previous sample; the first sample is the lifetime average.

    A sample younger than ``max_age`` is returned as it is, so calls closer together than
    that see the same figures.
    """

    def __init__(
        self,
        *,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        proc: str = "/proc",
    ) -> None:
        self._max_age = max_age
        self._clock = clock
        self._proc = proc
        self._lock = threading.Lock()
        self._cache: dict[int, _Entry] = {}
        self._children_files: bool | None = None  # probed on first use (no I/O in __init__)

    def sample(self, pids: Iterable[int]) -> dict[int, Usage]:
        live = sorted({pid for pid in pids if pid > 0})
        if not live:
            return {}
        with self._lock:
            now = self._clock()
            out: dict[int, Usage] = {}
            due = []
            for pid in live:
                entry = self._cache.get(pid)
                if entry is not None and now - entry.taken < self._max_age:
                    out[pid] = entry.usage
                else:
                    due.append(pid)
            if due:
                out.update(self._read(due, now))
            if len(self._cache) > _CACHE_PRUNE_AT:
                self._prune(now)
        return out

    # ---- one sample ---------------------------------------------------------------------

    def _read(self, pids: list[int], now: float) -> dict[int, Usage]:
        if self._children_files is None:
            self._children_files = _has_children_files(self._proc)
        if self._children_files:
            stats = {pid: _read_stat(self._proc, pid) for pid in pids}
            counts = {pid: self._subtree_size(pid) for pid, st in stats.items() if st}
        else:
            table = _scan(self._proc)  # every pid's stat: parents for the walk, ours for free
            stats = {pid: table.get(pid) for pid in pids}
            counts = _descendant_counts(pids, table)
        boot_now = _boot_seconds()
        out = {}
        for pid, st in stats.items():
            if st is None:
                self._cache.pop(pid, None)
                out[pid] = ZERO
                continue
            previous = self._cache.get(pid)
            if previous is not None and previous.start == st.start and now > previous.taken:
                cpu = 100.0 * (st.ticks - previous.ticks) / _TICKS / (now - previous.taken)
            else:  # first sample of this process: the average over its life
                age = boot_now - st.start / _TICKS
                cpu = 100.0 * st.ticks / _TICKS / age if age > 0 else 0.0
            usage = Usage(round(max(cpu, 0.0), 2), st.rss_pages * _PAGE, counts.get(pid, 0))
            self._cache[pid] = _Entry(st.start, st.ticks, now, usage)
            out[pid] = usage
        return out

    def _subtree_size(self, root: int) -> int:
        """Live descendants of ``root``, walking only its own subtree."""
        seen = {root}  # pid reuse during the walk could, in theory, make a cycle
        stack = [root]
        while stack:
            for child in _children_of(self._proc, stack.pop()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return len(seen) - 1

    def _prune(self, now: float) -> None:
        for pid, entry in list(self._cache.items()):
            if now - entry.taken > _STALE_SECONDS:
                del self._cache[pid]


def _boot_seconds() -> float:
    """Seconds since boot on the clock /proc/<pid>/stat's start time uses."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return time.monotonic()


def _parse_stat(data: bytes) -> _Stat | None:
    # "pid (comm) state ppid ..." — comm may hold spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(b")") + 2 :].split()
    try:
        # Fields 4, 14, 15, 22, 24 of proc(5), counted from field 3 (state) at index 0.
        return _Stat(int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[19]), int(rest[21]))
    except (IndexError, ValueError):
        return None


def _read_stat(proc: str, pid: int) -> _Stat | None:
    try:
        with open(f"{proc}/{pid}/stat", "rb", buffering=0) as f:
            return _parse_stat(f.read())
    except OSError:
        return None


def _has_children_files(proc: str) -> bool:
    return os.path.exists(f"{proc}/{os.getpid()}/task/{threading.get_native_id()}/children")


def _children_of(proc: str, pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"{proc}/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"{proc}/{pid}/task/{tid}/children", "rb", buffering=0) as f:
                out.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def _scan(proc: str) -> dict[int, _Stat]:
    """Every process's stat (only when the kernel has no children files)."""
    table: dict[int, _Stat] = {}
    try:
        names = os.listdir(proc)
    except OSError:
        return table
    for name in names:
        if name.isdigit():
            st = _read_stat(proc, int(name))
            if st is not None:
                table[int(name)] = st
    return table


def _descendant_counts(roots: list[int], table: dict[int, _Stat]) -> dict[int, int]:
    children: dict[int, list[int]] = {}
    for pid, st in table.items():
        children.setdefault(st.ppid, []).append(pid)
    counts = {}
    for root in roots:
        seen = {root}
        stack = list(children.get(root, ()))
        while stack:
            pid = stack.pop()
            if pid not in seen:
                seen.add(pid)
                stack.extend(children.get(pid, ()))
        counts[root] = len(seen) - 1
    return counts
