"""The one thread-safe control API that the gRPC service and the XML-RPC shim share.

Owns: turning a caller's request into inbox jobs for the loop, waiting (off the loop) for the
waiters the core hands back, deadlines -> ``Timeout``, priority-ordered group operations, and
supervisor's human descriptions of process state.
May import: core (through the inbox), logstore readers, model, errors, config.
Threading: any thread. Nothing here touches core state directly: every read or change of it
runs as a job on the loop thread.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import signal as signal_module
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TypeVar

from . import __version__
from .core import ActionOutcome, Process, Supervisor
from .errors import (
    BadSignal,
    CantReread,
    ConfigError,
    NoSuchProcess,
    SupervisorError,
    Timeout,
)
from .logstore import EventJournal, LogChannel, MainLogHandler
from .model import (
    Channel,
    ConfigDiff,
    DaemonInfo,
    DaemonSpec,
    DaemonState,
    Event,
    ProcessInfo,
    ProcessState,
    ProgramSpec,
)
from .runtime.inbox import Inbox

T = TypeVar("T")
S = ProcessState


@dataclass(frozen=True, slots=True)
class ActionResult:
    """One process's answer to start/stop/restart/signal: ``error`` None means success."""

    name: str
    group: str
    error: SupervisorError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def namespec(self) -> str:
        return self.name if self.group == self.name else f"{self.group}:{self.name}"


@dataclass(frozen=True, slots=True)
class ConfigInfo:
    """A configured program (from the last read of the config) and whether it is loaded."""

    spec: ProgramSpec
    group_priority: int
    inuse: bool


def parse_signal(value: str | int) -> int:
    """``HUP``, ``SIGHUP``, ``1`` or 1 -> 1; anything else is BadSignal."""
    if isinstance(value, int):
        num = value
    else:
        text = value.strip().upper()
        if text.isdigit():
            num = int(text)
        else:
            name = text if text.startswith("SIG") else "SIG" + text
            sig = getattr(signal_module.Signals, name, None)
            if sig is None:
                raise BadSignal(str(value))
            num = int(sig)
    if num not in {int(s) for s in signal_module.valid_signals()} or num == 0:
        raise BadSignal(str(value))
    return num


