"""What the core needs from the outside world, declared by the core (ports and adapters).

The runtime classes satisfy these structurally; tests satisfy them with fakes.

Owns: the Protocols only (no state).
May import: model.
Threading: the core calls them on the loop thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..model import ExitStatus, ProgramSpec

Clock = Callable[[], float]
Reaper = Callable[[], list[tuple[int, ExitStatus]]]


class Child(Protocol):
    pid: int
    stdin_fd: int | None
    stdout_fd: int | None
    stderr_fd: int | None


class Spawner(Protocol):
    def check(self, spec: ProgramSpec) -> None: ...

    def spawn(self, spec: ProgramSpec) -> Child: ...

    def kill(self, pid: int, signum: int, as_group: bool, tree: bool) -> None: ...

    def release(self, pid: int, status: ExitStatus) -> None: ...


class Reactor(Protocol):
    def add_reader(self, fd: int, callback: Callable[[int], None]) -> None: ...

    def add_writer(self, fd: int, callback: Callable[[int], None]) -> None: ...

    def remove(self, fd: int) -> None: ...


class Pipes(Protocol):
    def read(self, fd: int) -> bytes | None: ...

    def write(self, fd: int, data: bytes) -> int: ...

    def close(self, fd: int) -> None: ...
