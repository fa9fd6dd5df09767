"""The Supervisor: applies machine effects to the world and keeps the books.

Loop thread only. Requests from other threads arrive as inbox jobs that call the public
methods here; "wait until RUNNING/STOPPED" is a waiter Future completed when the matching
transition is published, so the loop never waits for anyone.
"""

from __future__ import annotations

import collections
import functools
import heapq
import itertools
import logging
import signal
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from ..errors import (
    AbnormalTermination,
    Failed,
    NoFile,
    NoSuchGroup,
    NoSuchProcess,
    NotExecutable,
    NotRunning,
    NotSupported,
    ShuttingDown,
    SpawnError,
    SupervisorError,
)
from ..logstore import EventJournal, Forwarder, LogChannel
from ..machine import (
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
from ..model import (
    STOPPED_STATES,
    ConfigDiff,
    DaemonSpec,
    DaemonState,
    Event,
    ExitStatus,
    GroupKind,
    GroupSpec,
    Health,
    ProcessState,
    ProgramSpec,
)
from .event_bridge import EventsMixin, ObservedJournal
from .extensions import ExtensionsMixin
from .health import HealthMonitor
from .listeners import EventHub
from .pipes_io import PipesMixin
from .ports import Clock, Pipes, Reactor, Reaper, Spawner
from .process import Process
from .reload import ReloadMixin

log = logging.getLogger("supgrpc")
S = ProcessState
# A second shutdown request escalates to SIGKILL only this long after the first.
ESCALATE_AFTER_SECONDS = 1.0
Listener = Callable[[Process, Publish], None]


@dataclass
class ActionOutcome:
    """What one process made of a request: an error now, or a waiter to resolve later."""

    process: Process
    error: SupervisorError | None = None
    waiter: Future[bool] | None = None


class Supervisor(PipesMixin, ExtensionsMixin, ReloadMixin, EventsMixin):
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
    ) -> None:
        self.spec = spec
        self.latest = spec  # the most recently (re)read config; add_group draws from it
        self.clock = clock
        self.spawner = spawner
        self.reactor = reactor
        self.pipes = pipes
        self.reaper = reaper
        self.ring_bytes = ring_bytes
        self.mood = DaemonState.RUNNING
        self.started_mono = clock()
        self.groups: dict[str, GroupSpec] = {}
        self.processes: dict[tuple[str, str], Process] = {}
        self.by_pid: dict[int, Process] = {}
        self._fd_owner: dict[int, tuple[Process, LogChannel]] = {}
        self._child_fds: dict[int, list[int]] = {}  # pid -> its output fds
        # Listener pools see the journal's group and daemon events as they are recorded.
        self.event_hub = EventHub(
            spec.identifier, self._listener_write, time.time, strip=spec.strip_ansi
        )
        self.journal: EventJournal[Event] = ObservedJournal(self._journaled)
        self.event_hub.on_communication = self._record_communication
        self.listeners: list[Listener] = []
        self.unknown_pid_level = logging.DEBUG
        self.finished = False
        self._heap: list[tuple[float, int, Process]] = []
        self._seq = itertools.count()
        self._continuations: list[tuple[list[Process], Callable[[], None]]] = []
        self._pending_updates: set[Future[ConfigDiff]] = set()
        self._shutdown_level: int | None = None
        self.exit_code = 0
        self._shutdown_mono = 0.0
        self.forwarder: Forwarder | None = None
        self.health_listeners: list[Callable[[Process, Health], None]] = []
        self.health = HealthMonitor(
            spawn_check=self._spawn_check,
            kill_check=self._kill_check,
            prober=None,
            on_change=self._on_health_change,
            clock=clock,
        )
        self._waiting: set[Process] = set()
        self._check_fds: dict[int, int] = {}  # health-check output fd -> check pid

    # ---- building ---------------------------------------------------------------------

    def add_initial_groups(self) -> None:
        """Create every configured group (opening its log files); nothing starts yet."""
        for group in self.spec.groups:
            self._add_group(group)

    def _add_group(self, group: GroupSpec) -> None:
        if group.kind is GroupKind.FCGI_PROGRAM:
            raise NotSupported(
                f"[{group.section}]: {group.kind.value} sections are not supported yet"
            )
        created: list[Process] = []
        try:
            for spec in group.programs:
                proc = self._make_process(spec)
                created.append(proc)
        except OSError as exc:
            for proc in created:
                proc.stdout.close()
                proc.stderr.close()
            raise Failed(f"[{group.section}]: cannot open log file: {exc}")
        self.groups[group.name] = group
        for proc in created:
            self.processes[(proc.group, proc.name)] = proc
        self.event_hub.add_group(group, created)
        self.journal.append(Event("group_added", self.clock(), group=group.name))

    def _make_process(self, spec: ProgramSpec) -> Process:
        daemon = self.spec
        channels: list[LogChannel] = []
        for channel, logspec in (("stdout", spec.stdout), ("stderr", spec.stderr)):
            ch = LogChannel(
                spec.name,
                None if (channel == "stderr" and spec.redirect_stderr) else logspec,
                childlogdir=daemon.childlogdir,
                identifier=daemon.identifier,
                channel=channel,
                ring_bytes=self.ring_bytes,
                strip_ansi=daemon.strip_ansi,
            )
            try:
                ch.open()
            except OSError:
                for opened in channels:
                    opened.close()
                raise
            channels.append(ch)
        return Process(spec, ProcessMachine(spec), channels[0], channels[1])

    def autostart(self) -> None:
        """Start every autostart program, lowest priority first (without waiting)."""
        self.announce_running()
        for proc in self.ordered():
            if (
                proc.spec.autostart
                and proc.machine.state is S.STOPPED
                and proc.machine.start_mono is None
            ):
                # Like supervisor's transition(): no pre-check, so a bad command goes
                # STARTING -> BACKOFF -> FATAL and says why in spawnerr.
                self._drive(proc, StartRequested())

    # ---- lookup -----------------------------------------------------------------------

    def group_priority(self, proc: Process) -> int:
        group = self.groups.get(proc.group)
        return group.priority if group is not None else proc.spec.priority

    def order_key(self, proc: Process) -> tuple[int, int, str, str]:
        return (self.group_priority(proc), proc.spec.priority, proc.group, proc.name)

    def ordered(self) -> list[Process]:
        return sorted(self.processes.values(), key=self.order_key)

    def find(self, namespec: str) -> Process:
        """supervisor's namespec rules, plus a bare process name when it is unambiguous."""
        if ":" in namespec:
            group, _, name = namespec.partition(":")
            proc = self.processes.get((group, name))
            if proc is None:
                raise NoSuchProcess(namespec)
            return proc
        proc = self.processes.get((namespec, namespec))
        if proc is not None:
            return proc
        matches = [p for (g, n), p in self.processes.items() if n == namespec]
        if len(matches) == 1:
            return matches[0]
        raise NoSuchProcess(namespec)

    def find_targets(self, target: str) -> list[Process]:
        """``*``/``all``, ``group:*``/``group:``, ``group:name`` or ``name``, in start order."""
        if target in ("*", "all"):
            return self.ordered()
        if target.endswith(":*") or target.endswith(":"):
            group = target.rsplit(":", 1)[0]
            if group not in self.groups:
                raise NoSuchGroup(group)
            return [p for p in self.ordered() if p.group == group]
        return [self.find(target)]

    # ---- requests ---------------------------------------------------------------------

    def _check_running(self) -> None:
        if self.mood is not DaemonState.RUNNING:
            raise ShuttingDown("supervisor is shutting down")

    def start_process(self, proc: Process) -> ActionOutcome:
        self._check_running()
        state = proc.machine.state
        if state in STOPPED_STATES and state is not S.UNKNOWN:
            try:
                self.spawner.check(proc.spec)
            except (NoFile, NotExecutable) as exc:
                return ActionOutcome(proc, error=type(exc)(f"{proc.namespec}: {exc}"))
        try:
            self._drive(proc, StartRequested())
        except SupervisorError as exc:
            return ActionOutcome(proc, error=exc)
        self._start_dependencies(proc, {proc})
        waiter: Future[bool] = Future()
        self._settle_start_waiter(proc, waiter)
        return ActionOutcome(proc, waiter=waiter)

    def _start_dependencies(self, proc: Process, seen: set[Process]) -> None:
        """A program cannot run without its dependencies: start those that are stopped."""
        for dep in self.deps(proc):
            if dep in seen:
                continue
            seen.add(dep)
            if dep.machine.state in (S.STOPPED, S.EXITED, S.FATAL):
                try:
                    self._drive(dep, StartRequested())
                except SupervisorError as exc:
                    log.warning("cannot start %s for %s: %s", dep.namespec, proc.namespec, exc)
            self._start_dependencies(dep, seen)

    def _settle_start_waiter(self, proc: Process, waiter: Future[bool]) -> None:
        state = proc.machine.state
        if state is S.RUNNING:
            waiter.set_result(True)
        elif state in (S.BACKOFF, S.FATAL):
            waiter.set_exception(SpawnError(f"{proc.namespec}: {proc.machine.spawn_error}"))
        else:
            proc.start_waiters.append(waiter)

    def stop_process(self, proc: Process) -> ActionOutcome:
        """Stop ``proc``; running dependents are stopped first, and ``proc`` once they are."""
        self._check_running()
        m = proc.machine
        stoppable = m.state in (S.RUNNING, S.STARTING, S.BACKOFF) or (
            m.state is S.STOPPING and m.start_after_stop
        )
        if not stoppable:
            return ActionOutcome(proc, error=NotRunning(proc.namespec))
        running_dependents = self._stop_dependents(proc, {proc})
        waiter: Future[bool] = Future()
        proc.stop_waiters.append(waiter)
        if running_dependents:
            self._continuations.append((running_dependents, lambda: self._stop_now(proc)))
        else:
            self._stop_now(proc)
        return ActionOutcome(proc, waiter=waiter)

    def _stop_now(self, proc: Process) -> None:
        try:
            self._drive(proc, StopRequested())
        except SupervisorError:
            pass  # it stopped on its own meanwhile
        if proc.machine.state in STOPPED_STATES:
            self._resolve_waiters(proc, proc.machine.state)

    def _stop_dependents(self, proc: Process, seen: set[Process]) -> list[Process]:
        """Stop what depends on ``proc`` (deepest first); return those not yet stopped."""
        pending: list[Process] = []
        for dependent in self.dependents(proc):
            if dependent in seen or dependent.machine.state in STOPPED_STATES:
                continue
            seen.add(dependent)
            deeper = self._stop_dependents(dependent, seen)
            if deeper:
                self._continuations.append((deeper, functools.partial(self._stop_now, dependent)))
            elif dependent.machine.state is not S.STOPPING:
                self._stop_now(dependent)
            pending.append(dependent)
            pending.extend(deeper)
        return pending

    def signal_process(self, proc: Process, signum: int) -> None:
        self._check_running()
        m = proc.machine
        if m.state not in (S.RUNNING, S.STARTING, S.STOPPING) or not m.pid:
            raise NotRunning(proc.namespec)
        try:
            self.spawner.kill(m.pid, signum, False, False)
        except OSError as exc:
            raise Failed(f"{proc.namespec}: {exc}")

    # ---- the loop's entry points -----------------------------------------------------------

    def service(self, now: float) -> float | None:
        """Once per loop iteration: reap, fire due deadlines, advance shutdown/updates."""
        for pid, status in self.reaper():
            self._on_reaped(pid, status, now)
        while self._heap and self._heap[0][0] <= now:
            due, _, proc = heapq.heappop(self._heap)
            if proc.machine.deadline == due and self._is_live(proc):
                self._drive(proc, Tick(), now)
        self.health.fire_due(now)
        if self._waiting:
            self._release_waiting()
        if self._continuations:
            self._run_continuations()
        if self.mood is DaemonState.SHUTDOWN:
            self._advance_shutdown()
        self.event_hub.fire_ticks()
        self.event_hub.dispatch()
        deadline: float | None = self.event_hub.next_tick(now)
        while self._heap:
            first, _, head = self._heap[0]
            if head.machine.deadline == first and self._is_live(head):
                deadline = first if deadline is None else min(deadline, first)
                break
            heapq.heappop(self._heap)
        health_due = self.health.next_deadline()
        if health_due is not None and (deadline is None or health_due < deadline):
            deadline = health_due
        return deadline

    def _is_live(self, proc: Process) -> bool:
        return self.processes.get((proc.group, proc.name)) is proc

    def _on_reaped(self, pid: int, status: ExitStatus, now: float) -> None:
        self.spawner.release(pid, status)
        if pid in self.health.check_pids:
            for fd in [fd for fd, owner in self._check_fds.items() if owner == pid]:
                self._on_check_readable(fd, until_eof=True)
            self.health.check_exited(pid, status, now)
            return
        proc = self.by_pid.pop(pid, None)
        if proc is None:
            # An orphan we inherited as PID 1 / subreaper: by far the commonest reap in a
            # container, so nothing is formatted unless the level is on.
            if log.isEnabledFor(self.unknown_pid_level):
                # tini's wording (-w), so what watches tini's logs finds the same line.
                log.log(
                    self.unknown_pid_level,
                    "Reaped zombie process with pid=%d (%s)",
                    pid,
                    status.describe(),
                )
            return
        for fd in self._child_fds.pop(pid, []):
            self._drain(fd)
        self._close_stdin(proc)
        self._drive(proc, Exited(status), now)

    # ---- effects ----------------------------------------------------------------------

    def _drive(self, proc: Process, event: Input, now: float | None = None) -> None:
        """Feed one input, then carry out effects until none remain (h11's fixed point)."""
        now = self.clock() if now is None else now
        if proc.spec.depends_on:
            proc.machine.deps_ready = self.deps_ready(proc)
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
            heapq.heappush(self._heap, (deadline, next(self._seq), proc))
        if proc.machine.waiting and proc not in self._waiting:
            self._waiting.add(proc)
            log.info("waiting: %s %s", proc.namespec, self.info(proc).description)

    def _spawn(self, proc: Process, now: float) -> list[Effect]:
        try:
            child = self.spawner.spawn(proc.spec)
        except SupervisorError as exc:
            proc.last_spawn_error = exc
            # The machine's BACKOFF Publish carries supervisor's one "spawnerr: ..." line.
            return proc.machine.handle(SpawnFailed(str(exc)), now)
        proc.last_spawn_error = None
        self.by_pid[child.pid] = proc
        pairs = [
            (fd, channel)
            for fd, channel in ((child.stdout_fd, proc.stdout), (child.stderr_fd, proc.stderr))
            if fd is not None
        ]
        self._child_fds[child.pid] = [fd for fd, _ in pairs]
        for fd, channel in pairs:
            self._fd_owner[fd] = (proc, channel)
            self.reactor.add_reader(fd, self.on_readable)
        proc.stdin_fd = child.stdin_fd
        proc.stdin_buffer.clear()
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
        if pub.message:
            log.log(logging.WARNING if pub.level == "warn" else logging.INFO, "%s", pub.message)
        tries = self._tries(proc, pub)
        self.journal.append(
            Event(
                "process_state",
                now,
                name=proc.name,
                group=proc.group,
                from_state=pub.from_state,
                to_state=pub.to_state,
                pid=pub.pid,
                expected=pub.expected,
                reason=proc.machine.spawn_error if pub.to_state in (S.BACKOFF, S.FATAL) else "",
                tries=tries,
            )
        )
        self._notify_transition(proc, pub, tries)
        self._resolve_waiters(proc, pub.to_state)
        self.health.process_changed(proc, pub.to_state, now)
        for listener in self.listeners:
            listener(proc, pub)
        if pub.from_state is S.RUNNING and self.mood is DaemonState.RUNNING:
            self._restart_dependents(proc)
        if self.mood is DaemonState.RUNNING:
            self._check_end(proc, pub)

    def _resolve_waiters(self, proc: Process, state: ProcessState) -> None:
        if proc.start_waiters and state is not S.STARTING:
            waiters, proc.start_waiters = proc.start_waiters, []
            for waiter in waiters:
                if waiter.done():
                    continue
                if state is S.RUNNING:
                    waiter.set_result(True)
                elif state in (S.BACKOFF, S.FATAL):
                    waiter.set_exception(SpawnError(f"{proc.namespec}: {proc.machine.spawn_error}"))
                elif state is S.STOPPING or proc.machine.state in (S.STARTING, S.RUNNING):
                    # A restart in progress (stop, then the pending start): keep waiting for
                    # the transition that the new attempt publishes.
                    proc.start_waiters.append(waiter)
                else:
                    waiter.set_exception(AbnormalTermination(proc.namespec))
        if proc.stop_waiters and state in STOPPED_STATES:
            waiters, proc.stop_waiters = proc.stop_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(True)

    # ---- shutdown ---------------------------------------------------------------------

    def request_shutdown(
        self, reason: str, exit_code: int | None = None, *, level: int = logging.WARNING
    ) -> None:
        """Stop everything in reverse priority order, then let the loop finish.

        A second request while already shutting down SIGKILLs what is still stopping, as
        uvicorn treats a second Ctrl-C, but only from ESCALATE_AFTER_SECONDS on: one signal is
        often delivered twice at once (GNU timeout, for one, signals us and our process
        group), and that must not cut an orderly stop short. ``level`` is the log level of
        ``reason`` (supervisor logs exit requests as warnings; an expected end, such as
        single-command mode's command exiting, is not one).
        """
        if self.mood is DaemonState.SHUTDOWN:
            if self.clock() - self._shutdown_mono < ESCALATE_AFTER_SECONDS:
                log.info("%s: already shutting down", reason)
                return
            log.warning("%s: killing remaining programs", reason)
            for proc in self.processes.values():
                m = proc.machine
                if m.pid and m.state is S.STOPPING:
                    self.spawner.kill(
                        m.pid, signal.SIGKILL, proc.spec.killasgroup, proc.spec.killtree
                    )
            return
        log.log(level, "%s", reason)
        if exit_code is not None:
            self.exit_code = exit_code
        self.mood = DaemonState.SHUTDOWN
        self._shutdown_mono = self.clock()
        self.journal.append(
            Event("daemon_state", self.clock(), daemon_state=DaemonState.SHUTDOWN, reason=reason)
        )
        for proc in self.processes.values():
            proc.machine.restart_allowed = False
        self._advance_shutdown()

    def _advance_shutdown(self) -> None:
        """Stop the next priority level, and keep going while stops complete at once.

        A program held by a dependency (or already stopped) stops synchronously, with no exit
        or deadline to wake the loop afterwards; so one call must carry the shutdown as far
        as it can go now, or an init whose last programs were all held sleeps forever.
        """
        while True:
            unstopped = [
                p for p in self.processes.values() if p.machine.state not in STOPPED_STATES
            ]
            if not unstopped:
                self.finished = True
                return
            if not self._stop_next_level(unstopped):
                return

    def _stop_next_level(self, unstopped: list[Process]) -> bool:
        """Ask the next level to stop; True when all of it stopped at once (go on)."""
        # A program stops only once everything that depends on it has stopped; among those
        # that may stop, the highest priority goes first, equal priorities together.
        stoppable = [
            p
            for p in unstopped
            if all(d.machine.state in STOPPED_STATES for d in self.dependents(p))
        ] or unstopped
        level = max(self.group_priority(p) for p in stoppable)
        waiting = []
        for proc in stoppable:
            if self.group_priority(proc) != level:
                continue
            if proc.machine.state in (S.RUNNING, S.STARTING, S.BACKOFF):
                self._drive(proc, StopRequested())
            if proc.machine.state not in STOPPED_STATES:
                waiting.append(proc.namespec)
        if waiting and self._shutdown_level != level:
            self._shutdown_level = level
            log.info("waiting for %s to die", ", ".join(sorted(waiting)))
        return not waiting

    def fail_waiters(self, error: SupervisorError) -> None:
        """Fail every start/stop waiter and update still pending (the loop is ending)."""
        self._fail_pending_updates(error)
        for proc in self.processes.values():
            waiters = [*proc.start_waiters, *proc.stop_waiters]
            proc.start_waiters, proc.stop_waiters = [], []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)

    def _forget_process(self, proc: Process) -> None:
        """Drop a removed group's process: pipes, stdin, log files, health state."""
        del self.processes[(proc.group, proc.name)]
        for fd, (owner, _) in list(self._fd_owner.items()):
            if owner is proc:
                self._close_output(fd)
        self._close_stdin(proc)
        self.health.forget(proc)
        self.event_hub.forget_process(proc)
        self._waiting.discard(proc)
        proc.stdout.close()
        proc.stderr.close()

    # ---- logs -------------------------------------------------------------------------

    def reopen_logs(self) -> None:
        for proc in self.processes.values():
            proc.stdout.reopen()
            proc.stderr.reopen()

    def drain_outputs(self) -> None:
        """Read what is waiting in every program pipe, without waiting (the final sweep
        keeps reading what orphans still write to the pipes they inherited)."""
        for fd in list(self._fd_owner):
            self._drain(fd)

    def close(self) -> None:
        """Resolve every waiter, then close every pipe and log file (after the loop ended).

        Nothing will publish a transition or run a continuation again, so a Future still
        pending here would leave its caller (an RPC thread) waiting forever.
        """
        self.fail_waiters(ShuttingDown("supervisor is shutting down"))
        for fd in list(self._fd_owner):
            self._drain(fd)
            if fd in self._fd_owner:
                self._close_output(fd)
        for proc in self.processes.values():
            self._close_stdin(proc)
            proc.stdout.close()
            proc.stderr.close()
        for fd in list(self._check_fds):
            self.reactor.remove(fd)
            self.pipes.close(fd)
        self._check_fds.clear()
        self.journal.close()
