"""model/control values -> protobuf messages (and the few enums that come back).

Owns: the enum tables (supervisor's codes <-> proto enums, which start at UNSPECIFIED = 0) and
the wall-clock conversion of monotonic times, which exists only at the front-ends.
May import: control (for ActionResult and the clocks), frontends.presentation, model, errors,
the generated package.
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
    Event,
    ExitStatus,
    Health,
    LogFaults,
    ProcessInfo,
    ProcessState,
)
from ..presentation import describe, health_of_event, supervisor_event, wall_time
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

EVENT_KIND: dict[str, pb.EventKind.ValueType] = {
    "process_state": pb.EVENT_KIND_PROCESS_STATE,
    "daemon_state": pb.EVENT_KIND_DAEMON_STATE,
    "group_added": pb.EVENT_KIND_GROUP_ADDED,
    "group_removed": pb.EVENT_KIND_GROUP_REMOVED,
    "health": pb.EVENT_KIND_PROGRAM_HEALTH,
    "process_communication": pb.EVENT_KIND_PROCESS_COMMUNICATION,
    "remote_communication": pb.EVENT_KIND_REMOTE_COMMUNICATION,
}

LOG_CHANNEL: dict[pb.LogStream.ValueType, Channel] = {
    pb.LOG_STREAM_UNSPECIFIED: Channel.STDOUT,
    pb.LOG_STREAM_STDOUT: Channel.STDOUT,
    pb.LOG_STREAM_STDERR: Channel.STDERR,
}


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


def event(control: Control, seq: int, ev: Event) -> pb.WatchEventsResponse:
    msg = pb.WatchEventsResponse(sequence=seq, supervisor_event=supervisor_event(ev))
    when = timestamp(wall_time(control, ev.time_mono))
    if when is not None:
        msg.time.CopyFrom(when)
    namespec = ev.namespec
    if ev.kind == "process_state":
        msg.process_state.CopyFrom(
            pb.ProcessStateChanged(
                name=ev.name,
                group=ev.group,
                namespec=namespec,
                from_state=PROCESS_STATE.get(ev.from_state, pb.PROCESS_STATE_UNSPECIFIED)
                if ev.from_state is not None
                else pb.PROCESS_STATE_UNSPECIFIED,
                to_state=PROCESS_STATE.get(ev.to_state, pb.PROCESS_STATE_UNSPECIFIED)
                if ev.to_state is not None
                else pb.PROCESS_STATE_UNSPECIFIED,
                pid=max(ev.pid, 0),
                expected=ev.expected,
                reason=ev.reason,
                tries=max(ev.tries, 0),
            )
        )
    elif ev.kind == "process_communication":
        msg.process_communication.CopyFrom(
            pb.ProcessCommunication(
                name=ev.name,
                group=ev.group,
                namespec=namespec,
                pid=max(ev.pid, 0),
                stream=pb.LOG_STREAM_STDERR if ev.channel == "stderr" else pb.LOG_STREAM_STDOUT,
                data=ev.data,
            )
        )
    elif ev.kind == "remote_communication":
        msg.remote_communication.CopyFrom(
            pb.RemoteCommunication(
                type=ev.comm_type, data=ev.data.decode("utf-8", errors="replace")
            )
        )
    elif ev.kind == "daemon_state":
        state = pb.DAEMON_STATE_UNSPECIFIED
        if ev.daemon_state is not None:
            state = DAEMON_STATE.get(ev.daemon_state, pb.DAEMON_STATE_UNSPECIFIED)
        msg.daemon_state.CopyFrom(pb.DaemonStateChanged(state=state, reason=ev.reason))
    elif ev.kind == "group_added":
        msg.group_added.CopyFrom(pb.GroupChanged(group=ev.group))
    elif ev.kind == "group_removed":
        msg.group_removed.CopyFrom(pb.GroupChanged(group=ev.group))
    elif ev.kind == "health":
        health, output = health_of_event(ev)
        msg.program_health.CopyFrom(
            pb.ProgramHealthChanged(
                name=ev.name,
                group=ev.group,
                namespec=namespec,
                health=PROGRAM_HEALTH.get(health, pb.PROGRAM_HEALTH_UNSPECIFIED)
                if health is not None
                else pb.PROGRAM_HEALTH_UNSPECIFIED,
                output=output,
            )
        )
    return msg


def missed(count: int) -> pb.WatchEventsResponse:
    return pb.WatchEventsResponse(sequence=0, missed=pb.EventsMissed(count=count))
