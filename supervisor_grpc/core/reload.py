"""Reread and update: what changed between two configs, and applying it without disturbing
what did not change (supervisorctl's ``update``, done server-side).

Owns: the most recently (re)read config (``latest``; add_group draws from it) and the
sequencing of one update: stop the changed and removed groups, then remove or re-add each.
Adding and removing a group are the Supervisor's (they touch every owner); this calls them.
May import: model, errors, machine, core.process, core.table, core.waiters.
Threading: loop thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from concurrent.futures import Future

from ..errors import NoSuchGroup, SupervisorError
from ..machine import Input, StopRequested
from ..model import ConfigDiff, DaemonSpec, ProcessState
from .process import Process
from .table import ProcessTable
from .waiters import Waiters

log = logging.getLogger("supgrpc")
S = ProcessState


class Reload:
    def __init__(
        self,
        latest: DaemonSpec,
        table: ProcessTable,
        waiters: Waiters,
        *,
        add_group: Callable[[str], None],
        remove_group: Callable[[str], None],
        drive: Callable[[Process, Input], None],
    ) -> None:
        self.latest = latest
        self.table = table
        self.waiters = waiters
        self.add_group = add_group
        self.remove_group = remove_group
        self.drive = drive

    def diff(self, new: DaemonSpec) -> ConfigDiff:
        current = self.table.groups
        fresh = {g.name: g for g in new.groups}
        return ConfigDiff(
            added=tuple(sorted(fresh.keys() - current.keys())),
            changed=tuple(
                sorted(n for n in fresh.keys() & current.keys() if fresh[n] != current[n])
            ),
            removed=tuple(sorted(current.keys() - fresh.keys())),
        )

    def update(self, names: Collection[str] | None = None) -> Future[ConfigDiff]:
        """Apply the last reread: stop+remove removed and changed groups, add changed and new.

        The Future completes once every stop has finished and every group is in place.
        """
        diff = self.diff(self.latest)
        if names:
            known = set(self.table.groups) | {g.name for g in self.latest.groups}
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
                self.waiters.update_done(done)

        for name in diff.added:
            self.add_group(name)
        if outstanding["n"] == 0:
            done.set_result(diff)
            return done
        # Registered so that the loop's end fails it if it has not completed by then.
        self.waiters.add_update(done)
        for name in (*diff.removed, *diff.changed):
            self._replace_group(name, readd=name in diff.changed, then=finish_one)
        return done

    def _replace_group(
        self, name: str, *, readd: bool, then: Callable[[BaseException | None], None]
    ) -> None:
        procs = self.table.in_group(name)
        for proc in procs:
            if proc.machine.state in (S.RUNNING, S.STARTING, S.BACKOFF):
                self.drive(proc, StopRequested())

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

        self.waiters.when_stopped(procs, when_stopped)
