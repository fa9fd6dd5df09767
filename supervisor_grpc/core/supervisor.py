"""The Supervisor: applies machine effects to the world, and composes the owners of the rest.

Owns: applying a machine's effects (spawn, kill, publish) and the one list of what a published
transition triggers (``_subscribers``); requests that touch several owners (start with
dependencies, stop after dependents, add/remove a group). The state lives with its owners:
``table`` (processes, groups, pids), ``deadlines`` (the one timer heap, shared with health),
``child_pipes``, ``deps``, ``waiters``, ``reload``, ``shutdown`` and ``events`` (journal, hub).
May import: model, errors, machine, logstore, and the core modules.
Threading: loop thread only. Requests from other threads arrive as inbox jobs that call the
public methods here; "wait until RUNNING/STOPPED" is a waiter Future completed when the matching
transition is published, so the loop never waits for anyone.
"""

from __future__ import annotations

import collections
import functools
import logging
import signal
from collections.abc import Callable, Collection
from concurrent.futures import Future

from ..errors import (
    ShuttingDown,
    SupervisorError,
)
from ..logstore import EventJournal, StreamFlusher
from ..machine import (
    DependenciesReady,
    Effect,
    Exited,
    Input,
    Kill,
    KillFailed,
    Publish,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    Tick,
)
from ..model import (
    ConfigDiff,
    DaemonSpec,
    DaemonState,
    Event,
    ExitStatus,
    Health,
    ProcessInfo,
    ProcessState,
    UnhealthyAction,
)
from .childpipes import ChildPipes
from .deadlines import Deadlines
from .deps import Dependencies
from .event_bridge import EventBridge
from .groups import Groups
from .health import HealthMonitor
from .listeners import EventHub
from .ports import Clock, Pipes, Reactor, Reaper, Spawner
from .process import Process
from .reload import Reload
from .requests import Requests
from .shutdown import Shutdown
from .table import ProcessTable
from .waiters import Waiters

log = logging.getLogger("supgrpc")
S = ProcessState
Listener = Callable[[Process, Publish], None]
Subscriber = Callable[[Process, Publish, float], None]


