"""``supgrpc.v1.SupervisorService``: each RPC translates its request into one ``control`` call
and the answer back into protobuf. No rules live here.

Owns: request validation that only the wire format needs (empty names, unset oneofs), target
resolution for TailLog, and the effective timeout of a wait (request timeout, capped by the
RPC deadline so a handler thread never outlives its call).
May import: control, model, errors, logstore readers (through control), the generated package.
Threading: any gRPC handler thread. Errors are raised, never turned into statuses here: the
error interceptor does that once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from ...control import Control
from ...errors import BadArgument, NoSuchProcess
from ...model import Channel, ProcessInfo
from . import convert
from .resources import ZERO, ResourceSampler
from .streams import Cancellation, LogSource, StreamSlots, follow_events, follow_logs

# ReadLog returns at most this much per call (gRPC's default message limit is 4 MiB); page
# with offset for more.
READ_LOG_MAX_BYTES = 1 << 20
# A remaining RPC deadline above this means "no deadline" (grpc reports a huge number).
_NO_DEADLINE = 1e8
_GLOB_CHARS = frozenset("*?[")


def _required(value: str, what: str) -> str:
    if not value:
        raise BadArgument(f"{what} is required")
    return value


def _timeout(request: Any, context: Any) -> float | None:
    """The request's timeout, capped by what is left of the RPC deadline."""
    limit: float | None = None
    if request.HasField("timeout"):
        limit = max(0.0, request.timeout.ToNanoseconds() / 1e9)
    remaining = context.time_remaining()
    if remaining is not None and remaining < _NO_DEADLINE:
        remaining = max(0.0, remaining - 0.05)  # answer before the client gives up
        limit = remaining if limit is None else min(limit, remaining)
    return limit


