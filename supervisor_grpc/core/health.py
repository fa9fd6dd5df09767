"""Health checks (an extension): Docker's HEALTHCHECK model for supervised programs.

A program with ``healthcheck_*`` is STARTING (health) when it enters RUNNING; a check runs every
``interval``; a pass makes it HEALTHY; ``retries`` consecutive failures (not counted during
``start_period``) make it UNHEALTHY. Nothing here blocks the loop: command checks are children
spawned and reaped like any other (the reaper stays the only waiter); TCP/HTTP probes are
runtime I/O (runtime/probes.py) that the daemon runs on a worker and answers through the inbox.

Owns: per-program health state and the check pids; its timers live in the core's one
:class:`~supervisor_grpc.core.deadlines.Deadlines` heap, passed in.
May import: model, machine, core.process, core.deadlines.
Threading: loop thread only (the probe functions themselves run on the worker thread).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..machine import Publish
from ..model import ExitStatus, Health, HealthKind, HealthSpec, ProcessState, ProgramSpec
from .deadlines import Deadlines
from .process import Process

# Keep this much of a check's output, for "why is it unhealthy?" (Docker keeps 4 KiB too).
OUTPUT_BYTES = 4096


class Prober(Protocol):
    """Runs a TCP/HTTP probe off the loop thread, then calls ``done((ok, text))`` back on the
    loop thread (the runtime's probes, on a worker, answering through the inbox)."""

    def __call__(self, spec: HealthSpec, done: Callable[[tuple[bool, str]], None]) -> None: ...


@dataclass(eq=False)
class HealthState:
    status: Health = Health.NONE
    failures: int = 0
    output: str = ""
    running_since: float = 0.0
    next_due: float | None = None
    timeout_at: float | None = None
    check_pid: int = 0
    check_output: bytearray = field(default_factory=bytearray)
    generation: int = 0  # bumped on every (re)start so stale results are ignored


class HealthMonitor:
    """Schedules and runs checks; tells the core when a program's health changes."""

    def __init__(
        self,
        *,
        spawn_check: Callable[[Process, HealthSpec], int],
        kill_check: Callable[[int], None],
        prober: Prober | None,
        on_change: Callable[[Process, Health], None],
        clock: Callable[[], float],
        deadlines: Deadlines,
    ) -> None:
        self.clock = clock
        self.spawn_check = spawn_check
        self.kill_check = kill_check
        self.prober = prober
        self.on_change = on_change
        self.states: dict[Process, HealthState] = {}
        self.check_pids: dict[int, Process] = {}
        self.deadlines = deadlines

    def state(self, proc: Process) -> HealthState:
        st = self.states.get(proc)
        if st is None:
            st = self.states[proc] = HealthState()
        return st

    def status(self, proc: Process) -> Health:
        st = self.states.get(proc)
        return st.status if st is not None else Health.NONE

    # -- lifecycle --

    def transition(self, proc: Process, pub: Publish, now: float) -> None:
        """Subscriber: checks begin when a program enters RUNNING and end when it leaves."""
        self.process_changed(proc, pub.to_state, now)

    def process_changed(self, proc: Process, state: ProcessState, now: float) -> None:
        spec = proc.spec.health
        if spec is None:
            return
        st = self.state(proc)
        if state is ProcessState.RUNNING:
            st.generation += 1
            st.failures = 0
            st.output = ""
            st.running_since = now
            self._schedule(proc, st, now + spec.interval)
            self._set(proc, st, Health.STARTING)
        elif st.status is not Health.NONE or st.next_due is not None:
            st.generation += 1
            st.next_due = None
            st.timeout_at = None
            if st.check_pid:
                self.kill_check(st.check_pid)
            self._set(proc, st, Health.NONE)

    def forget(self, proc: Process) -> None:
        st = self.states.pop(proc, None)
        if st is not None and st.check_pid:
            self.kill_check(st.check_pid)

    def _schedule(self, proc: Process, st: HealthState, when: float) -> None:
        st.next_due = when
        self._at(proc, when)

    def _at(self, proc: Process, when: float) -> None:
        self.deadlines.at(
            when, functools.partial(self._still_due, proc), functools.partial(self._due, proc)
        )

    # -- timers --

    def _still_due(self, proc: Process, when: float) -> bool:
        st = self.states.get(proc)
        return st is not None and when in (st.next_due, st.timeout_at)

    def _due(self, proc: Process, when: float, now: float) -> None:
        st = self.states[proc]
        if when == st.timeout_at:
            self._timed_out(proc, st, now)
        elif when == st.next_due:
            st.next_due = None
            self._run(proc, st, now)

    def _run(self, proc: Process, st: HealthState, now: float) -> None:
        spec = proc.spec.health
        assert spec is not None
        st.timeout_at = now + spec.timeout
        self._at(proc, st.timeout_at)
        generation = st.generation
        if spec.kind is HealthKind.COMMAND:
            try:
                pid = self.spawn_check(proc, spec)
            except Exception as exc:  # a check that cannot start is a failed check
                self.result(proc, generation, False, f"cannot run check: {exc}", now)
                return
            st.check_pid = pid
            st.check_output.clear()
            self.check_pids[pid] = proc
            return
        if self.prober is None:
            self.result(proc, generation, False, "no worker available for network checks", now)
            return
        self.prober(spec, functools.partial(self._probed, proc, generation))

    def _probed(self, proc: Process, generation: int, res: tuple[bool, str]) -> None:
        self.result(proc, generation, res[0], res[1], None)

    def _timed_out(self, proc: Process, st: HealthState, now: float) -> None:
        st.timeout_at = None
        if st.check_pid:
            self.kill_check(st.check_pid)
            self.check_pids.pop(st.check_pid, None)
            st.check_pid = 0
        spec = proc.spec.health
        assert spec is not None
        self.result(proc, st.generation, False, f"check timed out after {spec.timeout:g}s", now)

    # -- results --

    def check_output(self, pid: int, data: bytes) -> None:
        proc = self.check_pids.get(pid)
        if proc is not None:
            buf = self.state(proc).check_output
            buf += data[: max(0, OUTPUT_BYTES - len(buf))]

    def check_exited(self, pid: int, status: ExitStatus, now: float) -> bool:
        """The reaper reaped ``pid``: True when it was one of our check commands."""
        proc = self.check_pids.pop(pid, None)
        if proc is None:
            return False
        st = self.state(proc)
        st.check_pid = 0
        output = st.check_output.decode("utf-8", "replace").strip()
        ok = status.code == 0
        text = output or f"check {status.describe()}"
        self.result(proc, st.generation, ok, text, now)
        return True

    def result(
        self, proc: Process, generation: int, ok: bool, output: str, now: float | None
    ) -> None:
        st = self.states.get(proc)
        spec = proc.spec.health
        if st is None or spec is None or generation != st.generation:
            return  # the program restarted or stopped since this check began
        now = self.clock() if now is None else now
        st.timeout_at = None
        st.output = output
        if ok:
            st.failures = 0
            self._set(proc, st, Health.HEALTHY)
        else:
            in_grace = now < st.running_since + spec.start_period
            if not in_grace:
                st.failures += 1
            if st.failures >= spec.retries:
                self._set(proc, st, Health.UNHEALTHY)
        if st.next_due is None and proc.machine.state is ProcessState.RUNNING:
            self._schedule(proc, st, now + spec.interval)

    def _set(self, proc: Process, st: HealthState, status: Health) -> None:
        if st.status is not status:
            st.status = status
            self.on_change(proc, status)


def check_spec(proc: Process, health: HealthSpec) -> ProgramSpec:
    """The ProgramSpec a command check runs with: the program's own user, env and cwd."""
    return dataclasses.replace(
        proc.spec,
        command=health.target,
        redirect_stderr=True,
        inherit_stdio=False,
        killtree=False,
    )
