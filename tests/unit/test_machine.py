"""ProcessMachine against supervisor 4.3.0's process.py rules, with a fake clock.

Two shapes (h11's): a table over every (state, input) pair, and scenarios that assert the
whole snapshot after every step. Illegal inputs must raise and mutate nothing.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field
from typing import Any

import pytest

from supervisor_grpc import machine as machine_module
from supervisor_grpc.errors import AlreadyStarted, Failed, NotRunning
from supervisor_grpc.machine import (
    EXITED_TOO_QUICKLY,
    HANDLERS,
    TRANSITIONS,
    Effect,
    Exited,
    Input,
    InvalidTransition,
    Kill,
    KillFailed,
    Phase,
    ProcessMachine,
    Publish,
    Snapshot,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    Tick,
)
from supervisor_grpc.model import AutoRestart, ExitStatus, ProcessState, ProgramSpec
from tests.support.fakes import FakeClock, make_spec

S = ProcessState
TERM = int(signal.SIGTERM)
KILL = int(signal.SIGKILL)
PID = 100

RUNNING_MSG = (
    "success: a entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)"
)
FATAL_MSG = "gave up: a entered FATAL state, too many start retries too quickly"


# ---- harness ------------------------------------------------------------------------------


class Harness:
    """A machine plus the fake clock that feeds it ``now``."""

    def __init__(self, spec: ProgramSpec | None = None) -> None:
        self.spec = spec if spec is not None else make_spec()
        self.machine = ProcessMachine(self.spec)
        self.clock = FakeClock()

    def feed(self, event: Input) -> list[Effect]:
        return self.machine.handle(event, self.clock.now)

    def at(self, t: float, event: Input) -> list[Effect]:
        """Move the clock to absolute time ``t`` (never backwards), then feed ``event``."""
        self.clock.advance(t - self.clock.now)
        return self.feed(event)

    def snap(self) -> Snapshot:
        return self.machine.snapshot()

    def internals(self) -> dict[str, Any]:
        """Every attribute, for "nothing was mutated" checks stricter than the snapshot."""
        return dict(vars(self.machine))  # every attribute is an immutable value


def due(h: Harness) -> float:
    """The machine's deadline, which the test expects to exist."""
    deadline = h.snap().deadline
    assert deadline is not None
    return deadline


def snap(
    state: ProcessState,
    *,
    pid: int = 0,
    backoff: int = 0,
    deadline: float | None = None,
    spawn_error: str = "",
    exit_status: ExitStatus | None = None,
    expected: bool = True,
) -> Snapshot:
    return Snapshot(state, pid, backoff, deadline, spawn_error, exit_status, expected)


def pub(
    frm: ProcessState,
    to: ProcessState,
    pid: int = 0,
    message: str = "",
    level: str = "info",
    expected: bool = True,
) -> Publish:
    return Publish(frm, to, pid, expected, message, level)


def code(n: int) -> Exited:
    return Exited(ExitStatus(code=n))


def killed_by(sig: int) -> Exited:
    return Exited(ExitStatus(signal=sig))


def running(h: Harness, pid: int = PID) -> None:
    """STOPPED -> STARTING -> RUNNING through legal inputs; the clock ends at startsecs."""
    assert h.feed(StartRequested()) == [pub(S.STOPPED, S.STARTING), Spawn()]
    assert h.feed(Spawned(pid)) == []
    h.at(h.clock.now + h.spec.startsecs, Tick())
    assert h.snap().state is S.RUNNING


# ---- the transition table -----------------------------------------------------------------


def test_table_has_every_state() -> None:
    assert set(TRANSITIONS) == set(ProcessState)


def _docstring_table() -> dict[ProcessState, frozenset[ProcessState]]:
    doc = machine_module.__doc__
    assert doc is not None
    after = doc.split("Allowed transitions (``TRANSITIONS``)::", 1)[1]
    table: dict[ProcessState, frozenset[ProcessState]] = {}
    for line in after.splitlines()[1:]:
        if not line.strip():
            if table:
                break
            continue
        m = re.fullmatch(r"\s+([A-Z]+)\s+->\s+([A-Z |]+)", line)
        assert m, f"unparseable table line {line!r}"
        src = ProcessState[m.group(1)]
        assert src not in table, f"{src.name} listed twice"
        table[src] = frozenset(ProcessState[n.strip()] for n in m.group(2).split("|"))
    return table


def test_docstring_table_matches_transitions() -> None:
    assert _docstring_table() == TRANSITIONS


# ---- every (state, input) pair ------------------------------------------------------------

TABLE_SPEC = make_spec(stopasgroup=False, killasgroup=True)