class SupervisorServicer(pb_grpc.SupervisorServiceServicer):
    def __init__(
        self,
        control: Control,
        *,
        slots: StreamSlots,
        stopping: threading.Event,
        sampler: ResourceSampler | None = None,
    ) -> None:
        self._control = control
        self._slots = slots
        self._stopping = stopping
        self._sampler = sampler or ResourceSampler()

    # ---- state --------------------------------------------------------------------------

    def GetState(self, request: pb.GetStateRequest, context: Any) -> pb.GetStateResponse:
        return convert.daemon_state(self._control, self._control.daemon_info())

    def _infos(self, infos: list[ProcessInfo]) -> list[pb.ProcessInfo]:
        usage = self._sampler.sample(i.pid for i in infos)
        return [convert.process_info(self._control, i, usage.get(i.pid, ZERO)) for i in infos]

    def ListProcesses(
        self, request: pb.ListProcessesRequest, context: Any
    ) -> pb.ListProcessesResponse:
        infos = self._control.list_processes(list(request.patterns))
        return pb.ListProcessesResponse(processes=self._infos(infos))

    def GetProcess(self, request: pb.GetProcessRequest, context: Any) -> pb.GetProcessResponse:
        info = self._control.process_info(_required(request.process, "process"))
        return pb.GetProcessResponse(process=self._infos([info])[0])

    # ---- actions ------------------------------------------------------------------------

    def StartProcess(
        self, request: pb.StartProcessRequest, context: Any
    ) -> pb.StartProcessResponse:
        results = self._control.start(
            _required(request.target, "target"),
            wait=request.wait,
            timeout=_timeout(request, context),
        )
        return pb.StartProcessResponse(results=[convert.action_result(r) for r in results])

    def StopProcess(self, request: pb.StopProcessRequest, context: Any) -> pb.StopProcessResponse:
        results = self._control.stop(
            _required(request.target, "target"),
            wait=request.wait,
            timeout=_timeout(request, context),
        )
        return pb.StopProcessResponse(results=[convert.action_result(r) for r in results])

    def RestartProcess(
        self, request: pb.RestartProcessRequest, context: Any
    ) -> pb.RestartProcessResponse:
        results = self._control.restart(
            _required(request.target, "target"),
            wait=request.wait,
            timeout=_timeout(request, context),
        )
        return pb.RestartProcessResponse(results=[convert.action_result(r) for r in results])

    def SignalProcess(
        self, request: pb.SignalProcessRequest, context: Any
    ) -> pb.SignalProcessResponse:
        which = request.WhichOneof("signal")
        if which is None:
            raise BadArgument("signal is required (name or number)")
        sig: str | int = request.name if which == "name" else int(request.number)
        results = self._control.signal(_required(request.target, "target"), sig)
        return pb.SignalProcessResponse(results=[convert.action_result(r) for r in results])

    def WriteStdin(self, request: pb.WriteStdinRequest, context: Any) -> pb.WriteStdinResponse:
        self._control.send_stdin(_required(request.process, "process"), bytes(request.data))
        return pb.WriteStdinResponse()

    # ---- logs ---------------------------------------------------------------------------

    def ReadLog(self, request: pb.ReadLogRequest, context: Any) -> pb.ReadLogResponse:
        if request.stream == pb.LOG_STREAM_MAIN or not request.process:
            channel = self._control.log_channel(None)
        else:
            channel = self._control.log_channel(
                request.process, convert.LOG_CHANNEL[request.stream]
            )
        offset, length = int(request.offset), int(request.length)
        if offset < 0:
            offset = max(offset, -READ_LOG_MAX_BYTES)
        else:
            length = min(length or READ_LOG_MAX_BYTES, READ_LOG_MAX_BYTES)
        data = channel.read_file(offset, length)
        return pb.ReadLogResponse(data=data, file_size=channel.file_size())

    def ClearLog(self, request: pb.ClearLogRequest, context: Any) -> pb.ClearLogResponse:
        if not request.process:
            self._control.clear_main_log()
            return pb.ClearLogResponse()
        if request.process in ("*", "all"):
            results = self._control.clear_all_logs()
            return pb.ClearLogResponse(results=[convert.action_result(r) for r in results])
        info = self._control.process_info(request.process)
        self._control.clear_log(info.namespec)
        return pb.ClearLogResponse(
            results=[
                pb.ProcessResult(
                    process=info.namespec, name=info.name, group=info.group, code=pb.RESULT_CODE_OK
                )
            ]
        )

    def _resolve(self, patterns: list[str]) -> list[ProcessInfo]:
        """Names, namespecs, ``group:*``, globs, ``*``: each must name something."""
        seen: dict[str, ProcessInfo] = {}
        for pattern in patterns:
            if pattern in ("*", "all"):
                found = self._control.list_processes()
            elif pattern.endswith(":*") or pattern.endswith(":"):
                found = self._control.targets(pattern)
            elif _GLOB_CHARS & set(pattern):
                found = self._control.list_processes([pattern])
                if not found:
                    raise NoSuchProcess(pattern)
            else:
                found = [self._control.process_info(pattern)]
            for info in found:
                seen.setdefault(info.namespec, info)
        return list(seen.values())

    def _log_sources(self, request: pb.TailLogRequest) -> list[LogSource]:
        streams = {
            pb.LOG_STREAM_STDOUT if s == pb.LOG_STREAM_UNSPECIFIED else s for s in request.streams
        } or {pb.LOG_STREAM_STDOUT}
        plan: list[tuple[str, pb.LogStream.ValueType, Any]] = []
        for info in self._resolve(list(request.processes)):
            for stream, channel in (
                (pb.LOG_STREAM_STDOUT, Channel.STDOUT),
                (pb.LOG_STREAM_STDERR, Channel.STDERR),
            ):
                if stream in streams:
                    plan.append(
                        (info.namespec, stream, self._control.log_channel(info.namespec, channel))
                    )
        if pb.LOG_STREAM_MAIN in streams:
            plan.append(("", pb.LOG_STREAM_MAIN, self._control.log_channel(None)))
        if not plan:
            raise BadArgument("name at least one process, or ask for LOG_STREAM_MAIN")
        start = request.WhichOneof("start")
        sources = []
        for process, stream, channel in plan:
            if start == "tail_bytes":
                cursor = channel.read_from_end(int(request.tail_bytes))
            elif start == "tail_lines":
                cursor = channel.cursor_for_last_lines(int(request.tail_lines))
            elif start == "offset":
                cursor = int(request.offset)
            else:
                cursor = channel.start_offset
            stop_at = None if request.follow else channel.end_offset
            sources.append(LogSource(process, stream, channel, cursor, stop_at))
        return sources

    def TailLog(self, request: pb.TailLogRequest, context: Any) -> Iterator[pb.TailLogResponse]:
        with self._slots.hold():
            sources = self._log_sources(request)
            cancelled = Cancellation(context, self._stopping)
            for piece in follow_logs(sources, follow=request.follow, cancelled=cancelled):
                src = piece.source
                stream = pb.LogStream.ValueType(src.stream)
                if piece.gap:
                    yield pb.TailLogResponse(
                        process=src.process, stream=stream, offset=piece.offset, gap=piece.gap
                    )
                else:
                    yield pb.TailLogResponse(
                        process=src.process, stream=stream, offset=piece.offset, data=piece.data
                    )

    # ---- events -------------------------------------------------------------------------

    def WatchEvents(
        self, request: pb.WatchEventsRequest, context: Any
    ) -> Iterator[pb.WatchEventsResponse]:
        with self._slots.hold():
            journal = self._control.journal
            if request.HasField("after_sequence"):
                cursor = int(request.after_sequence)
            else:
                cursor = journal.last_seq
            kinds = {k for k in request.kinds if k != pb.EVENT_KIND_UNSPECIFIED}
            patterns = list(request.processes)
            cancelled = Cancellation(context, self._stopping)
            for entry in follow_events(journal, cursor, cancelled=cancelled):
                if entry.item is None:
                    yield convert.missed(entry.missed)
                    continue
                event = entry.item
                kind = convert.EVENT_KIND.get(event.kind)
                if kind is None or (kinds and kind not in kinds):
                    continue  # a record kind this API version does not describe
                if (
                    patterns
                    and event.kind != "daemon_state"
                    and not _event_matches(event.name, event.group, patterns)
                ):
                    continue
                yield convert.event(self._control, entry.seq, event)

    # ---- configuration and daemon ---------------------------------------------------------

    def Reread(self, request: pb.RereadRequest, context: Any) -> pb.RereadResponse:
        return pb.RereadResponse(**convert.diff_lists(self._control.reread()))

    def Update(self, request: pb.UpdateRequest, context: Any) -> pb.UpdateResponse:
        diff = self._control.update(list(request.groups), timeout=_timeout(request, context))
        return pb.UpdateResponse(**convert.diff_lists(diff))

    def AddGroup(self, request: pb.AddGroupRequest, context: Any) -> pb.AddGroupResponse:
        self._control.add_group(_required(request.group, "group"))
        return pb.AddGroupResponse()

    def RemoveGroup(self, request: pb.RemoveGroupRequest, context: Any) -> pb.RemoveGroupResponse:
        self._control.remove_group(_required(request.group, "group"))
        return pb.RemoveGroupResponse()

    def ReopenLogs(self, request: pb.ReopenLogsRequest, context: Any) -> pb.ReopenLogsResponse:
        self._control.reopen_logs()
        return pb.ReopenLogsResponse()

    def Shutdown(self, request: pb.ShutdownRequest, context: Any) -> pb.ShutdownResponse:
        self._control.shutdown()
        return pb.ShutdownResponse()


def _event_matches(name: str, group: str, patterns: list[str]) -> bool:
    candidates = [group] if not name else [name, group, f"{group}:{name}"]
    if name and name == group:
        candidates.append(name)
    return any(fnmatchcase(c, p) for c in candidates for p in patterns)
