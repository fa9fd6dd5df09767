"""The listener side of supervisor's event protocol, byte by byte and without I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor_grpc.core.listener_protocol import (
    BecameReady,
    ListenerProtocol,
    ListenerState,
    Processed,
    Rejected,
    Violated,
)
from tests.support.fakes import UNKNOWN_MSG, busy

L = ListenerState


def test_starts_acknowledged_and_waits_for_a_whole_ready_token() -> None:
    p = ListenerProtocol("l")
    assert p.state is L.ACKNOWLEDGED
    assert p.feed(b"REA") == []
    assert p.state is L.ACKNOWLEDGED
    assert p.feed(b"DY\n") == [BecameReady()]
    assert p.state is L.READY


@pytest.mark.parametrize("junk", [b"HELLO!", b"ready\n", b"READY \n", b"READX\n"])
def test_anything_but_ready_when_acknowledged_is_a_violation(junk: bytes) -> None:
    p = ListenerProtocol("l")
    assert p.feed(junk) == [Violated(UNKNOWN_MSG)]
    assert p.state is L.UNKNOWN
    assert p.feed(b"READY\n") == []  # UNKNOWN is final for this process
    assert p.state is L.UNKNOWN


def test_output_while_ready_is_a_violation() -> None:
    p = ListenerProtocol("l")
    p.feed(b"READY\n")
    assert p.feed(b"x") == [Violated(UNKNOWN_MSG)]
    assert p.state is L.UNKNOWN


def test_ok_result_acknowledges_and_a_following_ready_in_the_same_chunk_counts() -> None:
    p = busy("e1")
    assert p.state is L.BUSY and p.event == "e1"
    assert p.feed(b"RESULT 2\nOKREADY\n") == [Processed("e1"), BecameReady()]
    assert p.state is L.READY and p.event is None


@pytest.mark.parametrize("body", [b"FAIL", b"ok", b"OK ", b""])
def test_any_other_result_rejects(body: bytes) -> None:
    p = busy("e1")
    assert p.feed(b"RESULT %d\n%s" % (len(body), body)) == [Rejected("e1", "l: event was rejected")]
    assert p.state is L.ACKNOWLEDGED and p.event is None


def test_result_waits_for_all_its_bytes() -> None:
    p = busy()
    assert p.feed(b"RESULT 2\n") == []
    assert p.feed(b"O") == []
    assert p.state is L.BUSY
    assert p.feed(b"K") == [Processed("ev")]


@pytest.mark.parametrize("line", [b"RESULT x", b"RESULT -1", b"RESULTS"])
def test_bad_result_line_rejects_the_event_and_goes_unknown(line: bytes) -> None:
    p = busy("e1")
    shown = line.decode()
    assert p.feed(line + b"\nOK") == [
        Rejected("e1", f"l: bad result line: '{shown}'"),
        Violated(UNKNOWN_MSG),
    ]
    assert p.state is L.UNKNOWN and p.event is None


def test_undecodable_result_line_is_shown_as_supervisor_does() -> None:
    p = busy("e1")
    out = p.feed(b"\xff\n")
    assert out[0] == Rejected("e1", "l: bad result line: 'Undecodable: b'\\xff''")


def test_reset_hands_back_the_event_in_flight() -> None:
    p = busy("e1")
    p.feed(b"RESULT 2\nO")
    assert p.reset() == "e1"
    assert p.state is L.ACKNOWLEDGED
    assert p.feed(b"READY\n") == [BecameReady()]  # nothing left over from the old process
    assert p.reset() is None


def test_sending_to_a_listener_that_is_not_ready_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        ListenerProtocol("l").sent("e")


# What a listener says between two events: it cannot answer an event before it got it, so
# chunks may split an utterance anywhere but never join two.
UTTERANCES = [b"READY\n", b"RESULT 2\nOKREADY\n", b"RESULT 4\nFAILREADY\n"]


def run(cuts: list[list[int]]) -> tuple[list[object], ListenerState]:
    p = ListenerProtocol("l")
    events = iter(["e1", "e2"])
    out: list[object] = []
    for text, points in zip(UTTERANCES, cuts, strict=True):
        bounds = sorted({min(c, len(text)) for c in points})
        for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True):
            out.extend(p.feed(text[a:b]))
        if p.state is L.READY and (e := next(events, None)):
            p.sent(e)
    return out, p.state


EXPECTED = (
    [
        BecameReady(),
        Processed("e1"),
        BecameReady(),
        Rejected("e2", "l: event was rejected"),
        BecameReady(),
    ],
    L.READY,
)


def test_whole_and_byte_by_byte_agree() -> None:
    assert run([[], [], []]) == EXPECTED
    assert run([list(range(len(u))) for u in UTTERANCES]) == EXPECTED


@given(st.lists(st.lists(st.integers(0, 20), max_size=6), min_size=3, max_size=3))
def test_any_chunking_gives_the_same_outcomes(cuts: list[list[int]]) -> None:
    assert run(cuts) == EXPECTED


def test_result_written_before_any_event_was_sent_is_a_violation() -> None:
    p = ListenerProtocol("l")
    assert p.feed(b"READY\nRESULT 2\nOK") == [BecameReady(), Violated(UNKNOWN_MSG)]


def test_a_result_line_without_end_is_cut_off_as_a_bad_result_line() -> None:
    p = busy("e1")
    assert p.feed(b"x" * 4096) == []
    out = p.feed(b"x")
    assert out == [Rejected("e1", f"l: bad result line: '{'x' * 80}...'"), Violated(UNKNOWN_MSG)]
    assert p.feed(b"y" * 100_000) == []  # UNKNOWN: nothing more is kept


def test_a_result_length_beyond_the_bound_is_a_bad_result_line() -> None:
    p = busy("e1")
    out = p.feed(b"RESULT 99999999999\n")
    assert out[0] == Rejected("e1", "l: bad result line: 'RESULT 99999999999'")
    assert p.state is L.UNKNOWN