def _reach(label: str) -> Harness:
    """Drive a fresh machine through legal inputs to the situation named ``label``."""
    h = Harness(TABLE_SPEC)
    if label == "STOPPED":
        return h
    h.feed(StartRequested())
    if label == "STARTING_AWAITING_SPAWN":
        return h
    h.feed(Spawned(PID))
    if label == "STARTING":
        return h
    if label == "BACKOFF":
        h.at(0.5, code(1))
        return h
    h.at(1.0, Tick())
    if label == "RUNNING":
        return h
    if label == "EXITED":
        h.at(2.0, code(0))
        return h
    h.at(2.0, StopRequested())
    if label == "STOPPING":
        return h
    if label == "STOPPING_START_PENDING":
        h.feed(StartRequested())
        return h
    if label == "UNKNOWN":
        h.feed(KillFailed("EPERM"))
        return h
    raise AssertionError(label)


def _reach_fatal() -> Harness:
    """Four spawn failures in a row with startretries=3."""
    h = Harness(TABLE_SPEC)
    h.feed(StartRequested())
    h.feed(SpawnFailed("boom"))
    while h.snap().state is S.BACKOFF:
        deadline = h.snap().deadline
        assert deadline is not None
        h.at(deadline, Tick())
        h.feed(SpawnFailed("boom"))
    assert h.snap().state is S.FATAL
    return h


def reach(label: str) -> Harness:
    h = _reach_fatal() if label == "FATAL" else _reach(label)
    assert h.snap().state is S[label.split("_")[0]]
    return h


START = StartRequested()
STOP = StopRequested()
SPAWNED = Spawned(200)
SPAWN_FAILED = SpawnFailed("boom")
EXIT1 = code(1)
KILL_FAILED = KillFailed("EPERM")
TICK = Tick()
INPUTS = [START, STOP, SPAWNED, SPAWN_FAILED, EXIT1, KILL_FAILED, TICK]

STOPPED_1 = "stopped: a (exit status 1)"
EXITED_1 = "exited: a (exit status 1; not expected)"

# (situation, input) -> (state after, effects) | exception type. Every pair is listed.
LEGAL: dict[tuple[str, Input], tuple[ProcessState, list[Effect]]] = {
    ("STOPPED", START): (S.STARTING, [pub(S.STOPPED, S.STARTING), Spawn()]),
    ("STOPPED", TICK): (S.STOPPED, []),
    ("STARTING_AWAITING_SPAWN", SPAWNED): (S.STARTING, []),
    ("STARTING_AWAITING_SPAWN", SPAWN_FAILED): (
        S.BACKOFF,
        [pub(S.STARTING, S.BACKOFF, 0, "spawnerr: boom")],
    ),
    ("STARTING_AWAITING_SPAWN", TICK): (S.STARTING, []),
    ("STARTING", STOP): (S.STOPPING, [pub(S.STARTING, S.STOPPING, PID), Kill(PID, TERM, False)]),
    ("STARTING", EXIT1): (S.BACKOFF, [pub(S.STARTING, S.BACKOFF, PID, EXITED_1, "warn")]),
    ("STARTING", TICK): (S.RUNNING, [pub(S.STARTING, S.RUNNING, PID, RUNNING_MSG)]),
    ("RUNNING", STOP): (S.STOPPING, [pub(S.RUNNING, S.STOPPING, PID), Kill(PID, TERM, False)]),
    ("RUNNING", EXIT1): (
        S.STARTING,
        [
            pub(S.RUNNING, S.EXITED, PID, EXITED_1, "warn", expected=False),
            pub(S.EXITED, S.STARTING),
            Spawn(),
        ],
    ),
    ("RUNNING", TICK): (S.RUNNING, []),
    ("BACKOFF", STOP): (S.STOPPED, [pub(S.BACKOFF, S.STOPPED)]),
    ("BACKOFF", TICK): (S.STARTING, [pub(S.BACKOFF, S.STARTING), Spawn()]),
    ("STOPPING", START): (S.STOPPING, []),
    ("STOPPING", EXIT1): (S.STOPPED, [pub(S.STOPPING, S.STOPPED, PID, STOPPED_1, "warn")]),
    ("STOPPING", KILL_FAILED): (
        S.UNKNOWN,
        [pub(S.STOPPING, S.UNKNOWN, PID, "unknown problem killing a: EPERM", "warn")],
    ),
    ("STOPPING", TICK): (S.STOPPING, [Kill(PID, KILL, True)]),
    ("STOPPING_START_PENDING", START): (S.STOPPING, []),
    ("STOPPING_START_PENDING", STOP): (S.STOPPING, []),
    ("STOPPING_START_PENDING", EXIT1): (
        S.STARTING,
        [pub(S.STOPPING, S.STOPPED, PID, STOPPED_1, "warn"), pub(S.STOPPED, S.STARTING), Spawn()],
    ),
    ("STOPPING_START_PENDING", KILL_FAILED): (
        S.UNKNOWN,
        [pub(S.STOPPING, S.UNKNOWN, PID, "unknown problem killing a: EPERM", "warn")],
    ),
    ("STOPPING_START_PENDING", TICK): (S.STOPPING, [Kill(PID, KILL, True)]),
    ("EXITED", START): (S.STARTING, [pub(S.EXITED, S.STARTING), Spawn()]),
    ("EXITED", TICK): (S.EXITED, []),
    ("FATAL", START): (S.STARTING, [pub(S.FATAL, S.STARTING), Spawn()]),
    ("FATAL", TICK): (S.FATAL, []),
    ("UNKNOWN", EXIT1): (S.STOPPED, [pub(S.UNKNOWN, S.STOPPED, PID, STOPPED_1, "warn")]),
    ("UNKNOWN", TICK): (S.UNKNOWN, []),
}

