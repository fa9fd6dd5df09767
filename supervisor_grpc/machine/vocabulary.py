"""The machine's vocabulary: its inputs and effects, phases, the legal state transitions and
supervisor's backoff rule. Pure data and arithmetic, shared by the machine and its callers.

Owns: ``Input``/``Effect`` types, ``Phase``, ``TRANSITIONS``, ``backoff_delay``.
May import: model, errors, pure stdlib (enum, dataclasses). No I/O.
Threading: immutable values; any thread.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..model import ExitStatus, ProcessState, ProgramSpec

S = ProcessState

TRANSITIONS: dict[ProcessState, frozenset[ProcessState]] = {
    S.STOPPED: frozenset({S.STARTING}),
    S.STARTING: frozenset({S.RUNNING, S.BACKOFF, S.STOPPING, S.STOPPED}),
    S.RUNNING: frozenset({S.STOPPING, S.EXITED}),
    S.BACKOFF: frozenset({S.STARTING, S.FATAL, S.STOPPED}),
    S.STOPPING: frozenset({S.STOPPED, S.UNKNOWN}),
    S.EXITED: frozenset({S.STARTING}),
    S.FATAL: frozenset({S.STARTING}),
    S.UNKNOWN: frozenset({S.STOPPED}),
}

EXITED_TOO_QUICKLY = "Exited too quickly (process log may have details)"
MIN_REKILL_SECS = 1.0


def backoff_delay(spec: ProgramSpec, attempt: int) -> float:
    """Seconds before retry number ``attempt`` (1-based).

    supervisor's rule is linear (1 s, 2 s, 3 s ...); the extension keys make it exponential
    and/or capped, for ``startretries = -1`` ("retry forever, slowly").
    """
    if spec.backoff_multiplier is None:
        delay = spec.backoff_initial * attempt
    else:
        delay = spec.backoff_initial * spec.backoff_multiplier ** min(attempt - 1, 64)
    if spec.backoff_max > 0:
        delay = min(delay, spec.backoff_max)
    return delay


class InvalidTransition(Exception):
    """A bug: an input arrived that the current state cannot accept. Nothing was mutated."""


class Phase(enum.Enum):
    """The observed state, with STARTING split where the rules differ (see the module doc)."""

    STOPPED = enum.auto()
    WAITING = enum.auto()
    SPAWNING = enum.auto()
    STARTING = enum.auto()
    RUNNING = enum.auto()
    BACKOFF = enum.auto()
    STOPPING = enum.auto()
    EXITED = enum.auto()
    FATAL = enum.auto()
    UNKNOWN = enum.auto()


PHASE_STATE: dict[Phase, ProcessState] = {
    Phase.STOPPED: S.STOPPED,
    Phase.WAITING: S.STARTING,
    Phase.SPAWNING: S.STARTING,
    Phase.STARTING: S.STARTING,
    Phase.RUNNING: S.RUNNING,
    Phase.BACKOFF: S.BACKOFF,
    Phase.STOPPING: S.STOPPING,
    Phase.EXITED: S.EXITED,
    Phase.FATAL: S.FATAL,
    Phase.UNKNOWN: S.UNKNOWN,
}

# The phase each state is entered in; STARTING is entered as WAITING or SPAWNING instead.
ENTERED_PHASE = {state: phase for phase, state in PHASE_STATE.items() if phase.name == state.name}


# ---- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartRequested:
    """An administrator (or autostart) wants the program running."""


@dataclass(frozen=True, slots=True)
class StopRequested:
    """An administrator (or shutdown) wants the program stopped."""


@dataclass(frozen=True, slots=True)
class Spawned:
    pid: int


@dataclass(frozen=True, slots=True)
class SpawnFailed:
    reason: str


@dataclass(frozen=True, slots=True)
class Exited:
    status: ExitStatus


@dataclass(frozen=True, slots=True)
class KillFailed:
    """Sending the stop signal failed with something other than ESRCH."""

    reason: str


@dataclass(frozen=True, slots=True)
class DependenciesReady:
    """Every ``depends_on`` program is RUNNING (and healthy, where checked)."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Time has passed; act on any deadline that is due."""


Input = (
    StartRequested
    | StopRequested
    | Spawned
    | SpawnFailed
    | Exited
    | KillFailed
    | DependenciesReady
    | Tick
)


# ---- effects ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spawn:
    """Start the program now; answer with Spawned or SpawnFailed."""


@dataclass(frozen=True, slots=True)
class Kill:
    pid: int
    signal: int
    as_group: bool


@dataclass(frozen=True, slots=True)
class Publish:
    """A state change happened. ``message`` is supervisor's log line for it, if any."""

    from_state: ProcessState
    to_state: ProcessState
    pid: int
    expected: bool
    message: str
    level: str  # "info" | "warn"


Effect = Spawn | Kill | Publish


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything observable about a machine, for tests that assert after every step."""

    state: ProcessState
    pid: int
    backoff: int
    deadline: float | None
    spawn_error: str
    exit_status: ExitStatus | None
    expected: bool
