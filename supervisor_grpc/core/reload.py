"""Reread and update: what changed between two configs, and applying it without disturbing
what did not change (supervisorctl's ``update``, done server-side).

Loop thread only. A mixin of :class:`~supervisor_grpc.core.supervisor.Supervisor`: it uses the
core's process table, ``_drive`` and continuation list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from concurrent.futures import Future
from typing import TYPE_CHECKING

from ..errors import AlreadyAdded, NoSuchGroup, NoSuchProcess, StillRunning, SupervisorError
from ..machine import StartRequested, StopRequested
from ..model import STOPPED_STATES, ConfigDiff, DaemonSpec, Event, GroupSpec, ProcessState

if TYPE_CHECKING:
    from .process import Process

log = logging.getLogger("supgrpc")
S = ProcessState


class ReloadMixin:
    if TYPE_CHECKING:
        from ..logstore import EventJournal
        from ..machine import Input

        groups: dict[str, GroupSpec]
        processes: dict[tuple[str, str], Process]
        latest: DaemonSpec
        journal: EventJournal[Event]
        _continuations: list[tuple[list[Process], Callable[[], None]]]
        _pending_updates: set[Future[ConfigDiff]]
        clock: Callable[[], float]

        def _check_running(self) -> None: ...
        def _add_group(self, group: GroupSpec) -> None: ...
        def _forget_process(self, proc: Process) -> None: ...
        def _drive(self, proc: Process, event: Input, now: float | None = None) -> None: ...
        def ordered(self) -> list[Process]: ...

    def diff(self, new: DaemonSpec) -> ConfigDiff:
        current = self.groups
        fresh = {g.name: g for g in new.groups}
        return ConfigDiff(
            added=tuple(sorted(fresh.keys() - current.keys())),
            changed=tuple(
                sorted(n for n in fresh.keys() & current.keys() if fresh[n] != current[n])
            ),
            removed=tuple(sorted(current.keys() - fresh.keys())),
        )

    def add_group(self, name: str) -> None:
        self._check_running()
        if name in self.groups:
            raise AlreadyAdded(name)
        group = self.latest.group(name)
        if group is None:
            raise NoSuchProcess(name)
        self._add_group(group)
        for proc in self.ordered():
            if proc.group == name and proc.spec.autostart and proc.machine.start_mono is None:
                self._drive(proc, StartRequested())

    def remove_group(self, name: str) -> None:
        self._check_running()
        if name not in self.groups:
            raise NoSuchProcess(name)
        procs = [p for p in self.processes.values() if p.group == name]
        if any(p.machine.state not in STOPPED_STATES for p in procs):
            raise StillRunning(name)
        for proc in procs:
            self._forget_process(proc)
        del self.groups[name]
        self.journal.append(Event("group_removed", self.clock(), group=name))

    def update(self, names: Collection[str] | None = None) -> Future[ConfigDiff]:
        """Apply the last reread: stop+remove removed and changed groups, add changed and new.

        The Future completes once every stop has finished and every group is in place.
        """
        self._check_running()
        diff = self.diff(self.latest)
        if names:
            known = set(self.groups) | {g.name for g in self.latest.groups}
            for name in names:
                if name not in known:
                    raise NoSuchGroup(name)
            keep = set(names)
            diff = ConfigDiff(
                tuple(n for n in diff.added if n in keep),
                tuple(n for n in diff.changed if n in keep),
                tuple(n for n in diff.removed if n in keep),
            )
        done: Future[ConfigDiff] = Future()
        outstanding = {"n": len(diff.changed) + len(diff.removed)}

        def finish_one(error: BaseException | None = None) -> None:
            # Every path resolves ``done``: the first failure (a shutdown that began while
            # a group was stopping, a group that cannot be re-added) fails the whole update.
            outstanding["n"] -= 1
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            elif outstanding["n"] == 0:
                done.set_result(diff)
            if done.done():
                self._pending_updates.discard(done)

        for name in diff.added:
            self.add_group(name)
        if outstanding["n"] == 0:
            done.set_result(diff)
            return done
        # Registered so that close() fails it if the loop ends before it completes.
        self._pending_updates.add(done)
        for name in (*diff.removed, *diff.changed):
            self._replace_group(name, readd=name in diff.changed, then=finish_one)
        return done

    def _replace_group(
        self, name: str, *, readd: bool, then: Callable[[BaseException | None], None]
    ) -> None:
        procs = [p for p in self.processes.values() if p.group == name]
        for proc in procs:
            if proc.machine.state in (S.RUNNING, S.STARTING, S.BACKOFF):
                self._drive(proc, StopRequested())

        def when_stopped() -> None:
            try:
                self.remove_group(name)
                if readd:
                    self.add_group(name)
            except SupervisorError as exc:
                log.error("update: %s", exc)
                then(exc)
                return
            except Exception as exc:  # an internal error fails this update, not the loop
                log.exception("update of %s failed", name)
                then(exc)
                return
            then(None)

        self._continuations.append((procs, when_stopped))

    def _run_continuations(self) -> None:
        ready = [
            (procs, fn)
            for procs, fn in self._continuations
            if all(p.machine.state in STOPPED_STATES for p in procs)
        ]
        if not ready:
            return
        self._continuations = [c for c in self._continuations if c not in ready]
        for _, fn in ready:
            try:
                fn()
            except SupervisorError as exc:
                log.error("update: %s", exc)
            except Exception:  # one broken continuation must not stop the others (rule 9)
                log.exception("internal error in a deferred step")

    def _fail_pending_updates(self, error: BaseException) -> None:
        """The loop is ending: no continuation will run again, so no update may wait on one."""
        self._continuations.clear()
        pending, self._pending_updates = self._pending_updates, set()
        for fut in pending:
            if not fut.done():
                fut.set_exception(error)
