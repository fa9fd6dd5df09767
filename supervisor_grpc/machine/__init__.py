"""One program's state machine: supervisor 4.3.0's rules with no I/O and an injected clock.

Owns: the transition table, startsecs/backoff/startretries/stopwaitsecs/autorestart rules,
and the deadline at which the machine next needs a ``Tick``.
May import: model, errors. **No os, time, logging, threading, subprocess** (enforced by
tests/tooling/test_architecture.py).
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

STARTING has three phases that supervisor tells apart by looking at ``pid`` (``Phase``):
``WAITING`` (held by ``depends_on``: no ``Spawn`` yet), ``SPAWNING`` (``Spawn`` emitted, not
yet answered) and ``STARTING`` (a pid, the startsecs clock running). ``handle`` dispatches
through ``HANDLERS``, keyed by (phase, input type); a pair that is not in the table is a bug
and raises ``InvalidTransition`` before anything is mutated. Requests that the phase refuses
(start while RUNNING, stop while STOPPED) are in the table too, raising supervisor's errors.

Dependencies (an extension): while ``deps_ready`` is False (the core sets it from the
``depends_on`` programs' states), a start enters WAITING; ``DependenciesReady`` then emits the
``Spawn`` and starts the startsecs clock. A stop while waiting goes STARTING -> STOPPED, since
there is nothing to signal.

Desired state (``restart_allowed``, ``start_after_stop``) is kept apart from the observed
``state``: the core clears ``restart_allowed`` while the daemon shuts down, so nothing is
(re)spawned, exactly like supervisor's ``mood > RESTARTING`` guard.

Deliberate differences from supervisor, each a fix users asked for:
- An explicit start resets the retry counter (supervisor keeps it after a stop in BACKOFF).
- A start requested while STOPPING is remembered and carried out when STOPPED (restart).
- The exit status of a too-quick exit is kept for display (supervisor forgets it).
"""

from __future__ import annotations

from .process import HANDLERS, Handler, ProcessMachine
from .vocabulary import (
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

__all__ = [
    "EXITED_TOO_QUICKLY",
    "HANDLERS",
    "MIN_REKILL_SECS",
    "PHASE_STATE",
    "TRANSITIONS",
    "DependenciesReady",
    "Effect",
    "Exited",
    "Handler",
    "Input",
    "InvalidTransition",
    "Kill",
    "KillFailed",
    "Phase",
    "ProcessMachine",
    "Publish",
    "Snapshot",
    "Spawn",
    "SpawnFailed",
    "Spawned",
    "StartRequested",
    "StopRequested",
    "Tick",
    "backoff_delay",
]