USER_ERRORS: dict[tuple[str, Input], type[Exception]] = {
    ("STARTING_AWAITING_SPAWN", START): AlreadyStarted,
    ("STARTING", START): AlreadyStarted,
    ("RUNNING", START): AlreadyStarted,
    ("BACKOFF", START): AlreadyStarted,
    ("STOPPED", STOP): NotRunning,
    ("EXITED", STOP): NotRunning,
    ("FATAL", STOP): NotRunning,
    ("UNKNOWN", STOP): NotRunning,
    ("STOPPING", STOP): NotRunning,
    ("UNKNOWN", START): Failed,
}

SITUATIONS = [
    "STOPPED",
    "STARTING_AWAITING_SPAWN",
    "STARTING",
    "RUNNING",
    "BACKOFF",
    "STOPPING",
    "STOPPING_START_PENDING",
    "EXITED",
    "FATAL",
    "UNKNOWN",
]


@dataclass
class Case:
    situation: str
    event: Input
    outcome: tuple[ProcessState, list[Effect]] | type[Exception] = field(repr=False)

    @property
    def id(self) -> str:
        return f"{self.situation}-{type(self.event).__name__}"


def _cases() -> list[Case]:
    cases = []
    for situation in SITUATIONS:
        for event in INPUTS:
            key = (situation, event)
            outcome: tuple[ProcessState, list[Effect]] | type[Exception]
            if key in LEGAL:
                outcome = LEGAL[key]
            elif key in USER_ERRORS:
                outcome = USER_ERRORS[key]
            else:
                outcome = InvalidTransition
            cases.append(Case(situation, event, outcome))
    return cases


CASES = _cases()


def test_table_covers_every_state_and_input() -> None:
    assert {c.situation for c in CASES} == set(SITUATIONS)
    assert {reach(s).snap().state for s in SITUATIONS} == set(ProcessState)
    assert len(CASES) == len(SITUATIONS) * 7
    assert not set(LEGAL) & set(USER_ERRORS)


