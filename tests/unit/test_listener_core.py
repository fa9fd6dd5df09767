"""Listener pools inside the real core, with the fake runtime: no processes, no sleeps."""

from __future__ import annotations

from supervisor_grpc.model import ExitStatus, ProcessState
from tests.support.fakes import envelopes, fds, listener, make, say, single, state

S = ProcessState


def test_no_deadline_for_a_listener_that_does_not_want_ticks() -> None:
    core, rt = make(listener("rec", ("PROCESS_STATE",)), single("a", startsecs=0))
    core.autostart()
    assert state(core, "rec") is S.RUNNING
    assert core.service(rt.now) is None  # idle: the loop may sleep forever


def test_a_tick_listener_gets_a_deadline_within_its_period() -> None:
    core, rt = make(listener("rec", ("TICK_5",)))
    core.autostart()
    deadline = core.service(rt.now)
    assert deadline is not None and rt.now <= deadline <= rt.now + 5


def test_events_flow_to_a_ready_listener_and_survive_its_crash() -> None:
    core, rt = make(listener("rec", ("PROCESS_STATE", "PROCESS_GROUP")), single("a", startsecs=0))
    core.autostart()
    stdin, _ = fds(rt, core, "rec")
    assert envelopes(rt, stdin) == []  # nothing before READY
    say(rt, core, "rec", b"READY\n")
    assert envelopes(rt, stdin) == ["PROCESS_GROUP_ADDED"]
    say(rt, core, "rec", b"RESULT 2\nOK")
    say(rt, core, "rec", b"READY\n")
    assert envelopes(rt, stdin) == ["PROCESS_GROUP_ADDED", "PROCESS_GROUP_ADDED"]
    in_flight = rt.written[stdin].decode().splitlines()[-2]
    # The listener dies before answering: its event goes back to the head of the pool.
    rt.exits.append((core.find("rec").machine.pid, ExitStatus(code=1)))
    core.service(rt.now)
    assert state(core, "rec") in (S.STARTING, S.RUNNING)  # autorestart=unexpected
    stdin2, _ = fds(rt, core, "rec")
    assert stdin2 != stdin
    say(rt, core, "rec", b"READY\n")
    assert rt.written[stdin2].decode().splitlines()[0] == in_flight


def test_remote_comm_event_reaches_only_subscribers() -> None:
    core, rt = make(listener("rc", ("REMOTE_COMMUNICATION",)), listener("ps", ("PROCESS_STATE",)))
    core.autostart()
    say(rt, core, "rc", b"READY\n")
    say(rt, core, "ps", b"READY\n")
    core.send_remote_comm_event("t", "body")
    core.service(rt.now)
    rc_in, _ = fds(rt, core, "rc")
    assert envelopes(rt, rc_in) == ["REMOTE_COMMUNICATION"]
    assert rt.written[rc_in].endswith(b"len:11\ntype:t\nbody")
    ps_in, _ = fds(rt, core, "ps")
    assert "REMOTE_COMMUNICATION" not in envelopes(rt, ps_in)


def test_removing_a_listener_group_drops_its_pool_and_tells_the_others() -> None:
    core, rt = make(listener("rec", ("PROCESS_GROUP",)), listener("gone", ("EVENT",)))
    core.autostart()
    core.stop_process(core.find("gone"))
    rt.exits.append((core.find("gone").machine.pid, ExitStatus(signal=15)))
    core.service(rt.now)
    core.remove_group("gone")
    assert "gone" not in core.event_hub.pools
    say(rt, core, "rec", b"READY\n")
    for _ in range(2):
        say(rt, core, "rec", b"RESULT 2\nOK")
        say(rt, core, "rec", b"READY\n")
    stdin, _ = fds(rt, core, "rec")
    assert envelopes(rt, stdin) == [
        "PROCESS_GROUP_ADDED",
        "PROCESS_GROUP_ADDED",
        "PROCESS_GROUP_REMOVED",
    ]
