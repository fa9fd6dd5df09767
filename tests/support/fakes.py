"""Test doubles for the unit tests: a clock that moves only when told, a ProgramSpec builder,
and a runtime in memory (spawner, reactor, pipes, reaper) to drive the real core with.

Owns: ``FakeClock``, ``make_spec``, ``FakeRuntime``/``FakeChild`` and the small builders of a
core on them (``program``, ``single``, ``make``, ``state``, ``exit_``), the listener helpers
(``listener``, ``fds``, ``say``, ``envelopes``) and the listener protocol's ``busy``.
May import: supervisor_grpc (core, model, errors, listener protocol). No I/O: nothing here
opens a file, a socket or a process.
Threading: single-threaded, like the unit tests.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from supervisor_grpc.control import Control
from supervisor_grpc.core import Supervisor
from supervisor_grpc.core.listener_protocol import BecameReady, ListenerProtocol
from supervisor_grpc.errors import NoFile, NoSuchProcess
from supervisor_grpc.logstore import EventJournal
from supervisor_grpc.model import (
    Channel,
    DaemonSpec,
    Event,
    ExitStatus,
    GroupKind,
    GroupSpec,
    LogSpec,
    ProcessState,
    ProgramSpec,
)

# What supervisor logs when a listener breaks the protocol (listener_protocol's message).
UNKNOWN_MSG = (
    "l: has entered the UNKNOWN state and will no longer receive events, this usually "
    "indicates the process violated the eventlistener protocol"
)


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


@dataclass
class FakeChild:
    pid: int
    stdin_fd: int | None
    stdout_fd: int | None
    stderr_fd: int | None


@dataclass
class FakeRuntime:
    """Spawner + reactor + pipes + reaper in memory (h11's ConnectionPair idea)."""

    now: float = 0.0
    next_pid: int = 100
    next_fd: int = 1000
    spawned: list[tuple[str, int]] = field(default_factory=list)
    kills: list[tuple[int, int, bool]] = field(default_factory=list)
    fail_spawn: dict[str, Exception] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    exits: list[tuple[int, ExitStatus]] = field(default_factory=list)
    readers: dict[int, Callable[[int], None]] = field(default_factory=dict)
    pipe_data: dict[int, list[bytes]] = field(default_factory=dict)
    written: dict[int, bytes] = field(default_factory=dict)
    released: list[int] = field(default_factory=list)

    # Clock
    def clock(self) -> float:
        return self.now

    # Spawner
    def check(self, spec: ProgramSpec) -> None:
        if spec.name in self.missing:
            raise NoFile(f"can't find command {spec.command!r}")

    def spawn(self, spec: ProgramSpec) -> FakeChild:
        if spec.name in self.fail_spawn:
            raise self.fail_spawn[spec.name]
        self.check(spec)
        pid = self.next_pid
        self.next_pid += 1
        fds = [self.next_fd, self.next_fd + 1, self.next_fd + 2]
        self.next_fd += 3
        self.spawned.append((spec.name, pid))
        return FakeChild(pid, fds[0], fds[1], None if spec.redirect_stderr else fds[2])

    def kill(self, pid: int, signum: int, as_group: bool, tree: bool = False) -> None:
        self.kills.append((pid, signum, as_group))

    def release(self, pid: int, status: ExitStatus) -> None:
        self.released.append(pid)

    # Reactor
    def add_reader(self, fd: int, callback: Callable[[int], None]) -> None:
        self.readers[fd] = callback

    def add_writer(self, fd: int, callback: Callable[[int], None]) -> None:
        self.readers[fd] = callback

    def remove(self, fd: int) -> None:
        self.readers.pop(fd, None)

    # Pipes
    def read(self, fd: int) -> bytes | None:
        queue = self.pipe_data.get(fd)
        if not queue:
            return None
        return queue.pop(0)

    def write(self, fd: int, data: bytes) -> int:
        self.written[fd] = self.written.get(fd, b"") + data
        return len(data)

    def close(self, fd: int) -> None:
        pass

    # Reaper
    def reap(self) -> list[tuple[int, ExitStatus]]:
        out, self.exits = self.exits, []
        return out


def program(name: str, group: str | None = None, **kw: object) -> ProgramSpec:
    base: dict[str, object] = dict(
        name=name,
        group=group or name,
        program_name=name,
        command=f"/bin/{name}",
        startsecs=1,
        stdout=LogSpec(path=None),
        stderr=LogSpec(path=None),
    )
    base.update(kw)
    return ProgramSpec(**base)  # type: ignore[arg-type]


def make(*groups: GroupSpec) -> tuple[Supervisor, FakeRuntime]:
    rt = FakeRuntime()
    spec = DaemonSpec(logfile=None, groups=groups)
    core = Supervisor(spec, clock=rt.clock, spawner=rt, reactor=rt, pipes=rt, reaper=rt.reap)
    core.add_initial_groups()
    return core, rt


def single(name: str, **kw: object) -> GroupSpec:
    p = program(name, **kw)
    return GroupSpec(name=name, priority=p.priority, programs=(p,))


def state(core: Supervisor, name: str) -> ProcessState:
    return core.find(name).machine.state


def exit_(
    core: Supervisor, rt: FakeRuntime, name: str, code: int = 0, at: float | None = None
) -> None:
    if at is not None:
        rt.now = at
    rt.exits.append((core.find(name).machine.pid, ExitStatus(code=code)))
    core.service(rt.now)


def listener(name: str, events: tuple[str, ...], **kw: object) -> GroupSpec:
    p = program(name, startsecs=0, **kw)
    return GroupSpec(
        name, -1, (p,), GroupKind.EVENTLISTENER, f"eventlistener:{name}", events=events
    )


def fds(rt: FakeRuntime, core: Supervisor, name: str) -> tuple[int, int]:
    """(stdin, stdout) of the current process ``name``."""
    fd = core.child_pipes.stdin_fd(core.find(name))
    assert fd is not None
    return fd, fd + 1


def say(rt: FakeRuntime, core: Supervisor, name: str, data: bytes) -> None:
    _, out = fds(rt, core, name)
    rt.pipe_data[out] = [data]
    rt.readers[out](out)
    core.service(rt.now)


def envelopes(rt: FakeRuntime, fd: int) -> list[str]:
    return [
        line.split(" eventname:")[1].split(" ")[0]
        for line in rt.written.get(fd, b"").decode().splitlines()
        if line.startswith("ver:3.0")
    ]


def busy(event: object = "ev") -> ListenerProtocol:
    """A listener protocol that said READY and was sent ``event``."""
    p = ListenerProtocol("l")
    assert p.feed(b"READY\n") == [BecameReady()]
    p.sent(event)
    return p


class CountingInbox:
    """Runs each job at once and counts them, or (``hold``) never runs them."""

    def __init__(self, hold: bool = False) -> None:
        self.jobs = 0
        self.hold = hold

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        self.jobs += 1
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if not self.hold:
            try:
                fut.set_result(fn())
            except Exception as exc:
                fut.set_exception(exc)
        return fut


class FakeProc:
    """What Control reads of a process: its names and its log channels."""

    def __init__(self, group: str, name: str) -> None:
        self.group, self.name = group, name
        self.namespec = name if group == name else f"{group}:{name}"
        self.logs = {Channel.STDOUT: object(), Channel.STDERR: object()}

    def channel(self, ch: Channel) -> Any:
        return self.logs[ch]


def fake_control(inbox: CountingInbox, n: int = 100) -> Control:
    """A Control over ``n`` fake processes ``g{i}:p{i}`` (no core, no loop)."""
    procs = {(f"g{i}", f"p{i}"): FakeProc(f"g{i}", f"p{i}") for i in range(n)}
    by_spec = {p.namespec: p for p in procs.values()}

    def find(name: str) -> FakeProc:
        if name not in by_spec:
            raise NoSuchProcess(name)
        return by_spec[name]

    def find_targets(target: str) -> list[FakeProc]:
        group = target.rstrip("*").rstrip(":")
        found = [p for p in procs.values() if p.group == group]
        if not found:
            raise NoSuchProcess(target)
        return found

    core = SimpleNamespace(
        journal=EventJournal[Event](10), processes=procs, find=find, find_targets=find_targets
    )
    return Control(inbox, core, lambda: None)  # type: ignore[arg-type]


def control_on(*groups: GroupSpec) -> tuple[Control, CountingInbox, Supervisor, FakeRuntime]:
    """The real core on a FakeRuntime (autostarted) behind a Control whose inbox runs each job
    at once and counts them: "one request is one loop job" is ``inbox.jobs == 1``."""
    core, rt = make(*groups)
    core.autostart()
    inbox = CountingInbox()
    return Control(inbox, core, lambda: None), inbox, core, rt  # type: ignore[arg-type]
