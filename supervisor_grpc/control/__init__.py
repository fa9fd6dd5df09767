"""The one thread-safe control API that the gRPC service and the XML-RPC shim share.

Owns: turning a caller's request into inbox jobs for the loop, waiting (off the loop) for the
waiters the core hands back, deadlines -> ``Timeout``, priority-ordered group operations.
How results are shown (wall times, supervisor's descriptions) is ``frontends.presentation``'s.
May import: core (through the inbox), logstore readers, model, errors, config, runtime.inbox.
Threading: any thread. Nothing here touches core state directly: every read or change of it
runs as a job on the loop thread.

Each request is written once, as a plan (``control.waits``): the blocking methods here drive
it on the caller's thread; ``control.aio.AsyncControl`` drives the same plans as coroutines
for the grpc.aio front-end. Every wait is bounded, and ``close()`` answers all outstanding
ones with ShuttingDown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from ..core import ActionOutcome, Process, Supervisor
from ..errors import (
    CantReread,
    ConfigError,
    NoSuchProcess,
    SupervisorError,
    Timeout,
)
from ..logstore import EventJournal, LogChannel, MainLogHandler
from ..model import (
    Channel,
    ConfigDiff,
    DaemonInfo,
    DaemonSpec,
    Event,
    ProcessInfo,
    ProcessState,
)
from ..runtime.inbox import Inbox
from . import jobs
from .mood import MoodWatch
from .restart import Restart
from .values import (
    ActionResult,
    ConfigInfo,
    LogTarget,
    matches,
    parse_signal,
)
from .waits import Closing, Offload, Plan, Wait, run_sync

__all__ = ["ActionResult", "ConfigInfo", "Control", "LogTarget", "parse_signal"]

T = TypeVar("T")
S = ProcessState


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
        # The daemon's clocks, for the front-ends' presentation (frontends.presentation).
        self.clock = clock
        self.wall = wall
        # Immutable after start: safe to hand to reader threads directly.
        self.journal: EventJournal[Event] = core.journal
        self.main_log: LogChannel | None = None
        # The daemon log is written by any thread under its logging handler's lock, so it is
        # cleared and reopened through the handler (set by the daemon), never on the loop.
        self.main_log_handler: MainLogHandler | None = None
        # shutting_down(): the daemon's mood as the journal tells it, without a loop job.
        self._mood = MoodWatch(self.journal, lambda: self.daemon_info().state)
        self.closing = Closing()

    def close(self) -> None:
        """The daemon is done: outstanding and later waits raise ShuttingDown."""
        self.closing.close()

    # ---- plumbing ---------------------------------------------------------------------

    def job(self, fn: Callable[[], T], timeout: float | None = None) -> Plan[T]:
        """A plan step: run ``fn`` on the loop thread; its result (or error) is the value."""
        fut = self._inbox.submit(fn)
        result: T = yield Wait(fut, timeout, "timed out waiting for the supervisor loop", True)
        return result

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run ``fn`` on the loop thread and return its result (or raise its error)."""
        return run_sync(self.job(fn, timeout), self.closing)

    @staticmethod
    def _remaining(deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    @staticmethod
    def _deadline(timeout: float | None) -> float | None:
        return None if timeout is None else time.monotonic() + timeout

    # ---- state ------------------------------------------------------------------------

    def plan_daemon_info(self) -> Plan[DaemonInfo]:
        return (yield from self.job(lambda: jobs.daemon_info(self._core)))

    def daemon_info(self) -> DaemonInfo:
        return run_sync(self.plan_daemon_info(), self.closing)

    def shutting_down(self) -> bool:
        """True once the daemon has started stopping (or restarting); no loop round trip."""
        return self._mood.stopping()

    def plan_list_processes(self, patterns: Sequence[str] = ()) -> Plan[list[ProcessInfo]]:
        """Snapshots sorted by group then name; ``patterns`` are globs on name/namespec/group."""

        def job() -> list[ProcessInfo]:
            return [self._core.info(p) for p in jobs.by_name(self._core)]

        infos = yield from self.job(job)
        if not patterns:
            return infos
        return [i for i in infos if any(matches(i, pat) for pat in patterns)]

    def list_processes(self, patterns: Sequence[str] = ()) -> list[ProcessInfo]:
        return run_sync(self.plan_list_processes(patterns), self.closing)

    def plan_process_info(self, name: str) -> Plan[ProcessInfo]:
        return (yield from self.job(lambda: self._core.info(self._core.find(name))))

    def process_info(self, name: str) -> ProcessInfo:
        return run_sync(self.plan_process_info(name), self.closing)

    def plan_targets(self, target: str) -> Plan[list[ProcessInfo]]:
        """Resolve ``name``, ``group:*`` or ``*`` to processes (NoSuchProcess/NoSuchGroup)."""
        return (
            yield from self.job(
                lambda: [self._core.info(p) for p in self._core.find_targets(target)]
            )
        )

    def targets(self, target: str) -> list[ProcessInfo]:
        return run_sync(self.plan_targets(target), self.closing)

    def config_info(self) -> list[ConfigInfo]:
        return self.call(lambda: jobs.config_infos(self._core))

    # ---- start / stop / restart / signal ------------------------------------------------

    def _levels(self, target: str) -> Plan[list[list[tuple[str, str]]]]:
        """Processes of ``target`` grouped by priority level, lowest first."""
        return (yield from self.job(lambda: jobs.levels(self._core, target)))

    def _act(
        self,
        keys: list[tuple[str, str]],
        action: Callable[[Process], ActionOutcome],
        wait: bool,
        deadline: float | None,
    ) -> Plan[list[ActionResult]]:
        def job() -> list[ActionOutcome]:
            out = []
            for key in keys:
                proc = self._core.processes.get(key)
                if proc is None:
                    continue  # removed meanwhile
                out.append(action(proc))
            return out

        outcomes = yield from self.job(job, self._remaining(deadline))
        return (yield from self._settle(outcomes, wait, deadline))

    def _settle(
        self, outcomes: list[ActionOutcome], wait: bool, deadline: float | None
    ) -> Plan[list[ActionResult]]:
        """Each outcome as an ActionResult, waiting for its waiter when ``wait`` (or done)."""
        results = []
        for o in outcomes:
            error = o.error
            if error is None and o.waiter is not None and (wait or o.waiter.done()):
                message = f"{o.process.namespec}: timed out"
                try:
                    yield Wait(o.waiter, self._remaining(deadline), message)
                except SupervisorError as exc:  # Timeout, ShuttingDown, the waiter's error
                    error = exc
            results.append(ActionResult(o.process.name, o.process.group, error))
        return results

    def plan_start(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> Plan[list[ActionResult]]:
        """Start ``target``; priority levels go in turn (each waited for when ``wait``).

        Raises:
            NoSuchProcess/NoSuchGroup: the target names nothing.
            ShuttingDown: the daemon is stopping.
        """
        deadline = self._deadline(timeout)
        results: list[ActionResult] = []
        for level in (yield from self._levels(target)):
            results += yield from self._act(level, self._core.start_process, wait, deadline)
        return results

    def start(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ActionResult]:
        return run_sync(self.plan_start(target, wait=wait, timeout=timeout), self.closing)

    def plan_stop(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> Plan[list[ActionResult]]:
        """Stop ``target``: highest priority first; programs of one priority stop together."""
        deadline = self._deadline(timeout)
        results: list[ActionResult] = []
        for level in reversed((yield from self._levels(target))):
            results += yield from self._act(level, self._core.stop_process, wait, deadline)
        return results

    def stop(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ActionResult]:
        return run_sync(self.plan_stop(target, wait=wait, timeout=timeout), self.closing)

    def plan_restart(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> Plan[list[ActionResult]]:
        """Stop what runs of ``target`` (waiting), then start all of it: ONE loop job
        (``control.restart``), then the waits on the Futures the core completes."""
        deadline = self._deadline(timeout)
        restart = yield from self.job(
            lambda: Restart(self._core, target, wait, self._inbox.submit).begin(),
            self._remaining(deadline),
        )
        try:
            outcomes = yield Wait(restart.done, self._remaining(deadline), "restart timed out")
        except Timeout:
            return [
                ActionResult(p.name, p.group, Timeout(f"{p.namespec}: timed out"))
                for p in restart.procs
            ]
        return (yield from self._settle(outcomes, wait, deadline))

    def restart(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ActionResult]:
        return run_sync(self.plan_restart(target, wait=wait, timeout=timeout), self.closing)

    def plan_signal(self, target: str, sig: str | int) -> Plan[list[ActionResult]]:
        signum = parse_signal(sig)
        return (yield from self.job(lambda: jobs.signal_targets(self._core, target, signum)))

    def signal(self, target: str, sig: str | int) -> list[ActionResult]:
        return run_sync(self.plan_signal(target, sig), self.closing)

    def plan_send_stdin(self, name: str, data: bytes) -> Plan[None]:
        yield from self.job(lambda: self._core.send_stdin(self._core.find(name), data))

    def send_stdin(self, name: str, data: bytes) -> None:
        run_sync(self.plan_send_stdin(name, data), self.closing)

    def send_remote_comm_event(self, type_: str, data: str) -> None:
        """REMOTE_COMMUNICATION for the listener pools subscribed to it."""
        self.call(lambda: self._core.send_remote_comm_event(type_, data))

    # ---- logs -------------------------------------------------------------------------

    def plan_log_channel(
        self, name: str | None, channel: Channel = Channel.STDOUT
    ) -> Plan[LogChannel]:
        """The channel object for a process (or the daemon log when ``name`` is None).

        Its read side is thread-safe: callers read and wait on it directly.
        """
        if name is None:
            if self.main_log is None:
                raise NoSuchProcess("the daemon has no main log")
            return self.main_log
        return (yield from self.job(lambda: self._core.find(name).channel(channel)))

    def log_channel(self, name: str | None, channel: Channel = Channel.STDOUT) -> LogChannel:
        return run_sync(self.plan_log_channel(name, channel), self.closing)

    def plan_log_targets(
        self, patterns: Sequence[str], channels: Sequence[Channel], *, missing_ok: bool = False
    ) -> Plan[list[LogTarget]]:
        """Every process that ``patterns`` name (names, namespecs, ``group:*``, globs, ``*``),
        with its channels, in ONE loop job however many processes match.

        Raises NoSuchProcess/NoSuchGroup for a pattern naming nothing, unless ``missing_ok``
        (a follower re-resolving after a reload: a removed program is simply absent).
        """

        return (
            yield from self.job(
                lambda: jobs.log_targets(self._core, patterns, channels, missing_ok)
            )
        )

    def plan_clear_log(self, name: str) -> Plan[None]:
        def job() -> None:
            proc = self._core.find(name)
            proc.stdout.clear()
            proc.stderr.clear()

        yield from self.job(job)

    def clear_log(self, name: str) -> None:
        run_sync(self.plan_clear_log(name), self.closing)

    def plan_clear_all_logs(self) -> Plan[list[ActionResult]]:
        return (yield from self.job(lambda: jobs.clear_all_logs(self._core)))

    def clear_all_logs(self) -> list[ActionResult]:
        return run_sync(self.plan_clear_all_logs(), self.closing)

    def clear_main_log(self) -> None:
        if self.main_log_handler is None:
            raise NoSuchProcess("the daemon has no main log")
        self.main_log_handler.clear_channel()

    def plan_reopen_logs(self) -> Plan[None]:
        def job() -> None:
            self._core.reopen_logs()
            if self.main_log_handler is not None:
                self.main_log_handler.reopen_channel()

        yield from self.job(job)

    def reopen_logs(self) -> None:
        run_sync(self.plan_reopen_logs(), self.closing)

    # ---- config -----------------------------------------------------------------------

    def plan_reread(self) -> Plan[ConfigDiff]:
        """Read the config again (off the loop) and report what changed; apply nothing."""
        try:
            spec = yield Offload(self._load_config)
        except ConfigError as exc:
            raise CantReread(str(exc))

        def job() -> ConfigDiff:
            self._core.latest = spec
            return self._core.diff(spec)

        return (yield from self.job(job))

    def reread(self) -> ConfigDiff:
        return run_sync(self.plan_reread(), self.closing)

    def plan_update(
        self, groups: Sequence[str] = (), *, timeout: float | None = None
    ) -> Plan[ConfigDiff]:
        """Reread, then apply the changes (optionally only for ``groups``)."""
        yield from self.plan_reread()
        deadline = self._deadline(timeout)
        fut = yield from self.job(lambda: self._core.update(list(groups) or None))
        diff: ConfigDiff = yield Wait(fut, self._remaining(deadline), "update still in progress")
        return diff

    def update(self, groups: Sequence[str] = (), *, timeout: float | None = None) -> ConfigDiff:
        return run_sync(self.plan_update(groups, timeout=timeout), self.closing)

    def plan_add_group(self, name: str) -> Plan[None]:
        yield from self.job(lambda: self._core.add_group(name))

    def add_group(self, name: str) -> None:
        run_sync(self.plan_add_group(name), self.closing)

    def plan_remove_group(self, name: str) -> Plan[None]:
        yield from self.job(lambda: self._core.remove_group(name))

    def remove_group(self, name: str) -> None:
        run_sync(self.plan_remove_group(name), self.closing)

    def plan_shutdown(self) -> Plan[None]:
        yield from self.job(
            lambda: self._core.request_shutdown("shutdown requested through the API")
        )

    def shutdown(self) -> None:
        run_sync(self.plan_shutdown(), self.closing)
