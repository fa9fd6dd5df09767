"""Plain, typed values the client returns (instead of protobuf messages), and their builders.

Owns: the dataclasses of the public client API and the protobuf -> dataclass translation.
Enum values become short upper-case names (``RUNNING``, ``ALREADY_STARTED``, ``stdout``);
times become float seconds since the epoch, or None for "never".
May import: the generated ``supgrpc`` package, stdlib.
Threading: immutable values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from supgrpc.v1 import supervisor_pb2 as pb


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    try:
        name: str = enum.Name(value)
    except ValueError:
        return str(value)
    return name[len(prefix) :] if name.startswith(prefix) else name


def _time(msg: Any, field_name: str) -> float | None:
    if not msg.HasField(field_name):
        return None
    ts = getattr(msg, field_name)
    seconds: float = float(ts.seconds) + float(ts.nanos) / 1e9
    return seconds


def stream_name(value: int) -> str:
    """``stdout``, ``stderr`` or ``main``."""
    return _enum_name(pb.LogStream, value, "LOG_STREAM_").lower()


STREAM_VALUES = {
    "stdout": pb.LOG_STREAM_STDOUT,
    "stderr": pb.LOG_STREAM_STDERR,
    "main": pb.LOG_STREAM_MAIN,
}


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """GetState: the daemon itself."""

    state: str
    version: str
    pid: int
    identifier: str
    start_time: float | None
    config_file: str
    main_log: LogFaults = field(default_factory=lambda: LogFaults())  # what it could not write

    @classmethod
    def from_pb(cls, msg: pb.GetStateResponse) -> DaemonStatus:
        return cls(
            _enum_name(pb.DaemonState, msg.state, "DAEMON_STATE_"),
            msg.version,
            msg.pid,
            msg.identifier,
            _time(msg, "start_time"),
            msg.config_file,
            LogFaults.from_pb(msg.main_log),
        )


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a process last ended: ``code`` or ``signal`` is set."""

    code: int | None
    signal: int | None
    core_dumped: bool
    description: str


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    """psutil figures of a live process (zeros when not running)."""

    cpu_percent: float = 0.0
    rss_bytes: int = 0
    children: int = 0


