"""model/control values -> protobuf messages (and the few enums that come back).

Owns: the enum tables (supervisor's codes <-> proto enums, which start at UNSPECIFIED = 0),
the wall-clock conversion of monotonic times, which exists only at the front-ends, and the one
mapping of journal records (``model.Event``) to ``WatchEventsResponse`` (and back, for tests).
May import: control (for ActionResult and the clocks), frontends.presentation, model, errors,
the generated package, stdlib.
Threading: pure functions; any thread.
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from supgrpc.v1 import supervisor_pb2 as pb

from ... import errors
from ...control import ActionResult, Control
from ...model import (
    Channel,
    ConfigDiff,
    DaemonInfo,
    DaemonState,
    DaemonStateChanged,
    Event,
    ExitStatus,
    GroupAdded,
    GroupRemoved,
    Health,
    HealthChanged,
    LogFaults,
    ProcessCommunication,
    ProcessInfo,
    ProcessState,
    ProcessStateChanged,
    RemoteCommunication,
    assert_never,
)
from ..presentation import Clocks, describe, supervisor_event, wall_time
from .resources import ZERO, Usage

S = ProcessState

PROCESS_STATE: dict[ProcessState, pb.ProcessState.ValueType] = {
    S.STOPPED: pb.PROCESS_STATE_STOPPED,
    S.STARTING: pb.PROCESS_STATE_STARTING,
    S.RUNNING: pb.PROCESS_STATE_RUNNING,
    S.BACKOFF: pb.PROCESS_STATE_BACKOFF,
    S.STOPPING: pb.PROCESS_STATE_STOPPING,
    S.EXITED: pb.PROCESS_STATE_EXITED,
    S.FATAL: pb.PROCESS_STATE_FATAL,
    S.UNKNOWN: pb.PROCESS_STATE_UNKNOWN,
}

DAEMON_STATE: dict[DaemonState, pb.DaemonState.ValueType] = {
    DaemonState.RUNNING: pb.DAEMON_STATE_RUNNING,
    DaemonState.RESTARTING: pb.DAEMON_STATE_RESTARTING,
    DaemonState.SHUTDOWN: pb.DAEMON_STATE_SHUTDOWN,
    DaemonState.FATAL: pb.DAEMON_STATE_FATAL,
}

# Checked in order with isinstance (subclasses first); anything else is RESULT_CODE_FAILED.
RESULT_CODE: tuple[tuple[type[errors.SupervisorError], pb.ResultCode.ValueType], ...] = (
    (errors.AlreadyStarted, pb.RESULT_CODE_ALREADY_STARTED),
    (errors.NotRunning, pb.RESULT_CODE_NOT_RUNNING),
    (errors.SpawnError, pb.RESULT_CODE_SPAWN_ERROR),
    (errors.AbnormalTermination, pb.RESULT_CODE_ABNORMAL_TERMINATION),
    (errors.NoFile, pb.RESULT_CODE_NO_FILE),
    (errors.NotExecutable, pb.RESULT_CODE_NOT_EXECUTABLE),
    (errors.Timeout, pb.RESULT_CODE_TIMEOUT),
    (errors.ShuttingDown, pb.RESULT_CODE_SHUTTING_DOWN),
    (errors.BadSignal, pb.RESULT_CODE_BAD_SIGNAL),
)

PROGRAM_HEALTH: dict[Health, pb.ProgramHealth.ValueType] = {
    Health.NONE: pb.PROGRAM_HEALTH_NONE,
    Health.STARTING: pb.PROGRAM_HEALTH_STARTING,
    Health.HEALTHY: pb.PROGRAM_HEALTH_HEALTHY,
    Health.UNHEALTHY: pb.PROGRAM_HEALTH_UNHEALTHY,
}

LOG_CHANNEL: dict[pb.LogStream.ValueType, Channel] = {
    pb.LOG_STREAM_UNSPECIFIED: Channel.STDOUT,
    pb.LOG_STREAM_STDOUT: Channel.STDOUT,
    pb.LOG_STREAM_STDERR: Channel.STDERR,
}
STREAM_OF_CHANNEL = {Channel.STDOUT: pb.LOG_STREAM_STDOUT, Channel.STDERR: pb.LOG_STREAM_STDERR}

# The way back, for ``event_of``.
PROCESS_STATE_OF = {v: k for k, v in PROCESS_STATE.items()}
DAEMON_STATE_OF = {v: k for k, v in DAEMON_STATE.items()}
PROGRAM_HEALTH_OF = {v: k for k, v in PROGRAM_HEALTH.items()}


def timestamp(wall: float) -> Timestamp | None:
    """0.0 means "never": the field stays unset."""
    if wall <= 0:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(wall * 1e9))
    return ts


def exit_status(status: ExitStatus | None) -> pb.ExitStatus | None:
    if status is None:
        return None
    msg = pb.ExitStatus(core_dumped=status.core_dumped, description=status.describe())
    if status.signal is not None:
        msg.signal = status.signal
    else:
        msg.code = status.code if status.code is not None else 0
    return msg


def process_info(control: Control, info: ProcessInfo, usage: Usage = ZERO) -> pb.ProcessInfo:
    msg = pb.ProcessInfo(
        name=info.name,
        group=info.group,
        namespec=info.namespec,
        state=PROCESS_STATE.get(info.state, pb.PROCESS_STATE_UNKNOWN),
        description=info.description or describe(control, info),
        pid=max(info.pid, 0),
        expected=info.expected,
        spawn_error=info.spawn_error,
        stdout_logfile=info.stdout_logfile,
        stderr_logfile=info.stderr_logfile,
        resources=pb.ResourceUsage(
            cpu_percent=usage.cpu_percent, rss_bytes=usage.rss_bytes, children=usage.children
        ),
        health=PROGRAM_HEALTH.get(info.health, pb.PROGRAM_HEALTH_UNSPECIFIED),
        health_output=info.health_output,
        stdout_log=log_faults(info.stdout_log),
        stderr_log=log_faults(info.stderr_log),
    )
    start = timestamp(wall_time(control, info.start_mono))
    if start is not None:
        msg.start_time.CopyFrom(start)
    stop = timestamp(wall_time(control, info.stop_mono))
    if stop is not None:
        msg.stop_time.CopyFrom(stop)
    status = exit_status(info.exit_status)
    if status is not None:
        msg.exit_status.CopyFrom(status)
    return msg


def log_faults(faults: LogFaults) -> pb.LogChannelFaults:
    return pb.LogChannelFaults(
        dropped_bytes=faults.dropped_bytes,
        dropped_lines=faults.dropped_lines,
        write_errors=faults.write_errors,
        last_error=faults.last_error,
        failing=faults.failing,
    )


def result_code(error: errors.SupervisorError | None) -> pb.ResultCode.ValueType:
    if error is None:
        return pb.RESULT_CODE_OK
    for kind, code in RESULT_CODE:
        if isinstance(error, kind):
            return code
    return pb.RESULT_CODE_FAILED


def action_result(result: ActionResult) -> pb.ProcessResult:
    error = result.error
    return pb.ProcessResult(
        process=result.namespec,
        name=result.name,
        group=result.group,
        code=result_code(error),
        message="" if error is None else (str(error) or error.code),
    )


def daemon_state(control: Control, info: DaemonInfo) -> pb.GetStateResponse:
    msg = pb.GetStateResponse(
        state=DAEMON_STATE.get(info.state, pb.DAEMON_STATE_UNSPECIFIED),
        version=info.version,
        pid=info.pid,
        identifier=info.identifier,
        config_file=info.config_file,
    )
    start = timestamp(wall_time(control, info.start_mono))
    if start is not None:
        msg.start_time.CopyFrom(start)
    if control.main_log is not None:  # the main log's drops (any thread may read them)
        msg.main_log.CopyFrom(log_faults(control.main_log.fault_info()))
    return msg


def diff_lists(diff: ConfigDiff) -> dict[str, list[str]]:
    return {"added": list(diff.added), "changed": list(diff.changed), "removed": list(diff.removed)}


def event(clocks: Clocks, seq: int, ev: Event) -> pb.WatchEventsResponse:
    """The one mapping of a journal record to the proto (``event_of`` is its inverse)."""
    msg = pb.WatchEventsResponse(sequence=seq, supervisor_event=supervisor_event(ev))
    when = timestamp(wall_time(clocks, ev.time_mono))
    if when is not None:
        msg.time.CopyFrom(when)
    match ev:
        case ProcessStateChanged():
            msg.process_state.CopyFrom(
                pb.ProcessStateChanged(
                    name=ev.name,
                    group=ev.group,
                    namespec=ev.namespec,
                    from_state=PROCESS_STATE.get(ev.from_state, pb.PROCESS_STATE_UNSPECIFIED),
                    to_state=PROCESS_STATE.get(ev.to_state, pb.PROCESS_STATE_UNSPECIFIED),
                    pid=max(ev.pid, 0),
                    expected=ev.expected,
                    reason=ev.reason,
                    tries=max(ev.tries, 0),
                )
            )
        case DaemonStateChanged():
            state = DAEMON_STATE.get(ev.state, pb.DAEMON_STATE_UNSPECIFIED)
            msg.daemon_state.CopyFrom(pb.DaemonStateChanged(state=state, reason=ev.reason))
        case GroupAdded():
            msg.group_added.CopyFrom(pb.GroupChanged(group=ev.group))
        case GroupRemoved():
            msg.group_removed.CopyFrom(pb.GroupChanged(group=ev.group))
        case HealthChanged():
            msg.program_health.CopyFrom(
                pb.ProgramHealthChanged(
                    name=ev.name,
                    group=ev.group,
                    namespec=ev.namespec,
                    health=PROGRAM_HEALTH.get(ev.status, pb.PROGRAM_HEALTH_UNSPECIFIED),
                    output=ev.output,
                )
            )
        case ProcessCommunication():
            msg.process_communication.CopyFrom(
                pb.ProcessCommunication(
                    name=ev.name,
                    group=ev.group,
                    namespec=ev.namespec,
                    pid=max(ev.pid, 0),
                    stream=STREAM_OF_CHANNEL[ev.channel],
                    data=ev.data,
                )
            )
        case RemoteCommunication():
            # A proto string must be valid UTF-8: an undecodable byte the caller smuggled in
            # (as a surrogate escape) shows as U+FFFD; listeners get the text as it came.
            data = ev.data.encode("utf-8", "surrogateescape").decode("utf-8", errors="replace")
            msg.remote_communication.CopyFrom(pb.RemoteCommunication(type=ev.comm_type, data=data))
        case _:
            assert_never(ev)
    return msg


def event_of(clocks: Clocks, msg: pb.WatchEventsResponse) -> Event | None:
    """The journal record a WatchEvents message describes (None: not a record, e.g. missed).

    The inverse of ``event``, kept beside it so a field one direction forgets fails the
    round-trip test rather than a client.
    """
    t = msg.time.ToNanoseconds() / 1e9 if msg.HasField("time") else 0.0
    t_mono = clocks.clock() - (clocks.wall() - t)
    field = msg.WhichOneof("event")
    if field == "process_state":
        p = msg.process_state
        return ProcessStateChanged(
            t_mono,
            p.name,
            p.group,
            PROCESS_STATE_OF[p.from_state],
            PROCESS_STATE_OF[p.to_state],
            pid=p.pid,
            expected=p.expected,
            reason=p.reason,
            tries=p.tries,
        )
    if field == "daemon_state":
        d = msg.daemon_state
        return DaemonStateChanged(t_mono, DAEMON_STATE_OF[d.state], d.reason)
    if field == "group_added":
        return GroupAdded(t_mono, msg.group_added.group)
    if field == "group_removed":
        return GroupRemoved(t_mono, msg.group_removed.group)
    if field == "program_health":
        h = msg.program_health
        return HealthChanged(t_mono, h.name, h.group, PROGRAM_HEALTH_OF[h.health], h.output)
    if field == "process_communication":
        c = msg.process_communication
        return ProcessCommunication(
            t_mono, c.name, c.group, c.pid, LOG_CHANNEL[c.stream], bytes(c.data)
        )
    if field == "remote_communication":
        r = msg.remote_communication
        return RemoteCommunication(t_mono, r.type, r.data)
    return None


def missed(count: int) -> pb.WatchEventsResponse:
    return pb.WatchEventsResponse(sequence=0, missed=pb.EventsMissed(count=count))
