"""The pool dispatcher with fake processes: buffering, serials, overflow, rejection, ticks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from supervisor_grpc.core import eventtypes as et
from supervisor_grpc.core.capture import BEGIN_TOKEN, END_TOKEN, CaptureSplitter
from supervisor_grpc.core.listener_protocol import ListenerState
from supervisor_grpc.core.listeners import EventHub
from supervisor_grpc.model import GroupKind, GroupSpec, LogSpec, ProcessState, ProgramSpec

S = ProcessState


@dataclass(eq=False)
class FakeProc:
    name: str
    group: str
    spec: ProgramSpec
    machine: Any = field(default=None)


def proc(name: str, group: str, **logs: LogSpec) -> Any:
    spec = ProgramSpec(name=name, group=group, program_name=group, command="x", **logs)
    return FakeProc(name, group, spec, type("M", (), {"state": S.RUNNING, "pid": 100})())


class Harness:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.broken: set[str] = set()
        self.wall = 1000.0
        self.hub = EventHub("supervisor", self.write, lambda: self.wall)

    def write(self, p: Any, data: bytes) -> bool:
        if p.name in self.broken:
            return False
        self.sent.append((p.name, data))
        return True

    def pool(self, name: str, events: tuple[str, ...], n: int = 1, size: int = 10) -> list[Any]:
        members = [proc(f"{name}_{i}", name) for i in range(n)]
        group = GroupSpec(
            name,
            -1,
            tuple(m.spec for m in members),
            GroupKind.EVENTLISTENER,
            "",
            events=events,
            buffer_size=size,
        )
        self.hub.add_group(group, members)
        return members

    def ready(self, p: Any) -> None:
        self.hub.output(p, "stdout", b"READY\n")
        self.hub.dispatch()

    def answer(self, p: Any, body: bytes = b"OK") -> None:
        self.hub.output(p, "stdout", b"RESULT %d\n%s" % (len(body), body))

    def headers(self) -> list[dict[str, str]]:
        out = []
        for _, data in self.sent:
            line = data.split(b"\n", 1)[0].decode()
            out.append(dict(kv.split(":", 1) for kv in line.split()))
        return out


def test_events_wait_in_the_buffer_until_a_listener_is_ready_then_go_oldest_first() -> None:
    h = Harness()
    (lis,) = h.pool("p", ("PROCESS_GROUP",))
    h.hub.notify(et.process_group("a", True))
    h.hub.notify(et.remote_communication("x", "y"))  # not subscribed: no serial used
    h.hub.notify(et.process_group("b", True))
    h.hub.dispatch()
    assert h.sent == []
    h.ready(lis)
    h.answer(lis)
    h.ready(lis)
    got = h.headers()
    assert [(d["serial"], d["poolserial"], d["eventname"]) for d in got] == [
        ("0", "0", "PROCESS_GROUP_ADDED"),
        ("1", "1", "PROCESS_GROUP_ADDED"),
    ]
    assert h.sent[0][1].endswith(b"len:12\ngroupname:a\n")


def test_global_serial_is_shared_and_pool_serials_are_per_pool() -> None:
    h = Harness()
    (a,) = h.pool("a", ("EVENT",))
    (b,) = h.pool("b", ("REMOTE_COMMUNICATION",))
    h.hub.notify(et.process_group("g", True))  # only a
    h.hub.notify(et.remote_communication("t", "d"))  # both
    h.ready(a)
    h.answer(a)
    h.ready(a)
    h.ready(b)
    assert [
        (n, d["serial"], d["pool"], d["poolserial"])
        for (n, _), d in zip(h.sent, h.headers(), strict=True)
    ] == [
        ("a_0", "0", "a", "0"),
        ("a_0", "1", "a", "1"),
        ("b_0", "1", "b", "0"),
    ]


def test_overflow_discards_the_oldest_logs_it_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness()
    h.pool("p", ("REMOTE_COMMUNICATION",), size=2)
    for i in range(4):
        h.hub.notify(et.remote_communication("t", str(i)))
    pool = h.hub.pools["p"]
    assert [e.payload for e in pool.buffer] == ["type:t\n2", "type:t\n3"]
    assert pool.discarded == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "pool p event buffer overflowed, discarding event 0",
        "pool p event buffer overflowed, discarding event 1",
    ]


def test_a_rejected_event_is_sent_again_first_with_the_same_serials() -> None:
    h = Harness()
    (lis,) = h.pool("p", ("REMOTE_COMMUNICATION",))
    h.hub.notify(et.remote_communication("t", "1"))
    h.hub.notify(et.remote_communication("t", "2"))
    h.ready(lis)
    h.answer(lis, b"FAIL")
    h.ready(lis)
    h.answer(lis)
    h.ready(lis)
    assert [(d["serial"], d["poolserial"]) for d in h.headers()] == [
        ("0", "0"),
        ("0", "0"),
        ("1", "1"),
    ]


def test_a_listener_that_dies_busy_hands_its_event_back() -> None:
    h = Harness()
    (lis,) = h.pool("p", ("REMOTE_COMMUNICATION",))
    h.hub.notify(et.remote_communication("t", "1"))
    h.ready(lis)
    h.hub.process_changed(lis, S.EXITED)
    assert h.hub.protocols[lis].state is ListenerState.ACKNOWLEDGED
    assert [e.serial for e in h.hub.pools["p"].buffer] == [0]
    h.hub.process_changed(lis, S.STARTING)
    h.ready(lis)
    assert [d["serial"] for d in h.headers()] == ["0", "0"]


def test_busy_and_broken_listeners_are_skipped_for_the_next_ready_one() -> None:
    h = Harness()
    a, b, c = h.pool("p", ("REMOTE_COMMUNICATION",), n=3)
    h.broken.add("p_1")
    for p in (a, b, c):
        h.hub.output(p, "stdout", b"READY\n")
    h.hub.notify(et.remote_communication("t", "1"))
    h.hub.notify(et.remote_communication("t", "2"))
    h.hub.notify(et.remote_communication("t", "3"))
    h.hub.dispatch()
    assert [n for n, _ in h.sent] == ["p_0", "p_2"]
    assert h.hub.protocols[b].state is ListenerState.READY  # EPIPE: state unchanged
    assert len(h.hub.pools["p"].buffer) == 1


def test_a_listener_not_running_gets_nothing() -> None:
    h = Harness()
    (lis,) = h.pool("p", ("REMOTE_COMMUNICATION",))
    h.hub.output(lis, "stdout", b"READY\n")
    lis.machine.state = S.STOPPING
    h.hub.notify(et.remote_communication("t", "1"))
    h.hub.dispatch()
    assert h.sent == []


def test_no_tick_deadline_unless_a_pool_wants_ticks() -> None:
    h = Harness()
    h.pool("p", ("PROCESS_STATE",))
    assert h.hub.next_tick(50.0) is None
    h.pool("t", ("TICK_5",))
    h.wall = 1001.0
    assert h.hub.next_tick(50.0) == pytest.approx(54.0)  # next 5 s boundary: wall 1005
    h.hub.fire_ticks()
    assert not h.hub.pools["t"].buffer  # the first look only notes the current slice
    h.wall = 1005.2
    h.hub.fire_ticks()
    assert [(e.name, e.payload) for e in h.hub.pools["t"].buffer] == [("TICK_5", "when:1005")]
    assert len(h.hub.pools["p"].buffer) == 0
    h.hub.remove_group("t")
    assert h.hub.next_tick(50.0) is None


def test_log_events_and_capture_mode_for_a_program() -> None:
    h = Harness()
    h.pool("l", ("PROCESS_LOG", "PROCESS_COMMUNICATION"))
    p = proc("prog", "prog", stdout=LogSpec(events_enabled=True, capture_maxbytes=100))
    h.hub.add_group(GroupSpec("prog", 1, (p.spec,)), [p])
    assert p in h.hub.watched
    assert h.hub.output(p, "stdout", b"a" + BEGIN_TOKEN[:5]) == b"a"
    assert h.hub.output(p, "stdout", BEGIN_TOKEN[5:] + b"msg" + END_TOKEN + b"b") == b"b"
    assert h.hub.output(p, "stderr", b"err") == b"err"  # stderr: no events configured
    names = [(e.name, e.payload) for e in h.hub.pools["l"].buffer]
    assert names == [
        ("PROCESS_LOG_STDOUT", "processname:prog groupname:prog pid:100 channel:stdout\na"),
        ("PROCESS_COMMUNICATION_STDOUT", "processname:prog groupname:prog pid:100\nmsg"),
        ("PROCESS_LOG_STDOUT", "processname:prog groupname:prog pid:100 channel:stdout\nb"),
    ]
    h.hub.forget_process(p)
    assert p not in h.hub.watched


def test_capture_splitter_holds_only_a_possible_token_and_flushes_it_at_eof() -> None:
    c = CaptureSplitter(1000)
    assert c.feed(b"x<!--XSUP") == (b"x", [])
    assert c.flush() == b"<!--XSUP"
    c = CaptureSplitter(1000)
    stream = b"a" + BEGIN_TOKEN + b"one" + END_TOKEN + b"b" + BEGIN_TOKEN + b"two" + END_TOKEN
    for size in (1, 2, 7, len(stream)):
        c = CaptureSplitter(1000)
        logs, bodies = b"", []
        for i in range(0, len(stream), size):
            text, got = c.feed(stream[i : i + size])
            logs += text
            bodies += got
        assert (logs, bodies) == (b"ab", [b"one", b"two"])


def test_capture_is_bounded_by_capture_maxbytes_as_supervisors_boundio() -> None:
    c = CaptureSplitter(4)
    c.feed(BEGIN_TOKEN)
    c.feed(b"abc")
    c.feed(b"de")  # 3 + 2 > 4: drop 2 from the front, then append
    assert c.feed(END_TOKEN) == (b"", [b"cde"])
