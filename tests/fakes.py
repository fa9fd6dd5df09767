"""Test doubles shared by the unit tests: a fake monotonic clock and a ProgramSpec builder."""

from __future__ import annotations

from typing import Any

from supervisor_grpc.model import ProgramSpec


class FakeClock:
    """A monotonic clock that only moves when told to (trio's MockClock, without autojump).

    ``now`` is the float handed to ``ProcessMachine.handle``; ``advance(dt)`` moves it forward.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)

    def advance(self, dt: float) -> float:
        """Move time forward by ``dt`` seconds and return the new ``now``."""
        if dt < 0:
            raise ValueError(f"a monotonic clock cannot go back ({dt})")
        self.now += dt
        return self.now

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now})"


def make_spec(**overrides: Any) -> ProgramSpec:
    """A ``[program:a]`` with supervisor's defaults, except for ``overrides``."""
    fields: dict[str, Any] = {
        "name": "a",
        "group": "a",
        "program_name": "a",
        "command": "/bin/true",
    }
    fields.update(overrides)
    return ProgramSpec(**fields)
