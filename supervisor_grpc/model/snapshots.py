"""Snapshots the loop takes and hands to any thread: process, daemon and reread answers.

Owns: ``ProcessInfo``, ``LogFaults``, ``DaemonInfo``, ``ConfigDiff``.
May import: stdlib, model.states.
Threading: immutable values, taken on the loop thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from .states import DaemonState, ExitStatus, Health, ProcessState, make_namespec


@dataclass(frozen=True, slots=True)
class LogFaults:
    """What one log channel could not write (a stalled pipe, a full disk), for process info.

    Counters are for the channel's life; ``failing`` says an episode is in progress now.
    """

    dropped_bytes: int = 0
    dropped_lines: int = 0
    write_errors: int = 0
    last_error: str = ""
    failing: bool = False


NO_LOG_FAULTS = LogFaults()


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A snapshot of one process, taken on the loop thread and handed to any thread."""

    name: str
    group: str
    state: ProcessState
    pid: int
    start_mono: float | None
    stop_mono: float | None
    exit_status: ExitStatus | None
    spawn_error: str
    stdout_logfile: str
    stderr_logfile: str
    expected: bool = True
    # Set when the core has something better to say than the state (e.g. what a start waits for).
    description: str = ""
    health: Health = Health.NONE
    health_output: str = ""
    autostart: bool = True
    stdout_log: LogFaults = NO_LOG_FAULTS
    stderr_log: LogFaults = NO_LOG_FAULTS

    @property
    def namespec(self) -> str:
        return make_namespec(self.group, self.name)


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    """What a reread found: group names added, changed and removed (supervisor's triple)."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """What GetState/getState report about the daemon itself."""

    state: DaemonState
    pid: int
    identifier: str
    config_file: str
    start_mono: float
    version: str