SITUATION_PHASE = {
    "STOPPED": Phase.STOPPED,
    "STARTING_AWAITING_SPAWN": Phase.SPAWNING,
    "STARTING": Phase.STARTING,
    "RUNNING": Phase.RUNNING,
    "BACKOFF": Phase.BACKOFF,
    "STOPPING": Phase.STOPPING,
    "STOPPING_START_PENDING": Phase.STOPPING,  # a start queued is desired state, not a phase
    "EXITED": Phase.EXITED,
    "FATAL": Phase.FATAL,
    "UNKNOWN": Phase.UNKNOWN,
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_dispatch_table_lists_exactly_the_pairs_this_table_accepts(case: Case) -> None:
    """The machine's HANDLERS and this file's table say the same: a (phase, input) pair is in
    HANDLERS exactly when it is legal or a user error; every other pair is a caller's bug."""
    phase = reach(case.situation).machine.phase
    assert phase is SITUATION_PHASE[case.situation]
    assert ((phase, type(case.event)) in HANDLERS) == (case.outcome is not InvalidTransition)


def _time_for(h: Harness, event: Input) -> float:
    """A Tick goes at the deadline (when there is one); everything else goes at ``now``."""
    if isinstance(event, Tick):
        deadline = h.snap().deadline
        return deadline if deadline is not None else h.clock.now + 100
    return h.clock.now


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_state_input_pair(case: Case) -> None:
    h = reach(case.situation)
    t = _time_for(h, case.event)
    before, internals = h.snap(), h.internals()
    if isinstance(case.outcome, tuple):
        state, effects = case.outcome
        assert h.at(t, case.event) == effects
        assert h.snap().state is state
    else:
        with pytest.raises(case.outcome):
            h.at(t, case.event)
        assert h.snap() == before
        assert h.internals() == internals


# ---- scenarios: startsecs, backoff, FATAL -------------------------------------------------


def test_exit_before_startsecs_enters_backoff() -> None:
    h = Harness(make_spec(startsecs=1))
    assert h.feed(StartRequested()) == [pub(S.STOPPED, S.STARTING), Spawn()]
    assert h.snap() == snap(S.STARTING)
    assert h.feed(Spawned(PID)) == []
    assert h.snap() == snap(S.STARTING, pid=PID, deadline=1.0)
    assert h.at(0.5, code(1)) == [pub(S.STARTING, S.BACKOFF, PID, EXITED_1, "warn")]
    after_exit = snap(
        S.BACKOFF,
        backoff=1,
        deadline=1.5,
        spawn_error=EXITED_TOO_QUICKLY,
        exit_status=ExitStatus(code=1),
    )
    assert h.snap() == after_exit
    assert h.at(1.4, Tick()) == []
    assert h.snap() == after_exit
    assert h.at(1.5, Tick()) == [pub(S.BACKOFF, S.STARTING), Spawn()]
    assert h.snap() == snap(S.STARTING, backoff=1)


def test_exit_exactly_at_startsecs_counts_as_started() -> None:
    # supervisor: too_quickly = now - laststart < startsecs
    h = Harness()
    h.feed(StartRequested())
    h.feed(Spawned(PID))
    assert h.at(1.0, code(0)) == [
        pub(S.STARTING, S.RUNNING, PID, RUNNING_MSG),
        pub(S.RUNNING, S.EXITED, PID, "exited: a (exit status 0; expected)"),
    ]
    assert h.snap() == snap(S.EXITED, exit_status=ExitStatus(code=0))


def test_backoff_delays_grow_linearly_1_2_3() -> None:
    h = Harness(make_spec(startretries=3))
    h.feed(StartRequested())
    for n, t in enumerate([0.25, 1.75, 4.0], start=1):
        assert h.feed(Spawned(PID + n)) == []
        assert h.snap() == snap(S.STARTING, pid=PID + n, backoff=n - 1, deadline=h.clock.now + 1)
        assert h.at(t, code(1)) == [pub(S.STARTING, S.BACKOFF, PID + n, EXITED_1, "warn")]
        assert h.snap() == snap(
            S.BACKOFF,
            backoff=n,
            deadline=t + n,
            spawn_error=EXITED_TOO_QUICKLY,
            exit_status=ExitStatus(code=1),
        )
        assert h.at(t + n - 0.01, Tick()) == []
        assert h.at(t + n, Tick()) == [pub(S.BACKOFF, S.STARTING), Spawn()]
        assert h.snap() == snap(S.STARTING, backoff=n)


@pytest.mark.parametrize("startretries", [0, 1, 3])
def test_fatal_after_exactly_startretries_retries(startretries: int) -> None:
    h = Harness(make_spec(startretries=startretries))
    spawns = h.feed(StartRequested()).count(Spawn())
    for attempt in range(1, startretries + 2):
        h.feed(Spawned(PID + attempt))
        effects = h.at(h.clock.now + 0.5, code(1))
        backoff_pub = pub(S.STARTING, S.BACKOFF, PID + attempt, EXITED_1, "warn")
        if attempt <= startretries:
            assert effects == [backoff_pub]
            assert h.snap().backoff == attempt
            deadline = h.snap().deadline
            assert deadline is not None
            spawns += h.at(deadline, Tick()).count(Spawn())
        else:
            assert effects == [backoff_pub, pub(S.BACKOFF, S.FATAL, 0, FATAL_MSG)]
    assert spawns == startretries + 1
    fatal = snap(S.FATAL, spawn_error=EXITED_TOO_QUICKLY, exit_status=ExitStatus(code=1))
    assert h.snap() == fatal
    assert h.at(h.clock.now + 1000, Tick()) == []
    assert h.snap() == fatal


def test_startsecs_zero_goes_running_on_spawned() -> None:
    h = Harness(make_spec(startsecs=0))
    assert h.feed(StartRequested()) == [pub(S.STOPPED, S.STARTING), Spawn()]
    msg = "success: a entered RUNNING state, process has stayed up for > than 0 seconds (startsecs)"
    assert h.feed(Spawned(PID)) == [pub(S.STARTING, S.RUNNING, PID, msg)]
    assert h.snap() == snap(S.RUNNING, pid=PID)
    # An exit at the very same instant is not "too quick" with startsecs=0.
    assert h.feed(code(0)) == [pub(S.RUNNING, S.EXITED, PID, "exited: a (exit status 0; expected)")]


def test_fractional_startsecs_is_shown_as_is() -> None:
    h = Harness(make_spec(startsecs=1.5))
    h.feed(StartRequested())
    h.feed(Spawned(PID))
    msg = RUNNING_MSG.replace("> than 1 seconds", "> than 1.5 seconds")
    assert h.at(1.5, Tick()) == [pub(S.STARTING, S.RUNNING, PID, msg)]


def test_tick_at_startsecs_enters_running_and_resets_backoff() -> None:
    h = Harness()
    h.feed(StartRequested())
    h.feed(SpawnFailed("boom"))
    h.at(1.0, Tick())
    h.feed(Spawned(PID))
    assert h.snap() == snap(S.STARTING, pid=PID, backoff=1, deadline=2.0)
    assert h.at(1.99, Tick()) == []
    assert h.at(2.0, Tick()) == [pub(S.STARTING, S.RUNNING, PID, RUNNING_MSG)]
    assert h.snap() == snap(S.RUNNING, pid=PID)


def test_exit_after_startsecs_before_tick_publishes_running_then_exited() -> None:
    h = Harness(make_spec(autorestart=AutoRestart.NEVER))
    h.feed(StartRequested())
    h.feed(Spawned(PID))
    assert h.at(1.5, code(1)) == [
        pub(S.STARTING, S.RUNNING, PID, RUNNING_MSG),
        pub(S.RUNNING, S.EXITED, PID, EXITED_1, "warn", expected=False),
    ]
    assert h.snap() == snap(
        S.EXITED, spawn_error="Bad exit code 1", exit_status=ExitStatus(code=1), expected=False
    )


# ---- scenarios: exits and autorestart -----------------------------------------------------


def test_expected_exit_with_autorestart_unexpected_stays_exited() -> None:
    h = Harness(make_spec(autorestart=AutoRestart.UNEXPECTED))
    running(h)
    assert h.snap() == snap(S.RUNNING, pid=PID)
    assert h.at(5.0, code(0)) == [
        pub(S.RUNNING, S.EXITED, PID, "exited: a (exit status 0; expected)"),
    ]
    exited = snap(S.EXITED, exit_status=ExitStatus(code=0))
    assert h.snap() == exited
    assert h.at(100.0, Tick()) == []
    assert h.snap() == exited


def test_unexpected_exit_restarts() -> None:
    h = Harness(make_spec(autorestart=AutoRestart.UNEXPECTED))
    running(h)
    assert h.at(5.0, code(2)) == [
        pub(S.RUNNING, S.EXITED, PID, "exited: a (exit status 2; not expected)", "warn", False),
        pub(S.EXITED, S.STARTING),
        Spawn(),
    ]
    assert h.snap() == snap(S.STARTING)
    assert h.feed(Spawned(PID + 1)) == []
    assert h.snap() == snap(S.STARTING, pid=PID + 1, deadline=6.0)


def test_autorestart_true_restarts_even_expected() -> None:
    h = Harness(make_spec(autorestart=AutoRestart.ALWAYS))
    running(h)
    assert h.at(5.0, code(0)) == [
        pub(S.RUNNING, S.EXITED, PID, "exited: a (exit status 0; expected)"),
        pub(S.EXITED, S.STARTING),
        Spawn(),
    ]
    assert h.snap() == snap(S.STARTING)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(ExitStatus(code=0), True), (ExitStatus(code=1), False), (ExitStatus(signal=9), False)],
)
def test_autorestart_false_never_restarts(status: ExitStatus, expected: bool) -> None:
    h = Harness(make_spec(autorestart=AutoRestart.NEVER))
    running(h)
    effects = h.at(5.0, Exited(status))
    assert [type(e) for e in effects] == [Publish]
    assert effects[0] == pub(
        S.RUNNING,
        S.EXITED,
        PID,
        f"exited: a ({status.describe()}; {'expected' if expected else 'not expected'})",
        "info" if expected else "warn",
        expected,
    )
    assert h.snap().state is S.EXITED
    assert h.at(1000.0, Tick()) == []
    assert h.snap().state is S.EXITED