class Supervisor:
    def __init__(
        self,
        spec: DaemonSpec,
        *,
        clock: Clock,
        spawner: Spawner,
        reactor: Reactor,
        pipes: Pipes,
        reaper: Reaper,
        # Per log channel, filled only as the program writes (an idle program costs nothing).
        # 1 MiB: with 1 MiB TailLog messages a follower takes the whole ring per send; a
        # bigger ring only helps a follower that is briefly slow, not one slower than the
        # writer, yet multiplies what every chatty channel keeps resident (1000 programs x 2
        # channels). Bytes that leave it are still in the log file (ReadLog).
        ring_bytes: int = 1 << 20,
        # One thread drains every stalled stream log (the daemon shares it with the main log).
        stream_flusher: StreamFlusher | None = None,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.spawner = spawner
        self.reaper = reaper
        self.started_mono = clock()
        self.unknown_pid_level = logging.DEBUG
        self.listeners: list[Listener] = []
        self.health_listeners: list[Callable[[Process, Health], None]] = []
        self.table = ProcessTable()
        self.deadlines = Deadlines()
        self.events = EventBridge(
            spec.identifier, strip=spec.strip_ansi, clock=clock, write=self._listener_write
        )
        self.journal: EventJournal[Event] = self.events.journal
        self.event_hub: EventHub = self.events.hub
        self.child_pipes = ChildPipes(reactor, pipes, self.event_hub, spawner)
        self.health = HealthMonitor(
            spawn_check=self.child_pipes.spawn_check,
            kill_check=self.child_pipes.kill_check,
            prober=None,
            on_change=self._on_health_change,
            clock=clock,
            deadlines=self.deadlines,
        )
        self.child_pipes.check_output = self.health.check_output
        self.dependencies = Dependencies(self.table, self.health)
        self.waiters = Waiters()
        self.shutdown = Shutdown(
            spec,
            self.table,
            self.dependencies,
            spawner=spawner,
            journal=self.journal,
            clock=clock,
            drive=self._drive,
        )
        self.reload = Reload(
            spec,
            self.table,
            self.waiters,
            add_group=self.add_group,
            remove_group=self.remove_group,
            drive=self._drive,
        )
        self.group_book = Groups(
            spec,
            table=self.table,
            hub=self.event_hub,
            journal=self.journal,
            child_pipes=self.child_pipes,
            health=self.health,
            dependencies=self.dependencies,
            waiters=self.waiters,
            clock=clock,
            drive=self._drive,
            ring_bytes=ring_bytes,
            flusher=stream_flusher,
        )
        self.requests = Requests(
            spawner=spawner,
            deps=self.dependencies,
            waiters=self.waiters,
            child_pipes=self.child_pipes,
            check_running=self.shutdown.check_running,
            drive=self._drive,
        )
        self.start_process = self.requests.start
        self.stop_process = self.requests.stop
        self.signal_process = self.requests.signal
        self.send_stdin = self.requests.send_stdin
        # The read surface other rooms use, each answered by the owner of that state.
        self.processes = self.table.processes
        self.groups = self.table.groups
        self.find = self.table.find
        self.find_targets = self.table.find_targets
        self.ordered = self.table.ordered
        self.order_key = self.table.order_key
        self.group_priority = self.table.group_priority
        self.deps = self.dependencies.of
        self.dependents = self.dependencies.dependents
        self.bound_dependents = self.dependencies.bound_dependents
        self.diff = self.reload.diff
        self.send_remote_comm_event = self.events.send_remote_comm_event
        self.request_shutdown = self.shutdown.request
        self.fail_waiters = self.waiters.fail_all
        # Everything one published transition triggers, in this order.
        self._subscribers: tuple[Subscriber, ...] = (
            self.events.transition,  # log line, journal, listener pools
            self.waiters.transition,  # start/stop futures
            self.health.transition,  # health checks begin or end
            self._notify_listeners,  # the daemon's own (main program, front-ends)
            self._restart_bound,  # restart_with_dependencies
            self.shutdown.transition,  # critical programs, exit_when
        )

    # ---- what other rooms read ------------------------------------------------------------

    @property
    def mood(self) -> DaemonState:
        return self.shutdown.mood

    @property
    def exit_code(self) -> int:
        return self.shutdown.exit_code

    @property
    def finished(self) -> bool:
        return self.shutdown.finished

    @property
    def latest(self) -> DaemonSpec:
        return self.reload.latest

    @latest.setter
    def latest(self, spec: DaemonSpec) -> None:
        self.reload.latest = spec

    def info(self, proc: Process) -> ProcessInfo:
        return proc.info(
            health=self.health.status(proc),
            health_output=self.health.state(proc).output if proc.spec.health else "",
            description=self.dependencies.describe_wait(proc) if proc.machine.waiting else "",
        )

    # ---- building ---------------------------------------------------------------------

    def add_initial_groups(self) -> None:
        """Create every configured group (opening its log files); nothing starts yet."""
        for group in self.spec.groups:
            self.group_book.add(group)

    def autostart(self) -> None:
        """Start every autostart program, lowest priority first (without waiting)."""
        self.events.announce_running()
        for proc in self.ordered():
            if (
                proc.spec.autostart
                and proc.machine.state is S.STOPPED
                and proc.machine.start_mono is None
            ):
                # Like supervisor's transition(): no pre-check, so a bad command goes
                # STARTING -> BACKOFF -> FATAL and says why in spawnerr.
                self._drive(proc, StartRequested())

    def add_group(self, name: str) -> None:
        self.shutdown.check_running()
        self.group_book.add_named(name, self.reload.latest)

    def remove_group(self, name: str) -> None:
        self.shutdown.check_running()
        self.group_book.remove(name)

    def update(self, names: Collection[str] | None = None) -> Future[ConfigDiff]:
        self.shutdown.check_running()
        return self.reload.update(names)

    # ---- the loop's entry points -----------------------------------------------------------

    def service(self, now: float) -> float | None:
        """Once per loop iteration: reap, fire due deadlines, advance shutdown/updates."""
        for pid, status in self.reaper():
            self._on_reaped(pid, status, now)
        self.deadlines.fire_due(now)
        for proc in self.dependencies.releasable():
            self._drive(proc, DependenciesReady())
        self.waiters.run_ready()
        self.shutdown.advance()
        self.event_hub.fire_ticks()
        self.event_hub.dispatch()
        deadline = self.event_hub.next_tick(now)
        due = self.deadlines.next_due()
        if due is not None and (deadline is None or due < deadline):
            deadline = due
        return deadline

    def _on_reaped(self, pid: int, status: ExitStatus, now: float) -> None:
        self.spawner.release(pid, status)
        if pid in self.health.check_pids:
            self.child_pipes.check_exited(pid)
            self.health.check_exited(pid, status, now)
            return
        proc = self.table.by_pid.pop(pid, None)
        if proc is None:
            # An orphan we inherited as PID 1 / subreaper: by far the commonest reap in a
            # container, so nothing is formatted unless the level is on.
            level = self.unknown_pid_level
            if log.isEnabledFor(level):
                # tini's wording (-w), so what watches tini's logs finds the same line.
                log.log(level, "Reaped zombie process with pid=%d (%s)", pid, status.describe())
            return
        self.child_pipes.child_exited(pid, proc)
        self._drive(proc, Exited(status), now)

    # ---- effects ----------------------------------------------------------------------

    def _drive(self, proc: Process, event: Input, now: float | None = None) -> None:
        """Feed one input, then carry out effects until none remain (h11's fixed point)."""
        now = self.clock() if now is None else now
        if proc.spec.depends_on:
            proc.machine.deps_ready = self.dependencies.all_ready(proc)
        pending: collections.deque[Effect] = collections.deque(proc.machine.handle(event, now))
        while pending:
            effect = pending.popleft()
            if isinstance(effect, Publish):
                self._publish(proc, effect, now)
            elif isinstance(effect, Spawn):
                pending.extend(self._spawn(proc, now))
            elif isinstance(effect, Kill):
                pending.extend(self._kill(proc, effect, now))
        deadline = proc.machine.deadline
        if deadline is not None:
            self.deadlines.at(
                deadline,
                functools.partial(self._machine_due, proc),
                functools.partial(self._tick, proc),
            )
        if proc.machine.waiting and self.dependencies.hold(proc):
            log.info("waiting: %s %s", proc.namespec, self.info(proc).description)

    def _machine_due(self, proc: Process, when: float) -> bool:
        return proc.machine.deadline == when and self.table.is_live(proc)

    def _tick(self, proc: Process, _when: float, now: float) -> None:
        self._drive(proc, Tick(), now)

    def _spawn(self, proc: Process, now: float) -> list[Effect]:
        try:
            child = self.spawner.spawn(proc.spec)
        except SupervisorError as exc:
            proc.last_spawn_error = exc
            # The machine's BACKOFF Publish carries supervisor's one "spawnerr: ..." line.
            return proc.machine.handle(SpawnFailed(str(exc)), now)
        proc.last_spawn_error = None
        self.table.by_pid[child.pid] = proc
        self.child_pipes.attach(proc, child)
        log.info("spawned: '%s' with pid %d", proc.name, child.pid)
        return proc.machine.handle(Spawned(child.pid), now)

    def _kill(self, proc: Process, kill: Kill, now: float) -> list[Effect]:
        if kill.signal == signal.SIGKILL:
            log.warning("killing '%s' (%d) with SIGKILL", proc.name, kill.pid)
        try:
            self.spawner.kill(kill.pid, kill.signal, kill.as_group, proc.spec.killtree)
        except OSError as exc:
            log.critical("unknown problem killing %s (%d): %s", proc.name, kill.pid, exc)
            return proc.machine.handle(KillFailed(str(exc)), now)
        return []

    def _publish(self, proc: Process, pub: Publish, now: float) -> None:
        for subscriber in self._subscribers:
            subscriber(proc, pub, now)

    def _notify_listeners(self, proc: Process, pub: Publish, _now: float) -> None:
        for listener in self.listeners:
            listener(proc, pub)

    def _restart_bound(self, dep: Process, pub: Publish, _now: float) -> None:
        """``restart_with_dependencies``: a dependency left RUNNING, so its dependents go
        down now and come back once it is ready again."""
        if pub.from_state is not S.RUNNING or self.mood is not DaemonState.RUNNING:
            return
        for proc in self.dependencies.restart_lane(dep):
            if self.dependencies.restarts_now(proc):
                log.info("restarting %s: its dependency %s restarted", proc.namespec, dep.namespec)
                self._drive(proc, StopRequested())
                self._drive(proc, StartRequested())

    def _on_health_change(self, proc: Process, status: Health) -> None:
        self.events.health_changed(proc, status, self.health.state(proc).output)
        for listener in self.health_listeners:
            listener(proc, status)
        spec = proc.spec.health
        if spec is None or status is not Health.UNHEALTHY:
            return
        if spec.unhealthy_action is not UnhealthyAction.RESTART:
            return
        if self.mood is DaemonState.RUNNING and proc.machine.state is S.RUNNING:
            log.warning("restarting %s: unhealthy", proc.namespec)
            self._drive(proc, StopRequested())
            self._drive(proc, StartRequested())

    def _listener_write(self, proc: Process, data: bytes) -> bool:
        return self.child_pipes.listener_write(proc, data)

    # ---- logs and the end ---------------------------------------------------------------

    def reopen_logs(self) -> None:
        for proc in self.processes.values():
            proc.stdout.reopen()
            proc.stderr.reopen()

    def drain_outputs(self) -> None:
        """Read what is waiting in every program pipe, without waiting (the final sweep
        keeps reading what orphans still write to the pipes they inherited)."""
        self.child_pipes.drain_all()

    def close(self) -> None:
        """Resolve every waiter, then close every pipe and log file (after the loop ended).

        Nothing will publish a transition or run a continuation again, so a Future still
        pending here would leave its caller (an RPC thread) waiting forever.
        """
        self.waiters.fail_all(ShuttingDown("supervisor is shutting down"))
        self.child_pipes.close_all()
        for proc in self.processes.values():
            proc.stdout.close()
            proc.stderr.close()
        self.journal.close()
