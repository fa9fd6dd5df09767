"""One program's state machine: ``ProcessMachine`` and its dispatch table ``HANDLERS``.

Owns: the rules of each (phase, input) pair; startsecs/backoff/startretries/stopwaitsecs/
autorestart; the deadline at which the machine next needs a ``Tick``.
May import: model, errors, the machine's vocabulary, pure stdlib. No I/O.
Threading: loop thread only (the core owns every machine).
"""

from __future__ import annotations

import signal
from collections.abc import Callable

from ..errors import AlreadyStarted, Failed, NotRunning
from ..model import AutoRestart, ExitStatus, ProcessState, ProgramSpec
from .vocabulary import (
    ENTERED_PHASE,
    EXITED_TOO_QUICKLY,
    MIN_REKILL_SECS,
    PHASE_STATE,
    TRANSITIONS,
    DependenciesReady,
    Effect,
    Exited,
    Input,
    InvalidTransition,
    Kill,
    KillFailed,
    Phase,
    Publish,
    Snapshot,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    Tick,
    backoff_delay,
)

S = ProcessState


class ProcessMachine:
    """The state of one process, driven only through ``handle``."""

    def __init__(self, spec: ProgramSpec) -> None:
        self.spec = spec
        self.phase = Phase.STOPPED
        self.pid = 0
        self.backoff = 0
        self.start_mono: float | None = None
        self.stop_mono: float | None = None
        self.exit_status: ExitStatus | None = None
        self.spawn_error = ""
        self.expected = True
        # Desired state, apart from the observed phase: may it (re)spawn by itself, and was a
        # start asked for while it was stopping (carried out once it has stopped).
        self.restart_allowed = True
        self.start_after_stop = False
        self._delay = 0.0
        self.deps_ready = True

    # -- queries --

    @property
    def state(self) -> ProcessState:
        return PHASE_STATE[self.phase]

    @property
    def waiting(self) -> bool:
        """Held in STARTING by ``depends_on``: nothing was spawned yet."""
        return self.phase is Phase.WAITING

    @property
    def deadline(self) -> float | None:
        if self.phase is Phase.STARTING and self.start_mono is not None:
            return self.start_mono + self.spec.startsecs
        if self.phase is Phase.BACKOFF and self.restart_allowed:
            return self._delay
        if self.phase is Phase.STOPPING:
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
        handler = HANDLERS.get((self.phase, type(event)))
        if handler is None:
            raise InvalidTransition(
                f"{self.spec.name}: {type(event).__name__} in {self.phase.name}"
            )
        return handler(self, event, now)

    # -- requests --

    def _start(self, event: Input, now: float) -> list[Effect]:
        self.backoff = 0
        return self._spawn(now)

    def _already_started(self, event: Input, now: float) -> list[Effect]:
        raise AlreadyStarted(self.spec.name)

    def _start_unknown(self, event: Input, now: float) -> list[Effect]:
        raise Failed(f"{self.spec.name} is in an unknown state")

    def _start_after_stop(self, event: Input, now: float) -> list[Effect]:
        self.start_after_stop = True
        return []

    def _on_deps_ready(self, event: Input, now: float) -> list[Effect]:
        self.phase = Phase.SPAWNING
        self.deps_ready = True
        self.start_mono = now
        return [Spawn()]

    def _stop_unspawned(self, event: Input, now: float) -> list[Effect]:
        """Held or backing off: nothing runs, so there is nothing to signal."""
        return [self._enter(S.STOPPED, message="", level="info")]

    def _stop_running(self, event: Input, now: float) -> list[Effect]:
        self._delay = now + self.spec.stopwaitsecs
        effects: list[Effect] = [self._enter(S.STOPPING, message="", level="info")]
        effects.append(Kill(self.pid, self.spec.stopsignal, self.spec.stopasgroup))
        return effects

    def _stop_while_stopping(self, event: Input, now: float) -> list[Effect]:
        """A stop cancels a start queued behind the current stop; otherwise nothing runs."""
        if not self.start_after_stop:
            raise NotRunning(self.spec.name)
        self.start_after_stop = False
        return []

    def _not_running(self, event: Input, now: float) -> list[Effect]:
        raise NotRunning(self.spec.name)

    # -- facts --

    def _on_spawned(self, event: Input, now: float) -> list[Effect]:
        assert isinstance(event, Spawned)
        self.pid = event.pid
        self.phase = Phase.STARTING
        if self.spec.startsecs <= 0:
            return [self._running()]
        return []

    def _on_spawn_failed(self, event: Input, now: float) -> list[Effect]:
        assert isinstance(event, SpawnFailed)
        self.spawn_error = event.reason
        return self._backoff(now, message=f"spawnerr: {event.reason}", level="info")

    def _on_exited_while_stopping(self, event: Input, now: float) -> list[Effect]:
        assert isinstance(event, Exited)
        status = event.status
        expected = status.policy_code in self.spec.exitcodes
        exited_pid = self._record_exit(status, now)
        effects: list[Effect] = [
            self._enter(
                S.STOPPED,
                message=f"stopped: {self.spec.name} ({status.describe()})",
                level="info" if expected else "warn",
                pid=exited_pid,
            )
        ]
        if self.start_after_stop and self.restart_allowed:
            self.start_after_stop = False
            self.backoff = 0
            effects += self._spawn(now)
        self.start_after_stop = False
        return effects

    def _on_exited_while_up(self, event: Input, now: float) -> list[Effect]:
        assert isinstance(event, Exited)
        status = event.status
        name = self.spec.name
        expected = status.policy_code in self.spec.exitcodes
        how = status.describe()
        was_starting = self.phase is Phase.STARTING
        exited_pid = self._record_exit(status, now)
        assert self.start_mono is not None
        if was_starting and now - self.start_mono < self.spec.startsecs:
            self.spawn_error = EXITED_TOO_QUICKLY
            return self._backoff(
                now, message=f"exited: {name} ({how}; not expected)", level="warn", pid=exited_pid
            )
        effects: list[Effect] = []
        if was_starting:
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

    def _on_kill_failed(self, event: Input, now: float) -> list[Effect]:
        assert isinstance(event, KillFailed)
        self.spawn_error = event.reason
        return [
            self._enter(
                S.UNKNOWN,
                message=f"unknown problem killing {self.spec.name}: {event.reason}",
                level="warn",
            )
        ]

    def _ignore(self, event: Input, now: float) -> list[Effect]:
        return []

    # -- time --

    def _tick_starting(self, event: Input, now: float) -> list[Effect]:
        deadline = self.deadline
        if deadline is None or now < deadline:
            return []
        return [self._running()]

    def _tick_backoff(self, event: Input, now: float) -> list[Effect]:
        deadline = self.deadline
        if deadline is None or now < deadline:
            return []
        return self._spawn(now)

    def _tick_stopping(self, event: Input, now: float) -> list[Effect]:
        """Past stopwaitsecs: SIGKILL, and again every stopwaitsecs if it survives (at most
        once a second, so stopwaitsecs=0 cannot make the loop spin on a process stuck in
        uninterruptible sleep)."""
        if now < self._delay:
            return []
        self._delay = now + max(self.spec.stopwaitsecs, MIN_REKILL_SECS)
        return [Kill(self.pid, int(signal.SIGKILL), self.spec.killasgroup)]

    # -- helpers --

    def _record_exit(self, status: ExitStatus, now: float) -> int:
        """Book an exit; returns the pid that exited (the machine has none afterwards)."""
        self.stop_mono = now
        self.exit_status = status
        exited_pid, self.pid = self.pid, 0
        return exited_pid

    def _spawn(self, now: float) -> list[Effect]:
        self.spawn_error = ""
        self.exit_status = None
        self.expected = True
        self.start_mono = now
        entered = self._enter(S.STARTING, message="", level="info")
        if not self.deps_ready:
            self.phase = Phase.WAITING
            return [entered]
        self.phase = Phase.SPAWNING
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
        self.phase = ENTERED_PHASE[new]
        return Publish(old, new, self.pid if pid is None else pid, expected, message, level)