def test_signal_death_is_unexpected() -> None:
    h = Harness(make_spec(autorestart=AutoRestart.NEVER))
    running(h)
    status = ExitStatus(signal=9)
    assert status.policy_code == -1
    assert h.at(5.0, Exited(status)) == [
        pub(
            S.RUNNING,
            S.EXITED,
            PID,
            "exited: a (terminated by SIGKILL; not expected)",
            "warn",
            expected=False,
        )
    ]
    assert h.snap() == snap(
        S.EXITED, spawn_error="Bad exit code -1", exit_status=status, expected=False
    )


def test_signal_death_restarts_under_autorestart_unexpected() -> None:
    h = Harness()
    running(h)
    msg = "exited: a (terminated by SIGSEGV; not expected)"
    assert h.at(5.0, killed_by(int(signal.SIGSEGV))) == [
        pub(S.RUNNING, S.EXITED, PID, msg, "warn", expected=False),
        pub(S.EXITED, S.STARTING),
        Spawn(),
    ]


@pytest.mark.parametrize(
    ("exit_code", "expected", "restarts"),
    [(2, True, False), (3, True, False), (0, False, True), (1, False, True)],
)
def test_custom_exitcodes_decide_expected(exit_code: int, expected: bool, restarts: bool) -> None:
    h = Harness(make_spec(exitcodes=frozenset({2, 3})))
    running(h)
    effects = h.at(5.0, code(exit_code))
    word = "expected" if expected else "not expected"
    assert effects[0] == pub(
        S.RUNNING,
        S.EXITED,
        PID,
        f"exited: a (exit status {exit_code}; {word})",
        "info" if expected else "warn",
        expected,
    )
    assert (Spawn() in effects) is restarts
    assert h.snap().state is (S.STARTING if restarts else S.EXITED)


