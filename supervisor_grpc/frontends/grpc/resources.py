"""Resource use of live children (CPU %, RSS, descendants) from psutil, for ProcessInfo.

Owns: a small cache of ``psutil.Process`` objects, so CPU % is a rate between two queries.
May import: psutil, stdlib.
Threading: gRPC handler threads only (never the loop thread: psutil reads /proc). One lock
serialises the cache; a failed read of one pid (gone, access denied) gives zeros.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

# Beyond this many cached pids, entries whose process is gone are pruned.
_CACHE_PRUNE_AT = 256


@dataclass(frozen=True, slots=True)
class Usage:
    """What the OS reports for one pid; all zeros when it could not be read."""

    cpu_percent: float = 0.0
    rss_bytes: int = 0
    children: int = 0


ZERO = Usage()


class ResourceSampler:
    """CPU % since this pid was last sampled; the first sample is the lifetime average."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[int, psutil.Process] = {}

    def sample(self, pids: Iterable[int]) -> dict[int, Usage]:
        live = sorted({pid for pid in pids if pid > 0})
        if not live:
            return {}
        descendants = _descendant_counts(live)
        with self._lock:
            out = {pid: self._one(pid, descendants.get(pid, 0)) for pid in live}
            if len(self._procs) > _CACHE_PRUNE_AT:
                self._prune()
        return out

    def _one(self, pid: int, children: int) -> Usage:
        try:
            proc = self._procs.get(pid)
            first = proc is None or not proc.is_running()
            if proc is None or first:
                proc = psutil.Process(pid)
                self._procs[pid] = proc
            with proc.oneshot():
                if first:
                    times = proc.cpu_times()
                    age = time.time() - proc.create_time()
                    cpu = 100.0 * (times.user + times.system) / age if age > 0 else 0.0
                    proc.cpu_percent(None)  # prime the next call's interval
                else:
                    cpu = proc.cpu_percent(None)
                rss = proc.memory_info().rss
            return Usage(round(cpu, 2), int(rss), children)
        except (psutil.Error, OSError):
            self._procs.pop(pid, None)
            return ZERO

    def _prune(self) -> None:
        for pid, proc in list(self._procs.items()):
            try:
                if not proc.is_running():
                    del self._procs[pid]
            except psutil.Error:
                del self._procs[pid]


def _descendant_counts(roots: list[int]) -> dict[int, int]:
    """One scan of the process table; then a walk down from each root."""
    children: dict[int, list[int]] = {}
    try:
        for proc in psutil.process_iter(["ppid"]):
            ppid = proc.info.get("ppid")
            if ppid:
                children.setdefault(int(ppid), []).append(proc.pid)
    except (psutil.Error, OSError):
        return {}
    counts = {}
    for root in roots:
        seen = {root}  # a snapshot taken across pid reuse could, in theory, hold a cycle
        stack = list(children.get(root, ()))
        while stack:
            pid = stack.pop()
            if pid not in seen:
                seen.add(pid)
                stack.extend(children.get(pid, ()))
        counts[root] = len(seen) - 1
    return counts
