"""Where the core's happenings become supervisor events for listener pools.

Process transitions are notified from ``_publish`` (they need the machine's retry count at that
moment); group and daemon events are read off the journal as they are appended, so every place
that records one (reload included) notifies listeners without knowing about them.

Loop thread only. A mixin of :class:`~supervisor_grpc.core.supervisor.Supervisor`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import NoFile
from ..logstore import EventJournal
from ..machine import Publish
from ..model import DaemonState, Event, ProcessState
from . import eventtypes as et
from .listeners import EventHub
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


class EventsMixin:
    if TYPE_CHECKING:
        event_hub: EventHub
        journal: EventJournal[Event]
        clock: Callable[[], float]

        def _flush_stdin(self, proc: Process) -> None: ...

    def _journaled(self, event: Event) -> None:
        hub = self.event_hub
        if event.kind == "group_added":
            hub.notify(et.process_group(event.group, added=True))
        elif event.kind == "group_removed":
            hub.remove_group(event.group)
            hub.notify(et.process_group(event.group, added=False))
        elif event.kind == "daemon_state" and event.daemon_state is DaemonState.SHUTDOWN:
            hub.notify(et.supervisor_state(running=False))
        elif event.kind == "daemon_state" and event.daemon_state is DaemonState.RUNNING:
            hub.notify(et.supervisor_state(running=True))
        elif event.kind == "remote_communication":
            hub.notify(
                et.remote_communication(
                    event.comm_type, event.data.decode("utf-8", "surrogateescape")
                )
            )

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

    def _notify_transition(self, proc: Process, pub: Publish, tries: int) -> None:
        self.event_hub.notify(
            et.process_state(
                proc.name,
                proc.group,
                pub.from_state,
                pub.to_state,
                expected=pub.expected,
                pid=pub.pid,
                tries=tries,
            )
        )
        self.event_hub.process_changed(proc, pub.to_state)

    def announce_running(self) -> None:
        """SUPERVISOR_STATE_CHANGE_RUNNING, once the groups exist and before anything starts."""
        self.journal.append(Event("daemon_state", self.clock(), daemon_state=DaemonState.RUNNING))

    def send_remote_comm_event(self, type_: str, data: str) -> None:
        """sendRemoteCommEvent: a REMOTE_COMMUNICATION event for the pools subscribed to it."""
        self.journal.append(
            Event(
                "remote_communication",
                self.clock(),
                comm_type=type_,
                data=data.encode("utf-8", "surrogateescape"),
            )
        )

    def _record_communication(self, proc: Process, channel: str, body: bytes) -> None:
        """A capture-mode message, journaled for WatchEvents (listeners got it already)."""
        self.journal.append(
            Event(
                "process_communication",
                self.clock(),
                name=proc.name,
                group=proc.group,
                pid=proc.machine.pid,
                channel=channel,
                data=body,
            )
        )

    def _listener_write(self, proc: Process, data: bytes) -> bool:
        """Queue an envelope on the listener's stdin (never blocking); False = like EPIPE."""
        if not proc.machine.pid or proc.stdin_fd is None:
            return False
        proc.stdin_buffer += data
        try:
            self._flush_stdin(proc)
        except NoFile:
            return False
        return True
