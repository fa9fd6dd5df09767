"""One program's state machine: supervisor 4.3.0's rules with no I/O and an injected clock.

Owns: the transition table, startsecs/backoff/startretries/stopwaitsecs/autorestart rules,
and the deadline at which the machine next needs a ``Tick``.
May import: model, errors. **No os, time, logging, threading, subprocess** (enforced by
tests/unit/test_architecture.py).
Threading: loop thread only (the core owns every machine).

Theory of operation
-------------------
Inputs are facts (``Spawned``, ``SpawnFailed``, ``Exited``, ``KillFailed``), requests
(``StartRequested``, ``StopRequested``) and time (``Tick``). ``handle(input, now)`` returns
effects (``Spawn``, ``Kill``, ``Publish``) for the core to carry out; the core feeds the
outcome of a ``Spawn`` straight back as ``Spawned``/``SpawnFailed``. Every state change goes
through ``_enter``, which checks the table below *before* mutating (h11's check-then-mutate)
and emits exactly one ``Publish``.

Where supervisor waits for its next 1-second ``transition()`` sweep, we act in the same call
(BACKOFF -> FATAL once retries are exhausted, EXITED -> STARTING for autorestart,
STARTING -> RUNNING when startsecs is 0); where it must wait for time to pass, ``deadline``
says when, and the loop sleeps until then:

    state     deadline                   Tick at/after the deadline
    STARTING  start + startsecs          -> RUNNING (backoff reset)
    BACKOFF   last failure + backoff     -> STARTING (another try), unless restarts are held
    STOPPING  signal time + stopwaitsecs -> SIGKILL (again every stopwaitsecs until it dies)

Allowed transitions (``TRANSITIONS``)::

    STOPPED  -> STARTING
    STARTING -> RUNNING | BACKOFF | STOPPING | STOPPED
    RUNNING  -> STOPPING | EXITED
    BACKOFF  -> STARTING | FATAL | STOPPED
    STOPPING -> STOPPED | UNKNOWN
    EXITED   -> STARTING
    FATAL    -> STARTING
    UNKNOWN  -> STOPPED

Dependencies (an extension): while ``deps_ready`` is False (the core sets it from the
``depends_on`` programs' states), a start enters STARTING without a ``Spawn`` and ``waiting``
is set; ``DependenciesReady`` then emits the ``Spawn`` and starts the startsecs clock. A stop
while waiting goes STARTING -> STOPPED, since there is nothing to signal.

Desired state (``restart_allowed``, ``start_after_stop``) is kept apart from the observed
``state``: the core clears ``restart_allowed`` while the daemon shuts down, so nothing is
(re)spawned, exactly like supervisor's ``mood > RESTARTING`` guard.

Deliberate differences from supervisor, each a fix users asked for:
- An explicit start resets the retry counter (supervisor keeps it after a stop in BACKOFF).
- A start requested while STOPPING is remembered and carried out when STOPPED (restart).
- The exit status of a too-quick exit is kept for display (supervisor forgets it).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from .errors import AlreadyStarted, Failed, NotRunning
from .model import AutoRestart, ExitStatus, ProcessState, ProgramSpec

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


class ProcessMachine:
    """The state of one process, driven only through ``handle``."""

    def __init__(self, spec: ProgramSpec) -> None:
        self.spec = spec
        self.state = S.STOPPED
        self.pid = 0
        self.backoff = 0
        self.start_mono: float | None = None
        self.stop_mono: float | None = None
        self.exit_status: ExitStatus | None = None
        self.spawn_error = ""
        self.expected = True
        self.restart_allowed = True
        self.start_after_stop = False
        self._delay = 0.0
        self.deps_ready = True
        self.waiting = False

    # -- queries --

    @property
    def deadline(self) -> float | None:
        if self.state is S.STARTING and self.pid and self.start_mono is not None:
            return self.start_mono + self.spec.startsecs
        if self.state is S.BACKOFF and self.restart_allowed:
            return self._delay
        if self.state is S.STOPPING:
            return self._delay
        return None

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.state,
            self.pid,
            self.backoff,
            self.deadline,
            self.spawn_error,
            self.exit_status,
            self.expected,
        )

    # -- the one entry point --

    def handle(self, event: Input, now: float) -> list[Effect]:
        if isinstance(event, Tick):
            return self._on_tick(now)
        if isinstance(event, StartRequested):
            return self._on_start(now)
        if isinstance(event, StopRequested):
            return self._on_stop(now)
        if isinstance(event, Spawned):
            return self._on_spawned(event.pid, now)
        if isinstance(event, SpawnFailed):
            return self._on_spawn_failed(event.reason, now)
        if isinstance(event, Exited):
            return self._on_exited(event.status, now)
        if isinstance(event, DependenciesReady):
            return self._on_deps_ready(now)
        if isinstance(event, KillFailed):
            return self._on_kill_failed(event.reason)
        raise InvalidTransition(f"unknown input {event!r}")

    # -- requests --

    def _on_start(self, now: float) -> list[Effect]:
        name = self.spec.name
        if self.state in (S.STARTING, S.RUNNING, S.BACKOFF):
            raise AlreadyStarted(name)
        if self.state is S.UNKNOWN:
            raise Failed(f"{name} is in an unknown state")
        if self.state is S.STOPPING:
            self.start_after_stop = True
            return []
        self.backoff = 0
        return self._spawn(now)

    def _on_deps_ready(self, now: float) -> list[Effect]:
        if not (self.state is S.STARTING and self.waiting):
            return []
        self.waiting = False
        self.deps_ready = True
        self.start_mono = now
        return [Spawn()]

    def _on_stop(self, now: float) -> list[Effect]:
        if self.state is S.STARTING and self.waiting:
            self.waiting = False
            return [self._enter(S.STOPPED, message="", level="info")]
        if self.state is S.BACKOFF:
            return [self._enter(S.STOPPED, message="", level="info")]
        if self.state in (S.RUNNING, S.STARTING):
            if not self.pid:
                # The core answers Spawn before anything else; Kill(0, ...) would signal
                # the daemon's own process group.
                raise InvalidTransition(f"{self.spec.name}: stop before Spawn was answered")
            self._delay = now + self.spec.stopwaitsecs
            effects: list[Effect] = [self._enter(S.STOPPING, message="", level="info")]
            effects.append(Kill(self.pid, self.spec.stopsignal, self.spec.stopasgroup))
            return effects
        if self.state is S.STOPPING and self.start_after_stop:
            self.start_after_stop = False
            return []
        raise NotRunning(self.spec.name)

    # -- facts --

    def _on_spawned(self, pid: int, now: float) -> list[Effect]:
        if self.state is not S.STARTING or self.pid:
            raise InvalidTransition(f"{self.spec.name}: Spawned in {self.state.name}")
        self.pid = pid
        if self.spec.startsecs <= 0:
            return [self._running()]
        return []

    def _on_spawn_failed(self, reason: str, now: float) -> list[Effect]:
        if self.state is not S.STARTING or self.pid:
            raise InvalidTransition(f"{self.spec.name}: SpawnFailed in {self.state.name}")
        self.spawn_error = reason
        return self._backoff(now, message=f"spawnerr: {reason}", level="info")

    def _on_exited(self, status: ExitStatus, now: float) -> list[Effect]:
        if not self.pid or self.state not in (S.STARTING, S.RUNNING, S.STOPPING, S.UNKNOWN):
            raise InvalidTransition(f"{self.spec.name}: Exited in {self.state.name}")
        name = self.spec.name
        expected = status.policy_code in self.spec.exitcodes
        how = status.describe()
        self.stop_mono = now
        self.exit_status = status
        exited_pid, self.pid = self.pid, 0
        effects: list[Effect] = []
        if self.state in (S.STOPPING, S.UNKNOWN):
            level = "info" if expected else "warn"
            effects.append(
                self._enter(
                    S.STOPPED, message=f"stopped: {name} ({how})", level=level, pid=exited_pid
                )
            )
            if self.start_after_stop and self.restart_allowed:
                self.start_after_stop = False
                self.backoff = 0
                effects += self._spawn(now)
            self.start_after_stop = False
            return effects
        assert self.start_mono is not None
        if self.state is S.STARTING and now - self.start_mono < self.spec.startsecs:
            self.spawn_error = EXITED_TOO_QUICKLY
            return self._backoff(
                now, message=f"exited: {name} ({how}; not expected)", level="warn", pid=exited_pid
            )
        if self.state is S.STARTING:
            effects.append(self._running(pid=exited_pid))
        self.backoff = 0
        self.expected = expected
        if expected:
            self.spawn_error = ""
            msg, level = f"exited: {name} ({how}; expected)", "info"
        else:
            self.spawn_error = f"Bad exit code {status.policy_code}"
            msg, level = f"exited: {name} ({how}; not expected)", "warn"
        effects.append(
            self._enter(S.EXITED, message=msg, level=level, expected=expected, pid=exited_pid)
        )
        policy = self.spec.autorestart
        wants_restart = policy is AutoRestart.ALWAYS or (
            policy is AutoRestart.UNEXPECTED and not expected
        )
        if wants_restart and self.restart_allowed:
            effects += self._spawn(now)
        return effects

    def _on_kill_failed(self, reason: str) -> list[Effect]:
        if self.state is not S.STOPPING:
            raise InvalidTransition(f"{self.spec.name}: KillFailed in {self.state.name}")
        self.spawn_error = reason
        return [
            self._enter(
                S.UNKNOWN,
                message=f"unknown problem killing {self.spec.name}: {reason}",
                level="warn",
            )
        ]

    def _on_tick(self, now: float) -> list[Effect]:
        deadline = self.deadline
        if deadline is None or now < deadline:
            return []
        if self.state is S.STARTING:
            return [self._running()]
        if self.state is S.BACKOFF:
            return self._spawn(now)
        # STOPPING past stopwaitsecs: SIGKILL, and again every stopwaitsecs if it survives
        # (at most once a second, so stopwaitsecs=0 cannot make the loop spin on a process
        # stuck in uninterruptible sleep).
        self._delay = now + max(self.spec.stopwaitsecs, MIN_REKILL_SECS)
        return [Kill(self.pid, int(signal.SIGKILL), self.spec.killasgroup)]

    # -- helpers --

    def _spawn(self, now: float) -> list[Effect]:
        self.spawn_error = ""
        self.exit_status = None
        self.expected = True
        self.start_mono = now
        entered = self._enter(S.STARTING, message="", level="info")
        if not self.deps_ready:
            self.waiting = True
            return [entered]
        return [entered, Spawn()]

    def _running(self, pid: int | None = None) -> Publish:
        self.backoff = 0
        secs = self.spec.startsecs
        shown = int(secs) if float(secs).is_integer() else secs
        return self._enter(
            S.RUNNING,
            message=f"success: {self.spec.name} entered RUNNING state, process has stayed up "
            f"for > than {shown} seconds (startsecs)",
            level="info",
            pid=pid,
        )

    def _backoff(
        self, now: float, *, message: str, level: str, pid: int | None = None
    ) -> list[Effect]:
        """Enter BACKOFF with supervisor's linear delay; give up at once when out of retries."""
        self.pid = 0
        self.backoff += 1
        self._delay = now + backoff_delay(self.spec, self.backoff)
        effects: list[Effect] = [self._enter(S.BACKOFF, message=message, level=level, pid=pid)]
        if 0 <= self.spec.startretries < self.backoff:
            self.backoff = 0
            effects.append(
                self._enter(
                    S.FATAL,
                    message=f"gave up: {self.spec.name} entered FATAL state, too many start "
                    "retries too quickly",
                    level="info",
                )
            )
        return effects

    def _enter(
        self,
        new: ProcessState,
        *,
        message: str,
        level: str,
        expected: bool = True,
        pid: int | None = None,
    ) -> Publish:
        old = self.state
        if new not in TRANSITIONS[old]:
            raise InvalidTransition(f"{self.spec.name}: {old.name} -> {new.name}")
        self.state = new
        return Publish(old, new, self.pid if pid is None else pid, expected, message, level)
