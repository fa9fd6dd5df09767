"""The journal's closed event vocabulary and its two mappings (issue 13), pure: no I/O.

Every member of ``model.Event`` (enumerated with ``typing.get_args``, so a new kind without a
sample here fails) maps to a proto ``WatchEventsResponse`` and to supervisor's event name
and payload; the proto mapping loses no field (round trip through ``convert.event_of``); the
WatchEvents filter and the client's kind names come from the proto's own names.
"""

from __future__ import annotations

import dataclasses
import typing
from types import SimpleNamespace
from typing import Any

import pytest
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc_client.types import EVENT_KINDS
from supgrpc_client.types import Event as ClientEvent

from supervisor_grpc.core import eventtypes as et
from supervisor_grpc.core.event_bridge import EventBridge
from supervisor_grpc.frontends.grpc import convert
from supervisor_grpc.frontends.grpc.streams import EventFilter, event_kind
from supervisor_grpc.model import (
    Channel,
    DaemonState,
    DaemonStateChanged,
    Event,
    GroupAdded,
    GroupRemoved,
    Health,
    HealthChanged,
    ProcessCommunication,
    ProcessState,
    ProcessStateChanged,
    RemoteCommunication,
)

S = ProcessState
# Fixed clocks: monotonic 1000 s is wall 1.7e9 s.
CLOCKS = SimpleNamespace(clock=lambda: 1000.0, wall=lambda: 1_700_000_000.0)


def back(msg: pb.WatchEventsResponse, ev: Event) -> Event | None:
    """The record ``msg`` describes, its time checked to the microsecond (a float wall time
    near 1.7e9 s has a resolution of 0.24 us) and then taken as ``ev``'s, so ``==`` compares
    every other field exactly."""
    out = convert.event_of(CLOCKS, msg)
    if out is None:
        return None
    assert out.time_mono == pytest.approx(ev.time_mono, abs=1e-6)
    return dataclasses.replace(out, time_mono=ev.time_mono)


# One representative of each kind, with every field away from its default, and the
# supervisor event name it is ("" for none).
SAMPLES: dict[type, tuple[Event, str]] = {
    ProcessStateChanged: (
        ProcessStateChanged(
            990.5, "web", "svc", S.STARTING, S.BACKOFF, 42, False, "spawn failed", 3
        ),
        "PROCESS_STATE_BACKOFF",
    ),
    DaemonStateChanged: (
        DaemonStateChanged(991.25, DaemonState.SHUTDOWN, "received SIGTERM"),
        "SUPERVISOR_STATE_CHANGE_STOPPING",
    ),
    GroupAdded: (GroupAdded(992.0, "svc"), "PROCESS_GROUP_ADDED"),
    GroupRemoved: (GroupRemoved(993.0, "svc"), "PROCESS_GROUP_REMOVED"),
    HealthChanged: (
        HealthChanged(994.0, "web", "svc", Health.UNHEALTHY, "HTTP 500: oops: again "),
        "",
    ),
    ProcessCommunication: (
        ProcessCommunication(995.0, "web", "web", 7, Channel.STDERR, b"caf\xc3\xa9\n\xff"),
        "PROCESS_COMMUNICATION_STDERR",
    ),
    RemoteCommunication: (
        RemoteCommunication(996.0, "mytype", "line1\nline2"),
        "REMOTE_COMMUNICATION",
    ),
}
KINDS = typing.get_args(Event)


def test_every_kind_of_the_union_has_a_sample() -> None:
    assert set(KINDS) == set(SAMPLES)
    for kind in KINDS:  # frozen and slotted: a value, not a bag of optional fields
        params = kind.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen and hasattr(kind, "__slots__")
        assert not hasattr(kind, "kind")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_each_kind_maps_to_supervisor_name_and_payload(kind: type) -> None:
    ev, name = SAMPLES[kind]
    pending = et.of_event(ev)
    if not name:
        assert pending is None
        return
    assert pending is not None
    assert pending.name == name and pending.name in et.ALL_NAMES


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_each_kind_maps_to_pb_and_back_keeping_every_field(kind: type) -> None:
    ev, name = SAMPLES[kind]
    msg = convert.event(CLOCKS, 17, ev)
    assert msg.sequence == 17
    assert msg.supervisor_event == name
    assert event_kind(msg) != pb.EVENT_KIND_UNSPECIFIED
    assert back(msg, ev) == ev
    # And through the wire bytes, as a client gets them.
    assert back(pb.WatchEventsResponse.FromString(msg.SerializeToString()), ev) == ev