class Control:
    """Thread-safe façade over the loop-owned Supervisor."""

    def __init__(
        self,
        inbox: Inbox,
        core: Supervisor,
        load_config: Callable[[], DaemonSpec],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._inbox = inbox
        self._core = core
        self._load_config = load_config
        self._clock = clock
        self._wall = wall
        # Immutable after start: safe to hand to reader threads directly.
        self.journal: EventJournal[Event] = core.journal
        self.main_log: LogChannel | None = None
        # The daemon log is written by any thread under its logging handler's lock, so it is
        # cleared and reopened through the handler (set by the daemon), never on the loop.
        self.main_log_handler: MainLogHandler | None = None
        # shutting_down(): the daemon's mood as the journal tells it, without a loop job.
        self._mood_lock = threading.Lock()
        self._mood_cursor = 0
        self._stopping = threading.Event()  # set once; the mood never returns to RUNNING

    # ---- plumbing ---------------------------------------------------------------------

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run ``fn`` on the loop thread and return its result (or raise its error)."""
        fut = self._inbox.submit(fn)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise Timeout("timed out waiting for the supervisor loop")

    @staticmethod
    def _remaining(deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    @staticmethod
    def _deadline(timeout: float | None) -> float | None:
        return None if timeout is None else time.monotonic() + timeout

    # ---- state ------------------------------------------------------------------------

    def daemon_info(self) -> DaemonInfo:
        def job() -> DaemonInfo:
            c = self._core
            return DaemonInfo(
                c.mood,
                os.getpid(),
                c.spec.identifier,
                c.spec.config_file,
                c.started_mono,
                __version__,
            )

        return self.call(job)

    def shutting_down(self) -> bool:
        """True once the daemon has started stopping (or restarting); no loop round trip.

        The core journals a ``daemon_state`` event whenever its mood changes, so this follows
        the journal with a cursor of its own (reading only what is new since the last call:
        usually nothing) instead of asking the loop for ``mood``. Only when this cursor fell
        behind the journal's kept history does it ask the loop.
        """
        if self._stopping.is_set():
            return True
        with self._mood_lock:
            while not self._stopping.is_set():
                items, self._mood_cursor, skipped = self.journal.read(self._mood_cursor, 1024)
                if skipped:  # the mood change, if any, may have left the kept history
                    try:
                        mood = self.daemon_info().state
                    except SupervisorError:
                        mood = DaemonState.SHUTDOWN
                    if mood < DaemonState.RUNNING:
                        self._stopping.set()
                    continue  # and read on from the new cursor
                for _, event in items:
                    state = event.daemon_state
                    if state is not None and state < DaemonState.RUNNING:  # daemon_state
                        self._stopping.set()  # SHUTDOWN or RESTARTING
                if not items:
                    break
            if self.journal.closed:  # the run is over
                self._stopping.set()
        return self._stopping.is_set()

    def list_processes(self, patterns: Sequence[str] = ()) -> list[ProcessInfo]:
        """Snapshots sorted by group then name; ``patterns`` are globs on name/namespec/group."""

        def job() -> list[ProcessInfo]:
            procs = sorted(self._core.processes.values(), key=lambda p: (p.group, p.name))
            return [self._core.info(p) for p in procs]

        infos = self.call(job)
        if not patterns:
            return infos
        return [i for i in infos if any(_matches(i, pat) for pat in patterns)]

    def process_info(self, name: str) -> ProcessInfo:
        return self.call(lambda: self._core.info(self._core.find(name)))

    def targets(self, target: str) -> list[ProcessInfo]:
        """Resolve ``name``, ``group:*`` or ``*`` to processes (NoSuchProcess/NoSuchGroup)."""
        return self.call(lambda: [self._core.info(p) for p in self._core.find_targets(target)])

    def config_info(self) -> list[ConfigInfo]:
        def job() -> list[ConfigInfo]:
            c = self._core
            out = []
            for group in c.latest.groups:
                for spec in group.programs:
                    out.append(ConfigInfo(spec, group.priority, group.name in c.groups))
            return sorted(out, key=lambda ci: ci.spec.name)

        return self.call(job)

    # ---- start / stop / restart / signal ------------------------------------------------

    def _levels(self, target: str) -> list[list[tuple[str, str]]]:
        """Processes of ``target`` grouped by priority level, lowest first."""

        def job() -> list[list[tuple[str, str]]]:
            procs = self._core.find_targets(target)
            levels = []
            for _, members in itertools.groupby(procs, key=lambda p: self._core.order_key(p)[:2]):
                levels.append([(p.group, p.name) for p in members])
            return levels

        return self.call(job)

    def _act(
        self,
        keys: list[tuple[str, str]],
        action: Callable[[Process], ActionOutcome],
        wait: bool,
        deadline: float | None,
    ) -> list[ActionResult]:
        def job() -> list[ActionOutcome]:
            out = []
            for key in keys:
                proc = self._core.processes.get(key)
                if proc is None:
                    continue  # removed meanwhile
                out.append(action(proc))
            return out

        outcomes = self.call(job, self._remaining(deadline))
        results = []
        for o in outcomes:
            error = o.error
            if error is None and o.waiter is not None and (wait or o.waiter.done()):
                try:
                    o.waiter.result(self._remaining(deadline))
                except concurrent.futures.TimeoutError:
                    error = Timeout(f"{o.process.namespec}: timed out")
                except SupervisorError as exc:
                    error = exc
            results.append(ActionResult(o.process.name, o.process.group, error))
        return results

    def start(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ActionResult]:
        """Start ``target``; priority levels go in turn (each waited for when ``wait``).

        Raises:
            NoSuchProcess/NoSuchGroup: the target names nothing.
            ShuttingDown: the daemon is stopping.
        """
        deadline = self._deadline(timeout)
        results: list[ActionResult] = []
        for level in self._levels(target):
            results += self._act(level, self._core.start_process, wait, deadline)
        return results

    def stop(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ActionResult]:
        """Stop ``target``: highest priority first; programs of one priority stop together."""
        deadline = self._deadline(timeout)
        results: list[ActionResult] = []
        for level in reversed(self._levels(target)):
            results += self._act(level, self._core.stop_process, wait, deadline)
        return results

    def restart(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ActionResult]:
        """Stop what runs of ``target`` (waiting), then start all of it."""
        deadline = self._deadline(timeout)

        def bound() -> list[str]:
            procs = self._core.find_targets(target)
            return [p.namespec for p in self._core.bound_dependents(procs)]

        # Dependents with restart_with_dependencies go down with the stop; bring them back.
        dependents = self.call(bound)
        stopped = self.stop(target, wait=True, timeout=self._remaining(deadline))
        failures = {
            r.namespec: r for r in stopped if r.error is not None and r.error.code != "NOT_RUNNING"
        }
        started = self.start(target, wait=wait, timeout=self._remaining(deadline))
        for namespec in dependents:
            try:
                self.start(namespec, wait=False)
            except SupervisorError:
                pass  # removed or shutting down meanwhile: nothing to bring back
        return [failures.get(r.namespec, r) for r in started]

    def signal(self, target: str, sig: str | int) -> list[ActionResult]:
        signum = parse_signal(sig)

        def job() -> list[ActionResult]:
            out = []
            for proc in self._core.find_targets(target):
                try:
                    self._core.signal_process(proc, signum)
                except SupervisorError as exc:
                    out.append(ActionResult(proc.name, proc.group, exc))
                else:
                    out.append(ActionResult(proc.name, proc.group))
            return out

        return self.call(job)

    def send_stdin(self, name: str, data: bytes) -> None:
        self.call(lambda: self._core.send_stdin(self._core.find(name), data))

    def send_remote_comm_event(self, type_: str, data: str) -> None:
        """REMOTE_COMMUNICATION for the listener pools subscribed to it."""
        self.call(lambda: self._core.send_remote_comm_event(type_, data))

    # ---- logs -------------------------------------------------------------------------

    def log_channel(self, name: str | None, channel: Channel = Channel.STDOUT) -> LogChannel:
        """The channel object for a process (or the daemon log when ``name`` is None).

        Its read side is thread-safe: callers read and wait on it directly.
        """
        if name is None:
            if self.main_log is None:
                raise NoSuchProcess("the daemon has no main log")
            return self.main_log
        return self.call(lambda: self._core.find(name).channel(channel))

    def clear_log(self, name: str) -> None:
        def job() -> None:
            proc = self._core.find(name)
            proc.stdout.clear()
            proc.stderr.clear()

        self.call(job)

    def clear_all_logs(self) -> list[ActionResult]:
        def job() -> list[ActionResult]:
            out = []
            for proc in sorted(self._core.processes.values(), key=lambda p: (p.group, p.name)):
                try:
                    proc.stdout.clear()
                    proc.stderr.clear()
                except OSError as exc:
                    from .errors import Failed

                    out.append(ActionResult(proc.name, proc.group, Failed(str(exc))))
                else:
                    out.append(ActionResult(proc.name, proc.group))
            return out

        return self.call(job)

    def clear_main_log(self) -> None:
        if self.main_log_handler is None:
            raise NoSuchProcess("the daemon has no main log")
        self.main_log_handler.clear_channel()

    def reopen_logs(self) -> None:
        def job() -> None:
            self._core.reopen_logs()
            if self.main_log_handler is not None:
                self.main_log_handler.reopen_channel()

        self.call(job)

    # ---- config -----------------------------------------------------------------------

    def reread(self) -> ConfigDiff:
        """Read the config again (on this thread) and report what changed; apply nothing."""
        try:
            spec = self._load_config()
        except ConfigError as exc:
            raise CantReread(str(exc))

        def job() -> ConfigDiff:
            self._core.latest = spec
            return self._core.diff(spec)

        return self.call(job)

    def update(self, groups: Sequence[str] = (), *, timeout: float | None = None) -> ConfigDiff:
        """Reread, then apply the changes (optionally only for ``groups``)."""
        self.reread()
        deadline = self._deadline(timeout)
        fut = self.call(lambda: self._core.update(list(groups) or None))
        try:
            return fut.result(self._remaining(deadline))
        except concurrent.futures.TimeoutError:
            raise Timeout("update still in progress")

    def add_group(self, name: str) -> None:
        self.call(lambda: self._core.add_group(name))

    def remove_group(self, name: str) -> None:
        self.call(lambda: self._core.remove_group(name))

    def shutdown(self) -> None:
        self.call(lambda: self._core.request_shutdown("shutdown requested through the API"))

    # ---- presentation shared by both front-ends -----------------------------------------

    def wall_time(self, t_mono: float | None) -> float:
        if t_mono is None:
            return 0.0
        return self._wall() - (self._clock() - t_mono)

    def describe(self, info: ProcessInfo) -> str:
        """supervisor's ``description``: what ``supervisorctl status`` prints after the state."""
        state = info.state
        if info.description:
            return info.description
        if state is S.RUNNING and info.start_mono is not None:
            seconds = int(max(0.0, self._clock() - info.start_mono))
            hours, rest = divmod(seconds, 3600)
            minutes, secs = divmod(rest, 60)
            days, hours = divmod(hours, 24)
            uptime = f"{hours}:{minutes:02d}:{secs:02d}"
            if days:
                uptime = f"{days} day{'s' if days != 1 else ''}, {uptime}"
            return f"pid {info.pid}, uptime {uptime}"
        if state in (S.FATAL, S.BACKOFF):
            return info.spawn_error or f'unknown error (try "tail {info.name}")'
        if state in (S.STOPPED, S.EXITED):
            if info.start_mono is None:
                return "Not started"
            stop = self.wall_time(info.stop_mono if info.stop_mono is not None else None)
            if not stop:
                return "Not started"
            return time.strftime("%b %d %I:%M %p", time.localtime(stop))
        return ""


def _matches(info: ProcessInfo, pattern: str) -> bool:
    return any(
        fnmatchcase(candidate, pattern)
        for candidate in (info.name, info.namespec, f"{info.group}:{info.name}", info.group)
    )
