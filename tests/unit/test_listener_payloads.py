"""Our event texts against supervisor 4.3.0's own event classes (the oracle, imported here)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from supervisor import events as sup_events
from supervisor.process import EventListenerPool
from supervisor.states import ProcessStates

from supervisor_grpc.config.datatypes import EVENT_TYPES
from supervisor_grpc.core import eventtypes as et
from supervisor_grpc.model import ProcessState

S = ProcessState


def sup_process(name: str, group: str, pid: int, backoff: int) -> SimpleNamespace:
    return SimpleNamespace(
        config=SimpleNamespace(name=name),
        group=SimpleNamespace(config=SimpleNamespace(name=group)),
        pid=pid,
        backoff=backoff,
    )


STATE_CLASSES = {
    S.STOPPED: sup_events.ProcessStateStoppedEvent,
    S.STARTING: sup_events.ProcessStateStartingEvent,
    S.RUNNING: sup_events.ProcessStateRunningEvent,
    S.BACKOFF: sup_events.ProcessStateBackoffEvent,
    S.STOPPING: sup_events.ProcessStateStoppingEvent,
    S.EXITED: sup_events.ProcessStateExitedEvent,
    S.FATAL: sup_events.ProcessStateFatalEvent,
    S.UNKNOWN: sup_events.ProcessStateUnknownEvent,
}


@pytest.mark.parametrize("to_state", list(S))
@pytest.mark.parametrize("expected", [True, False])
def test_process_state_payloads_match_supervisor(to_state: ProcessState, expected: bool) -> None:
    from_state = S.RUNNING if to_state is not S.RUNNING else S.STARTING
    theirs = STATE_CLASSES[to_state](
        sup_process("web_01", "web", 4242, 2), getattr(ProcessStates, from_state.name), expected
    )
    ours = et.process_state(
        "web_01", "web", from_state, to_state, expected=expected, pid=4242, tries=2
    )
    assert ours.payload == theirs.payload()
    assert ours.name == sup_events.getEventNameByType(type(theirs))


@pytest.mark.parametrize("data", [b"hello\n", b"caf\xc3\xa9", b"\xff\xfe bad"])
@pytest.mark.parametrize("channel", ["stdout", "stderr"])
def test_log_and_communication_payloads_match_supervisor(data: bytes, channel: str) -> None:
    proc = sup_process("p", "g", 7, 0)
    log_cls = {
        "stdout": sup_events.ProcessLogStdoutEvent,
        "stderr": sup_events.ProcessLogStderrEvent,
    }
    comm_cls = {
        "stdout": sup_events.ProcessCommunicationStdoutEvent,
        "stderr": sup_events.ProcessCommunicationStderrEvent,
    }
    ours = et.process_log("p", "g", 7, channel, data)
    assert ours.payload == log_cls[channel](proc, 7, data).payload()
    assert ours.name == sup_events.getEventNameByType(log_cls[channel])
    ours = et.process_communication("p", "g", 7, channel, data)
    assert ours.payload == comm_cls[channel](proc, 7, data).payload()
    assert ours.name == sup_events.getEventNameByType(comm_cls[channel])


def test_other_payloads_match_supervisor() -> None:
    assert (
        et.remote_communication("t", "d\nx").payload
        == sup_events.RemoteCommunicationEvent("t", "d\nx").payload()
    )
    assert et.process_group("g", True).payload == sup_events.ProcessGroupAddedEvent("g").payload()
    assert et.process_group("g", False).name == "PROCESS_GROUP_REMOVED"
    assert et.supervisor_state(True).payload == sup_events.SupervisorRunningEvent().payload()
    assert et.supervisor_state(False).name == "SUPERVISOR_STATE_CHANGE_STOPPING"
    assert et.tick(60, 1800).payload == sup_events.Tick60Event(1800, None).payload()


def test_envelope_matches_supervisor_byte_for_byte() -> None:
    event = et.PendingEvent("PROCESS_LOG_STDOUT", "processname:p groupname:g pid:1\ncafé")
    event.serial, event.pool_serials = 41, {"pool": 3}
    fake_pool = SimpleNamespace(
        config=SimpleNamespace(name="pool", options=SimpleNamespace(identifier="id"))
    )
    theirs = EventListenerPool._eventEnvelope(
        fake_pool, sup_events.ProcessLogStdoutEvent, 41, 3, event.payload
    )
    assert et.envelope("id", event, "pool") == theirs.encode("utf-8")


def test_every_supervisor_event_name_is_known_with_its_parents() -> None:
    names = {n for n in vars(sup_events.EventTypes) if n.isupper()}
    assert et.ALL_NAMES == names == EVENT_TYPES
    for name in names:
        cls = getattr(sup_events.EventTypes, name)
        for parent in et.lineage(name)[1:]:
            assert issubclass(cls, getattr(sup_events.EventTypes, parent)), (name, parent)


def test_subscription_follows_the_type_tree() -> None:
    assert et.subscribes({"EVENT"}, "TICK_5")
    assert et.subscribes({"PROCESS_STATE"}, "PROCESS_STATE_FATAL")
    assert not et.subscribes({"PROCESS_STATE_EXITED"}, "PROCESS_STATE_FATAL")
    assert not et.subscribes({"PROCESS_LOG"}, "PROCESS_COMMUNICATION_STDOUT")
    assert et.wants_ticks({"PROCESS_STATE"}) == ()
    assert et.wants_ticks({"TICK_60"}) == (60,)
    assert et.wants_ticks({"EVENT"}) == (5, 60, 3600)
    assert et.timeslice(60, 1799.5) == 1740
