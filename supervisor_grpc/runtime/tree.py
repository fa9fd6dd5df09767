"""A process's descendants, read from /proc, for ``killtree`` (an extension).

Owns: walking ``/proc/<pid>/task/*/children`` and identifying a pid by its start time, so a
pid reused by an unrelated process after we looked is never signalled.
May import: stdlib.
Threading: loop thread only.

Why: ``stopasgroup`` reaches only the process group; a daemon that called setsid() has left it
(supervisor #1101, dumb-init #191). Walking the tree at stop time finds it.
"""

from __future__ import annotations

import os

Identity = tuple[int, int]  # (pid, start time in clock ticks since boot)


def start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields resume after the last ")".
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def descendants(pid: int) -> set[Identity]:
    """Every living descendant of ``pid`` (not ``pid`` itself), with its identity."""
    found: set[Identity] = set()
    stack = children(pid)
    seen: set[int] = set()
    while stack:
        child = stack.pop()
        if child in seen:
            continue
        seen.add(child)
        started = start_time(child)
        if started is None:
            continue
        found.add((child, started))
        stack.extend(children(child))
    return found


def alive(identity: Identity) -> bool:
    return start_time(identity[0]) == identity[1]
