"""Dependencies (an extension): who depends on whom, what is ready, and the start/stop lanes.

Owns: the set of processes held waiting for their dependencies. Everything else here is a
query over the process table (the same rules config/extensions.py validates with): the lanes
say what to start or stop in which order; the Supervisor drives them.
May import: model, core.process, core.table, core.health.
Threading: loop thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from ..model import STOPPED_STATES, GroupSpec, Health, ProcessState
from .health import HealthMonitor
from .process import Process
from .table import ProcessTable

S = ProcessState


def dependencies_of(
    proc: Process,
    processes: Mapping[tuple[str, str], Process],
    groups: Mapping[str, GroupSpec],
) -> list[Process]:
    """The processes ``proc`` depends on that are loaded now (a removed one is just absent)."""
    found: list[Process] = []
    for dep in proc.spec.depends_on:
        if dep.endswith(":*"):
            found.extend(p for (g, _), p in processes.items() if g == dep[:-2])
            continue
        if ":" in dep:
            group, _, name = dep.partition(":")
            hit = processes.get((group, name))
            if hit is not None:
                found.append(hit)
            continue
        exact = processes.get((dep, dep))
        if exact is not None:
            found.append(exact)
            continue
        by_name = [p for (_, n), p in processes.items() if n == dep]
        if len(by_name) == 1:
            found.append(by_name[0])
        elif dep in groups:
            found.extend(p for (g, _), p in processes.items() if g == dep)
    unique: dict[int, Process] = {id(p): p for p in found if p is not proc}
    return list(unique.values())


def waiting_description(
    deps: list[Process], wanted: tuple[str, ...], ready: Callable[[Process], bool]
) -> str:
    """``waiting for db (STOPPED), cache (not healthy yet)`` — what status shows while held."""
    parts = []
    for dep in deps:
        if ready(dep):
            continue
        if dep.machine.state.name == "RUNNING":
            parts.append(f"{dep.namespec} (not healthy yet)")
        else:
            parts.append(f"{dep.namespec} ({dep.machine.state.name})")
    if not deps and wanted:
        parts.append(", ".join(f"{w} (not loaded)" for w in wanted))
    return "waiting for " + ", ".join(parts) if parts else "dependencies ready"


# One step of a stop lane: stop ``proc`` once ``after`` (deeper dependents) have stopped.
StopStep = tuple[Process, list[Process]]


class Dependencies:
    def __init__(self, table: ProcessTable, health: HealthMonitor) -> None:
        self.table = table
        self.health = health
        self._waiting: set[Process] = set()

    def of(self, proc: Process) -> list[Process]:
        return dependencies_of(proc, self.table.processes, self.table.groups)

    def dependents(self, proc: Process) -> list[Process]:
        return [
            p for p in self.table.processes.values() if p.spec.depends_on and proc in self.of(p)
        ]

    def ready(self, dep: Process) -> bool:
        if dep.machine.state is not S.RUNNING:
            return False
        return dep.spec.health is None or self.health.status(dep) is Health.HEALTHY

    def all_ready(self, proc: Process) -> bool:
        wanted = proc.spec.depends_on
        found = self.of(proc)
        return bool(found or not wanted) and all(self.ready(d) for d in found)

    def describe_wait(self, proc: Process) -> str:
        return waiting_description(self.of(proc), proc.spec.depends_on, self.ready)

    def depends_on(
        self, proc: Process, target: Process, seen: frozenset[int] = frozenset()
    ) -> bool:
        for dep in self.of(proc):
            if dep is target:
                return True
            if id(dep) not in seen and self.depends_on(dep, target, seen | {id(proc)}):
                return True
        return False

    # ---- held starts --------------------------------------------------------------------

    def hold(self, proc: Process) -> bool:
        """``proc`` waits for its dependencies: True when it was not held before."""
        if proc in self._waiting:
            return False
        self._waiting.add(proc)
        return True

    def releasable(self) -> Iterator[Process]:
        """Held processes whose dependencies are ready (dropping those no longer held); each
        is judged when its turn comes, after the caller released the ones before it."""
        for proc in list(self._waiting):
            if not proc.machine.waiting or not self.table.is_live(proc):
                self._waiting.discard(proc)
            elif self.all_ready(proc):
                self._waiting.discard(proc)
                yield proc

    def forget(self, proc: Process) -> None:
        self._waiting.discard(proc)

    # ---- lanes --------------------------------------------------------------------------

    def start_lane(self, proc: Process) -> list[Process]:
        """What ``proc`` needs running, depth first (each to start if it is stopped then)."""
        lane: list[Process] = []
        seen = {proc}

        def walk(p: Process) -> None:
            for dep in self.of(p):
                if dep not in seen:
                    seen.add(dep)
                    lane.append(dep)
                    walk(dep)

        walk(proc)
        return lane

    def stop_lane(self, proc: Process) -> Iterator[StopStep]:
        """How to stop what depends on ``proc``, deepest first: each step names a dependent
        and the deeper dependents it waits for. Lazy, so each dependent is judged (already
        stopped or not) after the steps before it were applied."""
        yield from self._stop_walk(proc, {proc})

    def _stop_walk(self, proc: Process, seen: set[Process]) -> Iterator[StopStep]:
        for dependent in self.dependents(proc):
            if dependent in seen or dependent.machine.state in STOPPED_STATES:
                continue
            seen.add(dependent)
            deeper: list[Process] = []
            for step in self._stop_walk(dependent, seen):
                deeper.append(step[0])
                yield step
            yield dependent, deeper

    def restart_lane(self, dep: Process) -> list[Process]:
        """``restart_with_dependencies``: the dependents of ``dep`` bound to its restarts
        (each restarted if :meth:`restarts_now` still says so when its turn comes)."""
        return [p for p in self.dependents(dep) if p.spec.restart_with_dependencies]

    @staticmethod
    def restarts_now(proc: Process) -> bool:
        return proc.machine.state in (S.RUNNING, S.STARTING) and not proc.machine.waiting

    def bound_dependents(self, procs: list[Process]) -> list[Process]:
        """Running programs with ``restart_with_dependencies`` that depend (transitively) on
        ``procs``: an explicit restart of ``procs`` brings them back afterwards."""
        out: list[Process] = []
        for proc in self.table.processes.values():
            if proc in procs or not proc.spec.restart_with_dependencies:
                continue
            if proc.machine.state in (S.RUNNING, S.STARTING) and any(
                self.depends_on(proc, p) for p in procs
            ):
                out.append(proc)
        return out
