"""States, exit statuses and the namespec: the words every room uses about a process.

Owns: enums carrying supervisor 4.3.0's numeric codes, ``ExitStatus``, the namespec rule.
May import: stdlib only (tests/tooling/test_architecture.py).
Threading: immutable values.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass


class ProcessState(enum.IntEnum):
    """A process's observed state; values are supervisor's wire codes (states.py)."""

    STOPPED = 0
    STARTING = 10
    RUNNING = 20
    BACKOFF = 30
    STOPPING = 40
    EXITED = 100
    FATAL = 200
    UNKNOWN = 1000


STOPPED_STATES = frozenset(
    {ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL, ProcessState.UNKNOWN}
)
RUNNING_STATES = frozenset({ProcessState.RUNNING, ProcessState.BACKOFF, ProcessState.STARTING})
SIGNALLABLE_STATES = frozenset({ProcessState.RUNNING, ProcessState.STARTING, ProcessState.STOPPING})


class DaemonState(enum.IntEnum):
    """The daemon's mood; values are supervisor's ``getState`` codes."""

    FATAL = 2
    RUNNING = 1
    RESTARTING = 0
    SHUTDOWN = -1


class Channel(enum.Enum):
    """A child's output stream."""

    STDOUT = "stdout"
    STDERR = "stderr"


class Health(enum.Enum):
    """A program's health, as Docker reports it (NONE: no check configured)."""

    NONE = "none"
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a child ended: an exit code, or the signal that killed it."""

    code: int | None = None
    signal: int | None = None
    core_dumped: bool = False

    @property
    def policy_code(self) -> int:
        """The number autorestart/exitcodes compare: the code, or -1 for a signal death
        (supervisor's ``decode_wait_status``)."""
        return self.code if self.code is not None else -1

    @property
    def shell_code(self) -> int:
        """The shell convention tini uses: the code, or 128+N for death by signal N."""
        if self.signal is not None:
            return 128 + self.signal
        return self.code if self.code is not None else 255

    def describe(self) -> str:
        """supervisor's wording: ``exit status 1`` or ``terminated by SIGKILL``."""
        if self.signal is not None:
            text = f"terminated by {signal_name(self.signal)}"
            return text + " (core dumped)" if self.core_dumped else text
        return f"exit status {self.code}"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def make_namespec(group: str, name: str) -> str:
    """supervisor's ``make_namespec``: ``group:name``, or ``name`` when they are equal. The one
    place a namespec is spelled; every value with a group and a name asks it."""
    return name if group == name else f"{group}:{name}"


def mono_to_wall(t_mono: float | None, now_mono: float, now_wall: float) -> float:
    """Convert a monotonic instant to wall clock as seen now (0.0 for "never")."""
    if t_mono is None:
        return 0.0
    return now_wall - (now_mono - t_mono)