def test_exit_after_running_resets_backoff_so_next_failure_starts_at_one() -> None:
    h = Harness()
    h.feed(StartRequested())
    h.feed(SpawnFailed("boom"))
    h.at(1.0, Tick())
    h.feed(SpawnFailed("boom"))
    assert h.snap().backoff == 2
    h.at(3.0, Tick())
    h.feed(Spawned(PID))
    h.at(4.0, Tick())
    assert h.snap() == snap(S.RUNNING, pid=PID)
    h.at(10.0, code(1))  # unexpected: restart
    h.feed(Spawned(PID + 1))
    h.at(10.5, code(1))  # too quick
    assert h.snap() == snap(
        S.BACKOFF,
        backoff=1,
        deadline=11.5,
        spawn_error=EXITED_TOO_QUICKLY,
        exit_status=ExitStatus(code=1),
    )


# ---- scenarios: stopping ------------------------------------------------------------------


def test_stop_sends_stopsignal_and_sigkill_after_stopwaitsecs() -> None:
    quit_ = int(signal.SIGQUIT)
    h = Harness(make_spec(stopsignal=quit_, stopwaitsecs=5, stopasgroup=True, killasgroup=True))
    running(h)
    assert h.at(2.0, StopRequested()) == [pub(S.RUNNING, S.STOPPING, PID), Kill(PID, quit_, True)]
    assert h.snap() == snap(S.STOPPING, pid=PID, deadline=7.0)
    assert h.at(6.9, Tick()) == []
    assert h.snap() == snap(S.STOPPING, pid=PID, deadline=7.0)
    assert h.at(7.0, Tick()) == [Kill(PID, KILL, True)]
    assert h.snap() == snap(S.STOPPING, pid=PID, deadline=12.0)
    assert h.at(12.5, Tick()) == [Kill(PID, KILL, True)]
    assert h.snap() == snap(S.STOPPING, pid=PID, deadline=17.5)
    assert h.at(13.0, killed_by(KILL)) == [
        pub(S.STOPPING, S.STOPPED, PID, "stopped: a (terminated by SIGKILL)", "warn")
    ]
    assert h.snap() == snap(S.STOPPED, exit_status=ExitStatus(signal=KILL))
    assert h.at(100.0, Tick()) == []


@pytest.mark.parametrize("stopasgroup", [False, True])
@pytest.mark.parametrize("killasgroup", [False, True])
def test_stopasgroup_on_stop_signal_and_killasgroup_on_sigkill(
    stopasgroup: bool, killasgroup: bool
) -> None:
    h = Harness(make_spec(stopasgroup=stopasgroup, killasgroup=killasgroup, stopwaitsecs=10))
    running(h)
    effects = h.at(2.0, StopRequested())
    assert effects[-1] == Kill(PID, TERM, stopasgroup)
    assert h.at(12.0, Tick()) == [Kill(PID, KILL, killasgroup)]


def test_stop_in_starting_kills_and_exit_goes_stopped() -> None:
    h = Harness()
    h.feed(StartRequested())
    h.feed(Spawned(PID))
    assert h.at(0.5, StopRequested()) == [
        pub(S.STARTING, S.STOPPING, PID),
        Kill(PID, TERM, False),
    ]
    assert h.snap() == snap(S.STOPPING, pid=PID, deadline=10.5)
    # Exiting while STOPPING is a stop, not a too-quick exit: no BACKOFF.
    assert h.at(0.6, killed_by(TERM)) == [
        pub(S.STOPPING, S.STOPPED, PID, "stopped: a (terminated by SIGTERM)", "warn")
    ]
    assert h.snap() == snap(S.STOPPED, exit_status=ExitStatus(signal=TERM))


def test_stop_with_expected_exit_code_logs_at_info() -> None:
    h = Harness()
    running(h)
    h.at(2.0, StopRequested())
    assert h.at(2.5, code(0)) == [pub(S.STOPPING, S.STOPPED, PID, "stopped: a (exit status 0)")]
    assert h.snap() == snap(S.STOPPED, exit_status=ExitStatus(code=0))


def test_stop_in_starting_before_spawn_is_answered_is_a_protocol_error() -> None:
    # Kill(0, ...) would signal the daemon's own process group: refuse, mutate nothing.
    h = Harness()
    h.feed(StartRequested())
    before, internals = h.snap(), h.internals()
    with pytest.raises(InvalidTransition):
        h.feed(StopRequested())
    assert h.snap() == before
    assert h.internals() == internals


def test_stop_in_backoff_goes_stopped_without_kill() -> None:
    h = Harness()
    h.feed(StartRequested())
    h.feed(Spawned(PID))
    h.at(0.5, code(1))
    assert h.at(0.7, StopRequested()) == [pub(S.BACKOFF, S.STOPPED)]
    stopped = snap(
        S.STOPPED, backoff=1, spawn_error=EXITED_TOO_QUICKLY, exit_status=ExitStatus(code=1)
    )
    assert h.snap() == stopped
    assert h.at(100.0, Tick()) == []
    assert h.snap() == stopped