@pytest.mark.parametrize("to_state", list(S))
def test_every_process_state_round_trips_with_its_listener_name(to_state: ProcessState) -> None:
    ev = ProcessStateChanged(990.0, "a", "g", S.STOPPED, to_state, pid=5, tries=1)
    msg = convert.event(CLOCKS, 1, ev)
    assert back(msg, ev) == ev
    assert msg.supervisor_event == f"PROCESS_STATE_{to_state.name}"
    assert msg.process_state.namespec == "g:a"


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (DaemonState.RUNNING, "SUPERVISOR_STATE_CHANGE_RUNNING"),
        (DaemonState.SHUTDOWN, "SUPERVISOR_STATE_CHANGE_STOPPING"),
        (DaemonState.RESTARTING, ""),
        (DaemonState.FATAL, ""),
    ],
)
def test_daemon_states_supervisor_never_announces_have_no_name(
    state: DaemonState, name: str
) -> None:
    ev = DaemonStateChanged(990.0, state)
    assert convert.event(CLOCKS, 1, ev).supervisor_event == name
    assert back(convert.event(CLOCKS, 1, ev), ev) == ev


def test_health_output_is_carried_as_it_is_never_flattened() -> None:
    ev, _ = SAMPLES[HealthChanged]
    msg = convert.event(CLOCKS, 1, ev).program_health
    assert msg.health == pb.PROGRAM_HEALTH_UNHEALTHY
    assert msg.output == "HTTP 500: oops: again "
    assert msg.namespec == "svc:web"


def test_payloads_are_the_texts_supervisor_writes() -> None:
    comm = et.of_event(SAMPLES[ProcessCommunication][0])
    assert comm is not None
    assert (
        comm.payload == "processname:web groupname:web pid:7\nUndecodable: b'caf\\xc3\\xa9\\n\\xff'"
    )
    remote = et.of_event(SAMPLES[RemoteCommunication][0])
    assert remote is not None and remote.payload == "type:mytype\nline1\nline2"
    backoff = et.of_event(SAMPLES[ProcessStateChanged][0])
    assert backoff is not None
    assert backoff.payload == "processname:web groupname:svc from_state:STARTING tries:3"


def test_the_bridge_tells_the_pools_each_record_through_the_one_mapping() -> None:
    bridge = EventBridge("supervisor", strip=False, clock=lambda: 0.0, write=lambda *a: None)
    told: list[tuple[str, str]] = []
    bridge.hub.notify = lambda e: told.append((e.name, e.payload))  # type: ignore[method-assign]
    bridge.hub.remove_group = lambda name: told.append(("removed", name))  # type: ignore[method-assign]
    expected: list[tuple[str, str]] = []
    for kind in KINDS:
        ev = SAMPLES[kind][0]
        bridge.journal.append(ev)
        if kind is GroupRemoved:  # the pool membership goes before the event is told
            expected.append(("removed", "svc"))
        pending = et.of_event(ev)
        if pending is not None:
            expected.append((pending.name, pending.payload))
    assert told == expected
    assert len(bridge.journal.read(0, 100)[0]) == len(KINDS)


def _msg(ev: Event) -> pb.WatchEventsResponse:
    return convert.event(CLOCKS, 1, ev)


def test_filter_by_kind_and_by_process_pattern() -> None:
    every = [_msg(SAMPLES[k][0]) for k in KINDS]
    assert all(EventFilter([], [])(m) for m in every)
    only_groups = EventFilter([pb.EVENT_KIND_GROUP_ADDED, pb.EVENT_KIND_GROUP_REMOVED], [])
    assert [m.WhichOneof("event") for m in every if only_groups(m)] == [
        "group_added",
        "group_removed",
    ]
    web = EventFilter([], ["svc:web"])
    # The daemon's records concern everyone; a group record matches on its group only; a
    # remote communication names no process.
    assert [m.WhichOneof("event") for m in every if web(m)] == [
        "process_state",
        "daemon_state",
        "program_health",
    ]
    svc = EventFilter([], ["svc"])
    assert [m.WhichOneof("event") for m in every if svc(m)] == [
        "process_state",
        "daemon_state",
        "group_added",
        "group_removed",
        "program_health",
    ]
    star = EventFilter([], ["*"])
    assert all(star(m) for m in every)
    assert not EventFilter([], [])(convert.missed(3))  # not a record kind: never filtered in


def test_every_event_kind_names_a_oneof_field_and_the_client_spells_them_so() -> None:
    fields = {f.name for f in pb.WatchEventsResponse.DESCRIPTOR.oneofs_by_name["event"].fields}
    kinds = {n for n in pb.EventKind.keys() if n != "EVENT_KIND_UNSPECIFIED"}  # noqa: SIM118
    assert {f"EVENT_KIND_{f.upper()}" for f in fields - {"missed"}} == kinds
    assert set(EVENT_KINDS) == fields - {"missed"}
    for kind in KINDS:
        msg = _msg(SAMPLES[kind][0])
        client: Any = ClientEvent.from_pb(msg)
        assert EVENT_KINDS[client.kind] == event_kind(msg)
