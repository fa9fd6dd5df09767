"""The loop-thread halves of control's requests: each function here IS one inbox job.

Owns: reading the core for a request (daemon info, config info, priority levels, TailLog's
target resolution, signalling and clearing logs of many processes) in one pass.
May import: core (public methods and the Process type), model, errors, this package's values,
stdlib.
Threading: loop thread only (``Control`` submits them through the inbox).

Kept apart from ``Control`` so that class is only call, deadline and wait; what a job reads
is visible in one place.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence

from .. import __version__
from ..core import Process, Supervisor
from ..errors import Failed, NoSuchProcess, SupervisorError
from ..model import Channel, DaemonInfo
from .values import GLOB_CHARS, ActionResult, ConfigInfo, LogTarget, matches_process


def daemon_info(core: Supervisor) -> DaemonInfo:
    return DaemonInfo(
        core.mood,
        os.getpid(),
        core.spec.identifier,
        core.spec.config_file,
        core.started_mono,
        __version__,
    )


def by_name(core: Supervisor) -> list[Process]:
    """Processes sorted by group then name (the order every listing shows)."""
    return sorted(core.processes.values(), key=lambda p: (p.group, p.name))


def config_infos(core: Supervisor) -> list[ConfigInfo]:
    out = []
    for group in core.latest.groups:
        for spec in group.programs:
            out.append(ConfigInfo(spec, group.priority, group.name in core.groups))
    return sorted(out, key=lambda ci: ci.spec.name)


def levels(core: Supervisor, target: str) -> list[list[tuple[str, str]]]:
    """Processes of ``target`` grouped by priority level, lowest first."""
    procs = core.find_targets(target)
    return [
        [(p.group, p.name) for p in members]
        for _, members in itertools.groupby(procs, key=lambda p: core.order_key(p)[:2])
    ]


def signal_targets(core: Supervisor, target: str, signum: int) -> list[ActionResult]:
    out = []
    for proc in core.find_targets(target):
        try:
            core.signal_process(proc, signum)
        except SupervisorError as exc:
            out.append(ActionResult(proc.name, proc.group, exc))
        else:
            out.append(ActionResult(proc.name, proc.group))
    return out


def log_targets(
    core: Supervisor, patterns: Sequence[str], channels: Sequence[Channel], missing_ok: bool
) -> list[LogTarget]:
    """Every process that ``patterns`` name, with its channels, however many match."""
    seen: dict[str, Process] = {}
    for pattern in patterns:
        for proc in _find_logs(core, pattern, missing_ok):
            seen.setdefault(proc.namespec, proc)
    return [
        LogTarget(proc.namespec, ch, proc.channel(ch)) for proc in seen.values() for ch in channels
    ]


def _find_logs(core: Supervisor, pattern: str, missing_ok: bool) -> Iterator[Process]:
    """The processes one TailLog pattern names."""
    if pattern in ("*", "all"):
        yield from by_name(core)
        return
    try:
        if pattern.endswith(":*") or pattern.endswith(":"):
            yield from core.find_targets(pattern)
        elif GLOB_CHARS & set(pattern):
            found = [p for p in by_name(core) if matches_process(p, pattern)]
            if not found:
                raise NoSuchProcess(pattern)
            yield from found
        else:
            yield core.find(pattern)
    except NoSuchProcess:
        if not missing_ok:
            raise


def clear_all_logs(core: Supervisor) -> list[ActionResult]:
    out = []
    for proc in by_name(core):
        try:
            proc.stdout.clear()
            proc.stderr.clear()
        except OSError as exc:
            out.append(ActionResult(proc.name, proc.group, Failed(str(exc))))
        else:
            out.append(ActionResult(proc.name, proc.group))
    return out
