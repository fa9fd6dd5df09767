"""The values control hands to both front-ends, and the small rules they share (signal names,
process patterns). Plain data: no threads, no loop.

Owns: ``ActionResult``, ``LogTarget``, ``ConfigInfo``, ``parse_signal``, pattern matching.
May import: core (the Process type), logstore (the channel type), model, errors, stdlib.
Threading: any thread; everything here is immutable or pure.
"""

from __future__ import annotations

import signal as signal_module
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..core import Process
from ..errors import BadSignal, SupervisorError
from ..logstore import LogChannel
from ..model import Channel, ProcessInfo, ProgramSpec, make_namespec

GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class ActionResult:
    """One process's answer to start/stop/restart/signal: ``error`` None means success."""

    name: str
    group: str
    error: SupervisorError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def namespec(self) -> str:
        return make_namespec(self.group, self.name)


@dataclass(frozen=True, slots=True)
class LogTarget:
    """One followed log: a process's channel (TailLog resolves all of them in one job)."""

    namespec: str
    channel: Channel
    log: LogChannel


@dataclass(frozen=True, slots=True)
class ConfigInfo:
    """A configured program (from the last read of the config) and whether it is loaded."""

    spec: ProgramSpec
    group_priority: int
    inuse: bool


def parse_signal(value: str | int) -> int:
    """``HUP``, ``SIGHUP``, ``1`` or 1 -> 1; anything else is BadSignal."""
    if isinstance(value, int):
        num = value
    else:
        text = value.strip().upper()
        if text.isdigit():
            num = int(text)
        else:
            name = text if text.startswith("SIG") else "SIG" + text
            sig = getattr(signal_module.Signals, name, None)
            if sig is None:
                raise BadSignal(str(value))
            num = int(sig)
    if num not in {int(s) for s in signal_module.valid_signals()} or num == 0:
        raise BadSignal(str(value))
    return num


def matches_process(proc: Process, pattern: str) -> bool:
    return any(
        fnmatchcase(candidate, pattern)
        for candidate in (proc.name, proc.namespec, f"{proc.group}:{proc.name}", proc.group)
    )


def matches(info: ProcessInfo, pattern: str) -> bool:
    return any(
        fnmatchcase(candidate, pattern)
        for candidate in (info.name, info.namespec, f"{info.group}:{info.name}", info.group)
    )
