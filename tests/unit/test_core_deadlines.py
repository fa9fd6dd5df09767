"""The core's one timer heap: stale entries are dropped lazily, due ones fire in time order."""

from __future__ import annotations

from supervisor_grpc.core.deadlines import Deadlines


def test_due_entries_fire_in_time_order_and_later_ones_wait() -> None:
    d = Deadlines()
    fired: list[tuple[str, float, float]] = []
    d.at(2.0, lambda _w: True, lambda w, now: fired.append(("b", w, now)))
    d.at(1.0, lambda _w: True, lambda w, now: fired.append(("a", w, now)))
    d.at(5.0, lambda _w: True, lambda w, now: fired.append(("c", w, now)))
    d.fire_due(3.0)
    assert fired == [("a", 1.0, 3.0), ("b", 2.0, 3.0)]
    assert d.next_due() == 5.0


def test_a_superseded_entry_neither_fires_nor_sets_the_next_deadline() -> None:
    d = Deadlines()
    current = {"due": 1.0}
    fired: list[float] = []
    d.at(1.0, lambda w: w == current["due"], lambda w, _now: fired.append(w))
    current["due"] = 4.0  # rescheduled: the owner changed its own field, then pushed again
    d.at(4.0, lambda w: w == current["due"], lambda w, _now: fired.append(w))
    assert d.next_due() == 4.0
    d.fire_due(2.0)
    assert fired == []
    d.fire_due(4.0)
    assert fired == [4.0]
    assert d.next_due() is None


def test_an_entry_pushed_while_firing_fires_in_the_same_pass_when_already_due() -> None:
    d = Deadlines()
    fired: list[float] = []

    def first(_w: float, now: float) -> None:
        fired.append(1.0)
        d.at(now, lambda _w: True, lambda w, _now: fired.append(w))

    d.at(1.0, lambda _w: True, first)
    d.fire_due(2.0)
    assert fired == [1.0, 2.0]