Handler = Callable[[ProcessMachine, Input, float], list[Effect]]
P = Phase
M = ProcessMachine

# (phase, input type) -> handler. Every pair the machine accepts is listed; a pair that is
# missing is a bug in the caller (InvalidTransition), never silently ignored.
HANDLERS: dict[tuple[Phase, type], Handler] = {
    **{(p, StartRequested): M._start for p in (P.STOPPED, P.EXITED, P.FATAL)},
    **{
        (p, StartRequested): M._already_started
        for p in (P.WAITING, P.SPAWNING, P.STARTING, P.RUNNING, P.BACKOFF)
    },
    (P.STOPPING, StartRequested): M._start_after_stop,
    (P.UNKNOWN, StartRequested): M._start_unknown,
    **{(p, StopRequested): M._stop_unspawned for p in (P.WAITING, P.BACKOFF)},
    **{(p, StopRequested): M._stop_running for p in (P.STARTING, P.RUNNING)},
    (P.STOPPING, StopRequested): M._stop_while_stopping,
    **{(p, StopRequested): M._not_running for p in (P.STOPPED, P.EXITED, P.FATAL, P.UNKNOWN)},
    (P.SPAWNING, Spawned): M._on_spawned,
    (P.SPAWNING, SpawnFailed): M._on_spawn_failed,
    **{(p, Exited): M._on_exited_while_up for p in (P.STARTING, P.RUNNING)},
    **{(p, Exited): M._on_exited_while_stopping for p in (P.STOPPING, P.UNKNOWN)},
    (P.STOPPING, KillFailed): M._on_kill_failed,
    (P.WAITING, DependenciesReady): M._on_deps_ready,
    **{(p, DependenciesReady): M._ignore for p in Phase if p is not P.WAITING},
    (P.STARTING, Tick): M._tick_starting,
    (P.BACKOFF, Tick): M._tick_backoff,
    (P.STOPPING, Tick): M._tick_stopping,
    **{
        (p, Tick): M._ignore
        for p in (P.STOPPED, P.WAITING, P.SPAWNING, P.RUNNING, P.EXITED, P.FATAL, P.UNKNOWN)
    },
}