def test_explicit_start_after_stop_in_backoff_resets_retry_counter() -> None:
    # Deliberate difference: supervisor keeps the counter (see the module docstring).
    h = Harness(make_spec(startretries=1))
    h.feed(StartRequested())
    h.feed(SpawnFailed("boom"))
    h.at(0.5, StopRequested())
    assert h.snap().backoff == 1
    assert h.at(1.0, StartRequested()) == [pub(S.STOPPED, S.STARTING), Spawn()]
    assert h.snap() == snap(S.STARTING)
    assert h.feed(SpawnFailed("boom")) == [pub(S.STARTING, S.BACKOFF, 0, "spawnerr: boom")]
    assert h.snap() == snap(S.BACKOFF, backoff=1, deadline=2.0, spawn_error="boom")


def test_start_while_stopping_restarts_after_stop() -> None:
    h = Harness()
    running(h)
    h.at(2.0, StopRequested())
    assert h.at(3.0, StartRequested()) == []
    assert h.snap() == snap(S.STOPPING, pid=PID, deadline=12.0)
    assert h.at(4.0, code(0)) == [
        pub(S.STOPPING, S.STOPPED, PID, "stopped: a (exit status 0)"),
        pub(S.STOPPED, S.STARTING),
        Spawn(),
    ]
    assert h.snap() == snap(S.STARTING)
    h.feed(Spawned(PID + 1))
    assert h.snap() == snap(S.STARTING, pid=PID + 1, deadline=5.0)


def test_stop_while_stopping_cancels_pending_start() -> None:
    h = Harness()
    running(h)
    h.at(2.0, StopRequested())
    h.feed(StartRequested())
    assert h.at(3.0, StopRequested()) == []
    with pytest.raises(NotRunning):
        h.feed(StopRequested())
    assert h.at(4.0, code(0)) == [pub(S.STOPPING, S.STOPPED, PID, "stopped: a (exit status 0)")]
    assert h.snap() == snap(S.STOPPED, exit_status=ExitStatus(code=0))


def test_kill_failure_enters_unknown_then_exit_goes_stopped() -> None:
    h = Harness()
    running(h)
    h.at(2.0, StopRequested())
    assert h.feed(KillFailed("EPERM")) == [
        pub(S.STOPPING, S.UNKNOWN, PID, "unknown problem killing a: EPERM", "warn")
    ]
    unknown = snap(S.UNKNOWN, pid=PID, spawn_error="EPERM")
    assert h.snap() == unknown
    assert h.at(50.0, Tick()) == []  # no SIGKILL escalation from UNKNOWN
    assert h.snap() == unknown
    with pytest.raises(Failed):
        h.feed(StartRequested())
    with pytest.raises(NotRunning):
        h.feed(StopRequested())
    assert h.snap() == unknown
    assert h.at(60.0, killed_by(TERM)) == [
        pub(S.UNKNOWN, S.STOPPED, PID, "stopped: a (terminated by SIGTERM)", "warn")
    ]
    assert h.snap() == snap(S.STOPPED, spawn_error="EPERM", exit_status=ExitStatus(signal=TERM))
    assert h.feed(StartRequested()) == [pub(S.STOPPED, S.STARTING), Spawn()]


def test_sigkill_failure_enters_unknown() -> None:
    h = Harness(make_spec(stopwaitsecs=1))
    running(h)
    h.at(2.0, StopRequested())
    assert h.at(3.0, Tick()) == [Kill(PID, KILL, False)]
    assert h.feed(KillFailed("EPERM")) == [
        pub(S.STOPPING, S.UNKNOWN, PID, "unknown problem killing a: EPERM", "warn")
    ]
    assert h.snap() == snap(S.UNKNOWN, pid=PID, spawn_error="EPERM")


# ---- scenarios: spawn failures and FATAL --------------------------------------------------


def test_spawn_failure_enters_backoff_with_spawn_error_then_fatal() -> None:
    h = Harness(make_spec(startretries=2))
    h.feed(StartRequested())
    reason = "can't find command '/nope'"
    assert h.feed(SpawnFailed(reason)) == [pub(S.STARTING, S.BACKOFF, 0, f"spawnerr: {reason}")]
    assert h.snap() == snap(S.BACKOFF, backoff=1, deadline=1.0, spawn_error=reason)
    assert h.at(1.0, Tick()) == [pub(S.BACKOFF, S.STARTING), Spawn()]
    assert h.snap() == snap(S.STARTING, backoff=1)
    assert h.feed(SpawnFailed(reason)) == [pub(S.STARTING, S.BACKOFF, 0, f"spawnerr: {reason}")]
    assert h.snap() == snap(S.BACKOFF, backoff=2, deadline=3.0, spawn_error=reason)
    assert h.at(3.0, Tick()) == [pub(S.BACKOFF, S.STARTING), Spawn()]
    assert h.feed(SpawnFailed(reason)) == [
        pub(S.STARTING, S.BACKOFF, 0, f"spawnerr: {reason}"),
        pub(S.BACKOFF, S.FATAL, 0, FATAL_MSG),
    ]
    assert h.snap() == snap(S.FATAL, spawn_error=reason)


