"""Resource use of live children (CPU %, RSS, descendants), for ProcessInfo.

Owns: a short-lived cache of per-pid samples, so CPU % is a rate between two samples and a
burst of ListProcesses/GetProcess calls costs one read per pid, not one per call.
May import: psutil, stdlib.
Threading: ``sample`` on gRPC handler/executor threads only (never the loop thread: it reads
/proc); ``cached`` on any thread (it never blocks). One lock serialises sampling, so
concurrent callers share one sample; a failed read of one pid (gone, access denied) gives
zeros.

Cost per sample (at most once per ``MAX_AGE_SECONDS`` per pid): one
``psutil.Process(pid).oneshot()`` (CPU times, create time and RSS from one read of
``/proc/<pid>/stat``/``statm``) and, for descendants, a walk down the program's own subtree
through ``/proc/<pid>/task/<tid>/children``. Not ``psutil.Process.children()``: it scans every
pid of the host (``psutil._pslinux.ppid_map``), the cost that made psutil look slow here. Kernels
built without ``CONFIG_PROC_CHILDREN`` have no children files; only there does psutil's scan run.

psutil is imported by the first sample, not with this module (the gRPC server imports it at
start): a daemon nobody asks for figures never pays psutil's import time and memory.
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


@dataclass(frozen=True, slots=True)
class Usage:
    """What the OS reports for one pid; all zeros when it could not be read."""

    cpu_percent: float = 0.0
    rss_bytes: int = 0
    children: int = 0


ZERO = Usage()


@dataclass(frozen=True, slots=True)
class Figures:
    """What one read of a pid gives."""

    cpu_seconds: float  # user + system
    started: float  # create time, seconds since the epoch (tells a reused pid apart)
    rss_bytes: int


def read_figures(pid: int) -> Figures | None:
    """One ``oneshot()`` of ``pid``; None when it is gone or not ours to read."""
    import psutil

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            times = proc.cpu_times()
            return Figures(times.user + times.system, proc.create_time(), proc.memory_info().rss)
    except (psutil.Error, OSError):
        return None


def _psutil_descendants(pid: int) -> int:
    import psutil

    try:
        return len(psutil.Process(pid).children(recursive=True))
    except (psutil.Error, OSError):
        return 0


@dataclass(frozen=True, slots=True)
class _Entry:
    started: float
    cpu_seconds: float
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
        figures: Callable[[int], Figures | None] = read_figures,
        wall: Callable[[], float] = time.time,
        scan_descendants: Callable[[int], int] = _psutil_descendants,
    ) -> None:
        self._max_age = max_age
        self._clock = clock
        self._proc = proc
        self._figures = figures
        self._wall = wall
        self._scan_descendants = scan_descendants  # only without children files
        self._lock = threading.Lock()
        self._cache: dict[int, _Entry] = {}
        self._children_files: bool | None = None  # probed on first use (no I/O in __init__)

    def cached(self, pids: Iterable[int]) -> dict[int, Usage] | None:
        """The figures if every live pid has a fresh sample, else None; never blocks or reads.

        For the asyncio thread: within ``max_age`` of a sample (most calls of a burst) it
        saves the executor round trip that ``sample`` needs. A sample being taken (the lock
        is held) counts as not fresh.
        """
        if not self._lock.acquire(blocking=False):
            return None
        try:
            now = self._clock()
            out: dict[int, Usage] = {}
            for pid in pids:
                if pid <= 0:
                    continue
                entry = self._cache.get(pid)
                if entry is None or now - entry.taken >= self._max_age:
                    return None
                out[pid] = entry.usage
            return out
        finally:
            self._lock.release()

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
        stats = {pid: self._figures(pid) for pid in pids}
        walk = self._subtree_size if self._children_files else self._scan_descendants
        counts = {pid: walk(pid) for pid, st in stats.items() if st}
        wall_now = self._wall()
        out = {}
        for pid, st in stats.items():
            if st is None:
                self._cache.pop(pid, None)
                out[pid] = ZERO
                continue
            previous = self._cache.get(pid)
            if previous is not None and previous.started == st.started and now > previous.taken:
                cpu = 100.0 * (st.cpu_seconds - previous.cpu_seconds) / (now - previous.taken)
            else:  # first sample of this process: the average over its life
                age = wall_now - st.started
                cpu = 100.0 * st.cpu_seconds / age if age > 0 else 0.0
            usage = Usage(round(max(cpu, 0.0), 2), st.rss_bytes, counts.get(pid, 0))
            self._cache[pid] = _Entry(st.started, st.cpu_seconds, now, usage)
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
