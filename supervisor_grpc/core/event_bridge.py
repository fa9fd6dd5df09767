"""Where the core's happenings are recorded and become supervisor events for listener pools.

Process transitions arrive as a subscriber of ``_publish`` (they need the machine's retry count
at that moment). Every record is told to the listener pools as it is appended to the journal,
through the one mapping ``eventtypes.of_event``, so every place that records one (reload,
shutdown, groups, capture mode) notifies listeners without knowing about them, and what
WatchEvents shows and what a listener gets cannot drift apart.

Owns: the event journal and the listener pools' hub (EventHub).
May import: model, errors, machine, logstore, core.eventtypes, core.listeners, core.process.
Threading: loop thread only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..logstore import EventJournal
from ..machine import Publish
from ..model import (
    Channel,
    DaemonState,
    DaemonStateChanged,
    Event,
    GroupRemoved,
    Health,
    HealthChanged,
    ProcessCommunication,
    ProcessState,
    ProcessStateChanged,
    RemoteCommunication,
)
from . import eventtypes as et
from .listeners import EventHub, Writer
from .process import Process

log = logging.getLogger("supgrpc")
S = ProcessState


class ObservedJournal(EventJournal[Event]):
    """The event journal, telling one observer (on the loop thread) about each append."""

    def __init__(self, observer: Callable[[Event], None], capacity: int = 10000) -> None:
        super().__init__(capacity)
        self._observer = observer

    def append(self, item: Event) -> int:
        seq = super().append(item)
        self._observer(item)
        return seq


class EventBridge:
    def __init__(
        self, identifier: str, *, strip: bool, clock: Callable[[], float], write: Writer
    ) -> None:
        self.clock = clock
        self.hub = EventHub(identifier, write, time.time, strip=strip)
        self.journal: EventJournal[Event] = ObservedJournal(self._journaled)
        self.hub.on_communication = self._record_communication

    def _journaled(self, event: Event) -> None:
        if isinstance(event, GroupRemoved):
            self.hub.remove_group(event.group)
        pending = et.of_event(event)
        if pending is not None:
            self.hub.notify(pending)

    @staticmethod
    def _tries(proc: Process, pub: Publish) -> int:
        """supervisor's ``tries`` for a STARTING/BACKOFF event (0 for other states)."""
        if pub.to_state not in (S.STARTING, S.BACKOFF):
            return 0
        m = proc.machine
        if pub.to_state is S.BACKOFF and m.state is S.FATAL:
            # The machine gave up in the same step and reset its count; supervisor's BACKOFF
            # event (sent before give_up runs) carries the count that made it give up.
            return proc.spec.startretries + 1
        return m.backoff

    def transition(self, proc: Process, pub: Publish, now: float) -> None:
        """Subscriber: log the machine's line, journal the change, tell the listener pools."""
        if pub.message:
            log.log(logging.WARNING if pub.level == "warn" else logging.INFO, "%s", pub.message)
        self.journal.append(  # the pools are told as it is journaled
            ProcessStateChanged(
                now,
                proc.name,
                proc.group,
                pub.from_state,
                pub.to_state,
                pid=pub.pid,
                expected=pub.expected,
                reason=proc.machine.spawn_error if pub.to_state in (S.BACKOFF, S.FATAL) else "",
                tries=self._tries(proc, pub),
            )
        )
        self.hub.process_changed(proc, pub.to_state)

    def health_changed(self, proc: Process, status: Health, output: str) -> None:
        """A program's health changed: one log line, one journal entry."""
        unhealthy = status is Health.UNHEALTHY
        log.log(
            logging.WARNING if unhealthy else logging.INFO,
            "health: %s is %s%s",
            proc.namespec,
            status.value,
            f" ({output})" if output and unhealthy else "",
        )
        self.journal.append(HealthChanged(self.clock(), proc.name, proc.group, status, output))

    def announce_running(self) -> None:
        """SUPERVISOR_STATE_CHANGE_RUNNING, once the groups exist and before anything starts."""
        self.journal.append(DaemonStateChanged(self.clock(), DaemonState.RUNNING))

    def send_remote_comm_event(self, type_: str, data: str) -> None:
        """sendRemoteCommEvent: a REMOTE_COMMUNICATION event for the pools subscribed to it."""
        self.journal.append(RemoteCommunication(self.clock(), type_, data))

    def _record_communication(self, proc: Process, channel: str, body: bytes) -> None:
        """A capture-mode message: journaled for WatchEvents, and so told to the pools."""
        self.journal.append(
            ProcessCommunication(
                self.clock(), proc.name, proc.group, proc.machine.pid, Channel(channel), body
            )
        )