def test_start_after_fatal_resets_backoff_and_gives_full_retries() -> None:
    h = Harness(make_spec(startretries=2))
    h.feed(StartRequested())
    for _ in range(3):
        h.feed(SpawnFailed("boom"))
        if h.snap().state is S.BACKOFF:
            h.at(due(h), Tick())
    assert h.snap() == snap(S.FATAL, spawn_error="boom")
    assert h.at(100.0, StartRequested()) == [pub(S.FATAL, S.STARTING), Spawn()]
    assert h.snap() == snap(S.STARTING)
    spawns = 1
    while True:
        effects = h.feed(SpawnFailed("boom"))
        if h.snap().state is S.FATAL:
            assert effects[-1] == pub(S.BACKOFF, S.FATAL, 0, FATAL_MSG)
            break
        spawns += h.at(due(h), Tick()).count(Spawn())
    assert spawns == 3


# ---- scenarios: restarts held (daemon shutting down) --------------------------------------


def test_restart_allowed_false_blocks_autorestart_and_backoff_retry() -> None:
    h = Harness(make_spec(autorestart=AutoRestart.ALWAYS))
    running(h)
    h.machine.restart_allowed = False
    assert h.at(5.0, code(1)) == [pub(S.RUNNING, S.EXITED, PID, EXITED_1, "warn", expected=False)]
    assert h.snap() == snap(
        S.EXITED, spawn_error="Bad exit code 1", exit_status=ExitStatus(code=1), expected=False
    )

    h2 = Harness()
    h2.feed(StartRequested())
    h2.feed(Spawned(PID))
    h2.machine.restart_allowed = False
    assert h2.at(0.5, code(1)) == [pub(S.STARTING, S.BACKOFF, PID, EXITED_1, "warn")]
    held = snap(
        S.BACKOFF,
        backoff=1,
        deadline=None,
        spawn_error=EXITED_TOO_QUICKLY,
        exit_status=ExitStatus(code=1),
    )
    assert h2.snap() == held
    assert h2.at(1000.0, Tick()) == []
    assert h2.snap() == held
    assert h2.feed(StopRequested()) == [pub(S.BACKOFF, S.STOPPED)]
    assert h2.snap().state is S.STOPPED


def test_backoff_retry_resumes_when_restarts_are_allowed_again() -> None:
    h = Harness()
    h.feed(StartRequested())
    h.feed(SpawnFailed("boom"))
    h.machine.restart_allowed = False
    assert h.snap().deadline is None
    h.machine.restart_allowed = True
    assert h.snap().deadline == 1.0
    assert h.at(1.0, Tick()) == [pub(S.BACKOFF, S.STARTING), Spawn()]


def test_restart_allowed_false_drops_start_pending_on_stop() -> None:
    h = Harness()
    running(h)
    h.at(2.0, StopRequested())
    h.feed(StartRequested())
    h.machine.restart_allowed = False
    assert h.at(3.0, code(0)) == [pub(S.STOPPING, S.STOPPED, PID, "stopped: a (exit status 0)")]
    assert h.snap() == snap(S.STOPPED, exit_status=ExitStatus(code=0))
    h.machine.restart_allowed = True
    assert h.machine.start_after_stop is False


def test_fatal_is_reached_even_while_restarts_are_held() -> None:
    # supervisor gives up in transition() regardless of its mood.
    h = Harness(make_spec(startretries=0))
    h.feed(StartRequested())
    h.machine.restart_allowed = False
    assert h.feed(SpawnFailed("boom")) == [
        pub(S.STARTING, S.BACKOFF, 0, "spawnerr: boom"),
        pub(S.BACKOFF, S.FATAL, 0, FATAL_MSG),
    ]


# ---- Tick before a deadline ---------------------------------------------------------------


@pytest.mark.parametrize("situation", ["STARTING", "BACKOFF", "STOPPING"])
def test_tick_before_deadline_does_nothing(situation: str) -> None:
    h = reach(situation)
    deadline = h.snap().deadline
    assert deadline is not None
    before, internals = h.snap(), h.internals()
    for t in (h.clock.now, deadline - 0.001):
        assert h.at(t, Tick()) == []
        assert h.snap() == before
        assert h.internals() == internals


@pytest.mark.parametrize("situation", ["STOPPED", "RUNNING", "EXITED", "FATAL", "UNKNOWN"])
def test_states_without_deadline_ignore_ticks(situation: str) -> None:
    h = reach(situation)
    assert h.snap().deadline is None
    internals = h.internals()
    assert h.at(h.clock.now + 10_000, Tick()) == []
    assert h.internals() == internals


# ---- the harness itself -------------------------------------------------------------------


def test_fake_clock_only_moves_forward() -> None:
    clock = FakeClock(5.0)
    assert clock.advance(1.5) == 6.5
    assert clock.now == 6.5
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_make_spec_applies_overrides() -> None:
    spec = make_spec(startsecs=0, name="b")
    assert (spec.name, spec.startsecs, spec.startretries) == ("b", 0, 3)
