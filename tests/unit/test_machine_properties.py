"""Property test: random but realistic input sequences never break ProcessMachine's rules.

A small driver plays the runtime: it answers every ``Spawn`` at once with ``Spawned`` or
``SpawnFailed`` (as the core does), may answer a ``Kill`` with ``KillFailed``, delivers
``Exited`` only while a child exists, ticks at or after ``now``, and sends start/stop requests
whose domain errors it checks and swallows. ``InvalidTransition`` is never caught.
"""

from __future__ import annotations

import signal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from supervisor_grpc.errors import AlreadyStarted, Failed, NotRunning, SupervisorError
from supervisor_grpc.machine import (
    TRANSITIONS,
    Effect,
    Exited,
    Input,
    Kill,
    KillFailed,
    ProcessMachine,
    Publish,
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
KILL = int(signal.SIGKILL)

STATUSES = [
    ExitStatus(code=0),
    ExitStatus(code=1),
    ExitStatus(code=2),
    ExitStatus(signal=int(signal.SIGKILL)),
    ExitStatus(signal=int(signal.SIGTERM)),
]
DELAYS = st.sampled_from([0.0, 0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 12.0])


@st.composite
def specs(draw: st.DrawFn) -> ProgramSpec:
    return make_spec(
        startsecs=draw(st.sampled_from([0, 0.5, 1, 2, 3])),
        startretries=draw(st.integers(0, 4)),
        autorestart=draw(st.sampled_from(list(AutoRestart))),
        exitcodes=frozenset(draw(st.sets(st.sampled_from([0, 1, 2]), max_size=3))),
        stopwaitsecs=draw(st.sampled_from([0.5, 1, 3, 10])),
        stopasgroup=draw(st.booleans()),
        killasgroup=draw(st.booleans()),
        stopsignal=draw(st.sampled_from([int(signal.SIGTERM), int(signal.SIGINT)])),
    )


class World:
    """The runtime around one machine, plus the bookkeeping the invariants need."""

    def __init__(self, spec: ProgramSpec, data: st.DataObject) -> None:
        self.spec = spec
        self.data = data
        self.machine = ProcessMachine(spec)
        self.clock = FakeClock()
        self.next_pid = 100
        self.child = 0  # pid of the live child the runtime knows about, 0 if none
        self.entered_at = 0.0  # when the machine last entered its current state
        self.failures = 0  # consecutive failed starts since the retry counter was reset
        self.start_pending = False  # a StartRequested accepted while STOPPING

    # -- the runtime's side --

    def feed(self, ev: Input) -> None:
        m = self.machine
        before = m.state
        internals = dict(vars(m))
        try:
            effects = m.handle(ev, self.clock.now)
        except SupervisorError as err:
            self._check_user_error(ev, before, err)
            assert dict(vars(m)) == internals, "a refused request mutated the machine"
            return
        self._check(ev, before, effects)
        for effect in effects:
            if isinstance(effect, Spawn):
                self._answer_spawn()
            elif isinstance(effect, Kill):
                self._answer_kill()

    def _answer_spawn(self) -> None:
        if self.data.draw(st.booleans(), label="spawn succeeds"):
            self.next_pid += 1
            self.child = self.next_pid
            self.feed(Spawned(self.child))
        else:
            self.feed(SpawnFailed("boom"))

    def _answer_kill(self) -> None:
        if self.data.draw(st.integers(0, 9), label="kill outcome") == 0:
            self.feed(KillFailed("EPERM"))

    # -- invariants --

    def _check_user_error(self, ev: Input, before: ProcessState, err: SupervisorError) -> None:
        if isinstance(ev, StartRequested):
            if before in (S.STARTING, S.RUNNING, S.BACKOFF):
                assert type(err) is AlreadyStarted
            else:
                assert before is S.UNKNOWN and type(err) is Failed
        else:
            assert isinstance(ev, StopRequested), f"{ev!r} raised {err!r}"
            assert type(err) is NotRunning
            assert before in (S.STOPPED, S.EXITED, S.FATAL, S.UNKNOWN) or (
                before is S.STOPPING and not self.start_pending
            )

    def _check(self, ev: Input, before: ProcessState, effects: list[Effect]) -> None:
        m, now, spec = self.machine, self.clock.now, self.spec
        state = before
        spawned_again = False
        if isinstance(ev, Exited) and before is S.STARTING:
            # supervisor's too_quickly: ran for less than startsecs -> BACKOFF, else RUNNING.
            too_quickly = now - self.entered_at < spec.startsecs
            first = effects[0]
            assert isinstance(first, Publish)
            assert first.to_state is (S.BACKOFF if too_quickly else S.RUNNING)
        for effect in effects:
            if isinstance(effect, Publish):
                assert effect.from_state is state, f"{effect} does not follow {state.name}"
                assert effect.to_state in TRANSITIONS[effect.from_state], effect
                assert effect.expected or effect.to_state is S.EXITED
                if effect.to_state is S.EXITED:
                    assert isinstance(ev, Exited)
                    assert effect.expected is (ev.status.policy_code in spec.exitcodes)
                self._count(effect)
                if effect.to_state is S.STARTING and effect.from_state is S.STOPPED:
                    spawned_again = before in (S.STOPPING, S.UNKNOWN)
                if effect.from_state is S.EXITED:
                    assert isinstance(ev, StartRequested) or self._autorestarts(effects)
                if effect.to_state is S.EXITED and not self._autorestarts(effects):
                    assert effects[-1] is effect, "EXITED without autorestart must stay EXITED"
                state = effect.to_state
                self.entered_at = now
            elif isinstance(effect, Kill):
                # Only the live child, only while stopping, with the right signal and flag.
                assert effect.pid == m.pid == self.child != 0
                assert state is S.STOPPING
                if isinstance(ev, Tick):
                    assert (effect.signal, effect.as_group) == (KILL, spec.killasgroup)
                else:
                    assert isinstance(ev, StopRequested)
                    assert (effect.signal, effect.as_group) == (spec.stopsignal, spec.stopasgroup)
            else:
                assert isinstance(effect, Spawn)
                assert state is S.STARTING and m.pid == 0
                assert effect is effects[-1]
        assert state is m.state, "published states do not end where the machine is"

        # Requests: a start while STOPPING is remembered; a second stop forgets it.
        if before is S.STOPPING and m.state is S.STOPPING:
            if isinstance(ev, StartRequested):
                self.start_pending = True
            elif isinstance(ev, StopRequested):
                assert self.start_pending
                self.start_pending = False
        if before in (S.STOPPING, S.UNKNOWN) and m.state is not before and isinstance(ev, Exited):
            restarted = self.start_pending and m.restart_allowed
            assert spawned_again is restarted
            self.start_pending = False

        # The child is gone once Exited is handled.
        if isinstance(ev, Exited):
            self.child = 0

        # pid is set exactly while a child exists.
        awaiting_spawn = bool(effects) and isinstance(effects[-1], Spawn)
        if m.state in (S.RUNNING, S.STOPPING, S.UNKNOWN) or (
            m.state is S.STARTING and not awaiting_spawn
        ):
            assert m.pid == self.child != 0
        else:
            assert m.pid == 0

        # Deadlines: exactly in the waiting states, never before the state was entered,
        # and a Tick never leaves one already due (the loop would spin).
        deadline = m.deadline
        has_deadline = (
            (m.state is S.STARTING and m.pid != 0)
            or (m.state is S.BACKOFF and m.restart_allowed)
            or m.state is S.STOPPING
        )
        assert (deadline is not None) is has_deadline
        if deadline is not None:
            assert deadline >= self.entered_at
            if isinstance(ev, Tick):
                assert deadline > now

        if m.state is S.BACKOFF:
            assert m.backoff == self.failures <= spec.startretries
            # supervisor's linear backoff: the n-th failure in a row waits n seconds.
            assert deadline is None or deadline == self.entered_at + m.backoff
        if m.state is S.STARTING and m.pid:
            assert spec.startsecs > 0, "startsecs=0 must go RUNNING on Spawned"
            assert deadline == self.entered_at + spec.startsecs
        if m.state is S.FATAL:
            assert m.backoff == 0

    def _autorestarts(self, effects: list[Effect]) -> bool:
        """Whether the EXITED in ``effects`` should be followed at once by a new start."""
        exited = next(e for e in effects if isinstance(e, Publish) and e.to_state is S.EXITED)
        policy = self.spec.autorestart
        wanted = policy is AutoRestart.ALWAYS or (
            policy is AutoRestart.UNEXPECTED and not exited.expected
        )
        return wanted and self.machine.restart_allowed

    def _count(self, p: Publish) -> None:
        """FATAL comes after exactly startretries + 1 failed starts in a row."""
        if p.to_state is S.BACKOFF:
            self.failures += 1
        elif p.to_state is S.RUNNING:
            self.failures = 0
        elif p.to_state is S.STARTING:
            if p.from_state is S.BACKOFF:
                assert self.failures <= self.spec.startretries
            else:
                self.failures = 0
        elif p.to_state is S.FATAL:
            assert self.failures == self.spec.startretries + 1
            event("reached FATAL")
            self.failures = 0

    # -- one random step --

    def step(self) -> None:
        m, data = self.machine, self.data
        actions = ["start", "stop", "tick", "tick_at_deadline", "hold"]
        if self.child:
            actions += ["exit", "exit"]
        action = data.draw(st.sampled_from(actions), label="action")
        if action == "hold":
            m.restart_allowed = data.draw(st.booleans(), label="restart_allowed")
            return
        if action == "tick_at_deadline":
            deadline = m.deadline
            if deadline is not None and deadline > self.clock.now:
                self.clock.advance(deadline - self.clock.now)
            self.feed(Tick())
            return
        self.clock.advance(data.draw(DELAYS, label="dt"))
        if action == "start":
            self.feed(StartRequested())
        elif action == "stop":
            self.feed(StopRequested())
        elif action == "tick":
            self.feed(Tick())
        else:
            status = data.draw(st.sampled_from(STATUSES), label="status")
            self.feed(Exited(status))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), data=st.data())
def test_random_runtime_never_breaks_the_rules(spec: ProgramSpec, data: st.DataObject) -> None:
    world = World(spec, data)
    for _ in range(data.draw(st.integers(1, 60), label="steps")):
        world.step()
    event(f"ended in {world.machine.state.name}")
