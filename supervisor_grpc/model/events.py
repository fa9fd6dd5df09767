"""The event journal's entries: what happened to a process, a group or the daemon.

A closed vocabulary: one frozen value type per kind of happening, each with only the fields
that kind has, and ``Event`` their union. Consumers ``match`` on the type (with
``assert_never`` in the default case, so mypy names a kind a mapping left out) instead of
comparing kind strings: the kind is spelled by the class, once. The two mappings out of it
live at the edges that own the other spellings: ``frontends.grpc.convert.event`` (the proto)
and ``core.eventtypes.of_event`` (supervisor's event names and listener payloads).

Owns: the journal's value types and their union.
May import: stdlib (dataclasses, typing), model.states.
Threading: immutable values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn, TypeAlias

from .states import Channel, DaemonState, Health, ProcessState, make_namespec


class _OfProcess:
    """A happening of one process: its namespec is derived from the fields, never stored."""

    __slots__ = ()
    name: str
    group: str

    @property
    def namespec(self) -> str:
        return make_namespec(self.group, self.name)


@dataclass(frozen=True, slots=True)
class ProcessStateChanged(_OfProcess):
    """One transition of a process's machine, with the extras supervisor's listeners get."""

    time_mono: float
    name: str
    group: str
    from_state: ProcessState
    to_state: ProcessState
    pid: int = 0
    expected: bool = True  # EXITED: whether the exit status was expected
    reason: str = ""  # BACKOFF/FATAL: why the start failed
    tries: int = 0  # STARTING/BACKOFF: supervisor's failed-start count


@dataclass(frozen=True, slots=True)
class DaemonStateChanged:
    """The daemon's mood changed (RUNNING once the groups exist; SHUTDOWN and why)."""

    time_mono: float
    state: DaemonState
    reason: str = ""


@dataclass(frozen=True, slots=True)
class GroupAdded:
    time_mono: float
    group: str


@dataclass(frozen=True, slots=True)
class GroupRemoved:
    time_mono: float
    group: str


@dataclass(frozen=True, slots=True)
class HealthChanged(_OfProcess):
    """A program's health changed; ``output`` is what the deciding check said, as kept by the
    health owner (the same text ``ProcessInfo.health_output`` shows)."""

    time_mono: float
    name: str
    group: str
    status: Health
    output: str = ""


@dataclass(frozen=True, slots=True)
class ProcessCommunication(_OfProcess):
    """A capture-mode message: the bytes a program wrote between the two tokens."""

    time_mono: float
    name: str
    group: str
    pid: int
    channel: Channel
    data: bytes


@dataclass(frozen=True, slots=True)
class RemoteCommunication:
    """A ``sendRemoteCommEvent`` call: its type and data, as the caller gave them."""

    time_mono: float
    comm_type: str
    data: str


Event: TypeAlias = (
    ProcessStateChanged
    | DaemonStateChanged
    | GroupAdded
    | GroupRemoved
    | HealthChanged
    | ProcessCommunication
    | RemoteCommunication
)


def assert_never(value: NoReturn) -> NoReturn:
    """The default case of a ``match`` over ``Event``: mypy flags a kind the match left out
    (``typing.assert_never`` exists only from Python 3.11; this is the same contract)."""
    raise AssertionError(f"unhandled event: {value!r}")

