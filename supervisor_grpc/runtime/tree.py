"""A process's descendants, for ``killtree`` (an extension).

Owns: walking ``/proc/<pid>/task/*/children`` (from the program, and from our own children
that came from it) and identifying a pid by its start time, so a pid reused by an unrelated
process after we looked is never signalled.
May import: psutil, stdlib.
Threading: loop thread only.

Why: ``stopasgroup`` reaches only the process group; a daemon that called setsid() has left it
(supervisor #1101, dumb-init #191). Walking the tree at stop time finds it. One that also
double-forked is no longer in the program's tree: as PID 1 or child subreaper we became its
parent, and the SUPERVISOR_* variables it inherited say which program it came from.

Per-pid facts (create time, environment) come from psutil. The children walk stays on the
kernel's children files: psutil's ``Process.children()`` scans every pid of the host.
psutil is imported by the first call that needs it, not with this module: only ``killtree``
and the shutdown sweep use it, and a start should not pay its import time and memory.
"""

from __future__ import annotations

import os

Identity = tuple[int, float]  # (pid, create time: seconds since the epoch)


def start_time(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
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


def _program_marker(pid: int) -> tuple[str, str] | None:
    """The ``SUPERVISOR_GROUP_NAME``/``SUPERVISOR_PROCESS_NAME`` a process was started with
    (every program inherits them from the spawner, and passes them on to what it starts)."""
    import psutil

    try:
        values = psutil.Process(pid).environ()
    except (psutil.Error, OSError):
        return None
    group, name = values.get("SUPERVISOR_GROUP_NAME"), values.get("SUPERVISOR_PROCESS_NAME")
    return None if group is None or name is None else (group, name)


def adopted(pid: int) -> list[int]:
    """Our own children, other than ``pid``, that came from the same program as ``pid``: what
    its descendants left behind by double-forking, re-parented to us as PID 1 or subreaper."""
    marker = _program_marker(pid)
    if marker is None:
        return []
    return [c for c in children(os.getpid()) if c != pid and _program_marker(c) == marker]


def descendants(pid: int) -> set[Identity]:
    """Every living descendant of ``pid`` (not ``pid`` itself), with its identity; including
    those that were re-parented to us (see ``adopted``) and theirs."""
    found: set[Identity] = set()
    stack = children(pid) + adopted(pid)
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
