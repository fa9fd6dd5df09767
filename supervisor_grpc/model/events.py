"""The event journal's entries: what happened to a process, a group or the daemon.

Owns: the journal's value type.
May import: stdlib, model.states.
Threading: immutable values.
"""

from __future__ import annotations

from dataclasses import dataclass

from .states import DaemonState, ProcessState, make_namespec


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the event journal: a process transition or a daemon event.

    ``kind`` is ``"process_state"`` (with from/to states), ``"daemon_state"``,
    ``"group_added"``, ``"group_removed"``, ``"health"`` (``reason`` = the new health),
    ``"process_communication"`` (``channel`` and ``data``: a capture-mode message) or
    ``"remote_communication"`` (``comm_type`` and ``data``: a sendRemoteCommEvent).
    """

    kind: str
    time_mono: float
    name: str = ""
    group: str = ""
    from_state: ProcessState | None = None
    to_state: ProcessState | None = None
    daemon_state: DaemonState | None = None
    pid: int = 0
    expected: bool = True
    reason: str = ""
    tries: int = 0  # process_state STARTING/BACKOFF: supervisor's failed-start count
    channel: str = ""
    comm_type: str = ""
    data: bytes = b""

    @property
    def namespec(self) -> str:
        """The process's namespec ("" names nothing: daemon and group events)."""
        return make_namespec(self.group, self.name)