@dataclass(frozen=True, slots=True)
class LogFaults:
    """What one log channel could not write to its file or stream (whole lines)."""

    dropped_bytes: int = 0
    dropped_lines: int = 0
    write_errors: int = 0
    last_error: str = ""
    failing: bool = False

    @classmethod
    def from_pb(cls, msg: pb.LogChannelFaults) -> LogFaults:
        return cls(
            msg.dropped_bytes, msg.dropped_lines, msg.write_errors, msg.last_error, msg.failing
        )


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process (ListProcesses/GetProcess)."""

    name: str
    group: str
    namespec: str
    state: str
    description: str
    pid: int
    start_time: float | None
    stop_time: float | None
    exit_status: ExitStatus | None
    expected: bool
    spawn_error: str
    stdout_logfile: str
    stderr_logfile: str
    resources: ResourceUsage = field(default_factory=ResourceUsage)
    health: str = "NONE"  # the program's own health check: NONE, STARTING, HEALTHY, UNHEALTHY
    health_output: str = ""
    stdout_log: LogFaults = field(default_factory=LogFaults)
    stderr_log: LogFaults = field(default_factory=LogFaults)

    @classmethod
    def from_pb(cls, msg: pb.ProcessInfo) -> ProcessInfo:
        status = None
        if msg.HasField("exit_status"):
            es = msg.exit_status
            kind = es.WhichOneof("kind")
            status = ExitStatus(
                es.code if kind == "code" else None,
                es.signal if kind == "signal" else None,
                es.core_dumped,
                es.description,
            )
        r = msg.resources
        return cls(
            msg.name,
            msg.group,
            msg.namespec,
            _enum_name(pb.ProcessState, msg.state, "PROCESS_STATE_"),
            msg.description,
            msg.pid,
            _time(msg, "start_time"),
            _time(msg, "stop_time"),
            status,
            msg.expected,
            msg.spawn_error,
            msg.stdout_logfile,
            msg.stderr_logfile,
            ResourceUsage(r.cpu_percent, r.rss_bytes, r.children),
            _enum_name(pb.ProgramHealth, msg.health, "PROGRAM_HEALTH_"),
            msg.health_output,
            LogFaults.from_pb(msg.stdout_log),
            LogFaults.from_pb(msg.stderr_log),
        )


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """One process's outcome of start/stop/restart/signal/clear. ``code`` is ``OK`` or a
    ResultCode name (``ALREADY_STARTED``, ``NOT_RUNNING``, ``SPAWN_ERROR``...)."""

    process: str
    name: str
    group: str
    code: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code == "OK"

    @classmethod
    def from_pb(cls, msg: pb.ProcessResult) -> ProcessResult:
        return cls(
            msg.process,
            msg.name,
            msg.group,
            _enum_name(pb.ResultCode, msg.code, "RESULT_CODE_"),
            msg.message,
        )


@dataclass(frozen=True, slots=True)
class ConfigChanges:
    """Reread/Update: group names added, changed and removed."""

    added: list[str]
    changed: list[str]
    removed: list[str]

    @classmethod
    def from_pb(cls, msg: pb.RereadResponse | pb.UpdateResponse) -> ConfigChanges:
        return cls(list(msg.added), list(msg.changed), list(msg.removed))


@dataclass(frozen=True, slots=True)
class LogChunk:
    """TailLog: ``data`` at absolute ``offset``, or ``gap`` bytes skipped from ``offset``."""

    process: str  # namespec; "" for the daemon's log
    stream: str  # stdout, stderr or main
    offset: int
    data: bytes = b""
    gap: int = 0

    @classmethod
    def from_pb(cls, msg: pb.TailLogResponse) -> LogChunk:
        return cls(msg.process, stream_name(msg.stream), msg.offset, bytes(msg.data), msg.gap)


# The WatchEvents kinds, as ``Event.kind`` spells them (the proto's ``oneof event`` fields),
# each with the ``EventKind`` that filters it: the proto names the enum after the field, so
# the names come from the generated code, never from a list kept here.
EVENT_KINDS: dict[str, pb.EventKind.ValueType] = {
    name.removeprefix("EVENT_KIND_").lower(): value
    for name, value in pb.EventKind.items()
    if value != pb.EVENT_KIND_UNSPECIFIED
}


@dataclass(frozen=True, slots=True)
class Event:
    """WatchEvents: ``kind`` is ``process_state``, ``daemon_state``, ``group_added``,
    ``group_removed``, ``program_health`` (``health`` and ``reason`` = the check's output),
    ``process_communication`` (``stream`` and ``data``: a capture-mode message),
    ``remote_communication`` (``comm_type`` and ``data``: a sendRemoteCommEvent) or
    ``missed`` (then ``missed`` counts the events this reader lost). ``supervisor_event`` is
    supervisor's event type name (``PROCESS_STATE_EXITED``...), empty when there is none."""

    sequence: int
    time: float | None
    kind: str
    namespec: str = ""
    name: str = ""
    group: str = ""
    from_state: str = ""
    to_state: str = ""
    pid: int = 0
    expected: bool = True
    reason: str = ""
    daemon_state: str = ""
    missed: int = 0
    health: str = ""
    supervisor_event: str = ""
    tries: int = 0
    stream: str = ""
    comm_type: str = ""
    data: bytes = b""

    @classmethod
    def from_pb(cls, msg: pb.WatchEventsResponse) -> Event:
        kind = msg.WhichOneof("event") or ""
        base: dict[str, Any] = {
            "sequence": msg.sequence,
            "time": _time(msg, "time"),
            "supervisor_event": msg.supervisor_event,
        }
        if kind == "process_state":
            p = msg.process_state
            return cls(
                kind=kind,
                namespec=p.namespec,
                name=p.name,
                group=p.group,
                from_state=_enum_name(pb.ProcessState, p.from_state, "PROCESS_STATE_"),
                to_state=_enum_name(pb.ProcessState, p.to_state, "PROCESS_STATE_"),
                pid=p.pid,
                expected=p.expected,
                reason=p.reason,
                tries=p.tries,
                **base,
            )
        if kind == "process_communication":
            c = msg.process_communication
            return cls(
                kind=kind,
                namespec=c.namespec,
                name=c.name,
                group=c.group,
                pid=c.pid,
                stream=stream_name(c.stream),
                data=bytes(c.data),
                **base,
            )
        if kind == "remote_communication":
            r = msg.remote_communication
            return cls(kind=kind, comm_type=r.type, data=r.data.encode(), **base)
        if kind == "daemon_state":
            d = msg.daemon_state
            return cls(
                kind=kind,
                daemon_state=_enum_name(pb.DaemonState, d.state, "DAEMON_STATE_"),
                reason=d.reason,
                **base,
            )
        if kind in ("group_added", "group_removed"):
            return cls(kind=kind, group=getattr(msg, kind).group, **base)
        if kind == "program_health":
            h = msg.program_health
            return cls(
                kind=kind,
                namespec=h.namespec,
                name=h.name,
                group=h.group,
                health=_enum_name(pb.ProgramHealth, h.health, "PROGRAM_HEALTH_"),
                reason=h.output,
                **base,
            )
        if kind == "missed":
            return cls(kind=kind, missed=msg.missed.count, **base)
        return cls(kind=kind or "unknown", **base)


def to_dict(value: Any) -> dict[str, Any]:
    """A dataclass as JSON-ready dict (bytes are decoded as UTF-8, invalid bytes replaced)."""
    out = asdict(value)
    for key, item in out.items():
        if isinstance(item, bytes):
            out[key] = item.decode("utf-8", errors="replace")
    return out
