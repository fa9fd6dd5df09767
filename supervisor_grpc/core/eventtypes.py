"""supervisor's event vocabulary: the type tree, the payload texts and the envelope.

Owns: which event names exist and which abstract type each belongs to (a pool subscribed to
``PROCESS_STATE`` gets every ``PROCESS_STATE_*``; ``EVENT`` gets everything), the exact
texts supervisor 4.3.0 writes, so listeners written against supervisord (childutils,
superlance) parse ours unchanged, and ``of_event``: the one mapping of a journal record
(``model.Event``) to supervisor's name and payload (the listener pools and the front-ends'
``supervisor_event`` both read it).
May import: model, stdlib.
Threading: pure functions and frozen values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..model import (
    DaemonState,
    DaemonStateChanged,
    Event,
    GroupAdded,
    GroupRemoved,
    HealthChanged,
    ProcessCommunication,
    ProcessState,
    ProcessStateChanged,
    RemoteCommunication,
    assert_never,
)

# Each concrete or abstract name -> its parent; "EVENT" is the root.
PARENT: dict[str, str] = {
    "PROCESS_STATE": "EVENT",
    **{f"PROCESS_STATE_{s.name}": "PROCESS_STATE" for s in ProcessState},
    "PROCESS_COMMUNICATION": "EVENT",
    "PROCESS_COMMUNICATION_STDOUT": "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDERR": "PROCESS_COMMUNICATION",
    "PROCESS_LOG": "EVENT",
    "PROCESS_LOG_STDOUT": "PROCESS_LOG",
    "PROCESS_LOG_STDERR": "PROCESS_LOG",
    "REMOTE_COMMUNICATION": "EVENT",
    "SUPERVISOR_STATE_CHANGE": "EVENT",
    "SUPERVISOR_STATE_CHANGE_RUNNING": "SUPERVISOR_STATE_CHANGE",
    "SUPERVISOR_STATE_CHANGE_STOPPING": "SUPERVISOR_STATE_CHANGE",
    "TICK": "EVENT",
    "TICK_5": "TICK",
    "TICK_60": "TICK",
    "TICK_3600": "TICK",
    "PROCESS_GROUP": "EVENT",
    "PROCESS_GROUP_ADDED": "PROCESS_GROUP",
    "PROCESS_GROUP_REMOVED": "PROCESS_GROUP",
}
ALL_NAMES = frozenset({"EVENT", *PARENT})
TICK_PERIODS = {"TICK_5": 5, "TICK_60": 60, "TICK_3600": 3600}


def lineage(name: str) -> tuple[str, ...]:
    """``name`` and every abstract type above it, nearest first."""
    out = [name]
    while out[-1] in PARENT:
        out.append(PARENT[out[-1]])
    return tuple(out)


def subscribes(subscribed: Iterable[str], name: str) -> bool:
    """supervisor's ``isinstance(event, type)`` test over names."""
    wanted = set(subscribed)
    return any(n in wanted for n in lineage(name))


def wants_ticks(subscribed: Iterable[str]) -> tuple[int, ...]:
    """The tick periods a subscription receives (none unless it names a tick or EVENT)."""
    return tuple(p for n, p in TICK_PERIODS.items() if subscribes(subscribed, n))


@dataclass(eq=False)
class PendingEvent:
    """One notified event on its way to pools: its serials are given as pools accept it.

    ``serial`` is supervisor's global serial (set by the first pool that accepts it);
    ``pool_serials`` the per-pool numbers, kept when a rejected event is buffered again.
    """

    name: str
    payload: str
    serial: int | None = None
    pool_serials: dict[str, int] = field(default_factory=dict)


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"Undecodable: {data!r}"


def process_state(
    name: str,
    group: str,
    from_state: ProcessState,
    to_state: ProcessState,
    *,
    expected: bool,
    pid: int,
    tries: int,
) -> PendingEvent:
    """``processname:x groupname:g from_state:S`` + the per-state extras of events.py."""
    payload = f"processname:{name} groupname:{group} from_state:{from_state.name}"
    if to_state is ProcessState.STARTING or to_state is ProcessState.BACKOFF:
        payload += f" tries:{tries}"
    elif to_state is ProcessState.EXITED:
        payload += f" expected:{int(expected)} pid:{pid}"
    elif to_state in _PID_STATES:
        payload += f" pid:{pid}"
    return PendingEvent(f"PROCESS_STATE_{to_state.name}", payload)


_PID_STATES = frozenset({ProcessState.RUNNING, ProcessState.STOPPING, ProcessState.STOPPED})


def process_log(name: str, group: str, pid: int, channel: str, data: bytes) -> PendingEvent:
    payload = f"processname:{name} groupname:{group} pid:{pid} channel:{channel}\n{_text(data)}"
    return PendingEvent(f"PROCESS_LOG_{channel.upper()}", payload)


def process_communication(
    name: str, group: str, pid: int, channel: str, data: bytes
) -> PendingEvent:
    payload = f"processname:{name} groupname:{group} pid:{pid}\n{_text(data)}"
    return PendingEvent(f"PROCESS_COMMUNICATION_{channel.upper()}", payload)


def remote_communication(type_: str, data: str) -> PendingEvent:
    return PendingEvent("REMOTE_COMMUNICATION", f"type:{type_}\n{data}")


def supervisor_state(running: bool) -> PendingEvent:
    suffix = "RUNNING" if running else "STOPPING"
    return PendingEvent(f"SUPERVISOR_STATE_CHANGE_{suffix}", "")


def process_group(name: str, added: bool) -> PendingEvent:
    return PendingEvent(
        "PROCESS_GROUP_ADDED" if added else "PROCESS_GROUP_REMOVED", f"groupname:{name}\n"
    )


def of_event(ev: Event) -> PendingEvent | None:
    """The supervisor event a journal record is (None: supervisor has no type for it, e.g.
    health, or a daemon state it never announces)."""
    match ev:
        case ProcessStateChanged():
            return process_state(
                ev.name,
                ev.group,
                ev.from_state,
                ev.to_state,
                expected=ev.expected,
                pid=ev.pid,
                tries=ev.tries,
            )
        case DaemonStateChanged():
            if ev.state is DaemonState.RUNNING:
                return supervisor_state(running=True)
            if ev.state is DaemonState.SHUTDOWN:
                return supervisor_state(running=False)
            return None
        case GroupAdded():
            return process_group(ev.group, added=True)
        case GroupRemoved():
            return process_group(ev.group, added=False)
        case HealthChanged():
            return None
        case ProcessCommunication():
            return process_communication(ev.name, ev.group, ev.pid, ev.channel.value, ev.data)
        case RemoteCommunication():
            return remote_communication(ev.comm_type, ev.data)
        case _:
            assert_never(ev)


def tick(period: int, when: int) -> PendingEvent:
    return PendingEvent(f"TICK_{period}", f"when:{when}")


def timeslice(period: int, when: float) -> int:
    """supervisor's ``timeslice``: the start of the period ``when`` falls in."""
    return int(when - (when % period))


def envelope(identifier: str, event: PendingEvent, pool: str) -> bytes:
    """The header line + payload one listener reads.

    ``len`` counts characters, as supervisor's ``len(payload)`` on a str does (childutils reads
    that many from a text-mode stdin); the bytes written are the UTF-8 encoding.
    """
    header = (
        f"ver:3.0 server:{identifier} serial:{event.serial} pool:{pool} "
        f"poolserial:{event.pool_serials[pool]} eventname:{event.name} "
        f"len:{len(event.payload)}\n"
    )
    return (header + event.payload).encode("utf-8", "surrogateescape")
