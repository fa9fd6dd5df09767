"""``supgrpc.v1.SupervisorService``: each RPC translates its request into one ``control`` call
and the answer back into protobuf. No rules live here.

Owns: request validation that only the wire format needs (empty names, unset oneofs), target
resolution for TailLog, and the effective timeout of a wait (request timeout, capped by the
RPC deadline so a handler thread never outlives its call).
May import: control, model, errors, logstore readers (through control), the generated package.
Threading: the front-end's asyncio loop (grpc.aio): every handler is a coroutine and every
control call is awaited (``control.aio``), so no call holds a thread while it waits; blocking
file reads (ReadLog, a due /proc sample) go to asyncio's default executor; figures still fresh
in the sampler's cache are taken on the asyncio thread, with no executor round trip. Errors
are raised, never turned into statuses here: the error interceptor does that once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from ...control.aio import AsyncControl
from ...errors import BadArgument
from ...model import Channel, ProcessInfo
from . import convert
from .resources import ZERO, ResourceSampler
from .streams import (
    EventFilter,
    GroupsAdded,
    LogSource,
    StreamSlots,
    Wakeups,
    follow_events,
    follow_logs,
)

# ReadLog returns at most this much per call (gRPC's default message limit is 4 MiB); page
# with offset for more.
READ_LOG_MAX_BYTES = 1 << 20
# A remaining RPC deadline above this means "no deadline" (grpc reports a huge number).
_NO_DEADLINE = 1e8
_CHANNELS = ((pb.LOG_STREAM_STDOUT, Channel.STDOUT), (pb.LOG_STREAM_STDERR, Channel.STDERR))


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
        control: AsyncControl,
        *,
        slots: StreamSlots,
        wakeups: Wakeups,
        groups: GroupsAdded,
        stopping: Callable[[], bool],
        sampler: ResourceSampler | None = None,
    ) -> None:
        self._groups = groups
        self._control = control
        self._sync = control.sync  # the clocks (for frontends.presentation), the journal
        self._slots = slots
        self._wakeups = wakeups
        self._stopping = stopping
        self._sampler = sampler or ResourceSampler()

    # ---- state --------------------------------------------------------------------------

    async def GetState(self, request: pb.GetStateRequest, context: Any) -> pb.GetStateResponse:
        return convert.daemon_state(self._sync, await self._control.daemon_info())

    async def _infos(self, infos: list[ProcessInfo]) -> list[pb.ProcessInfo]:
        pids = [i.pid for i in infos]
        usage = self._sampler.cached(pids)
        if usage is None:  # a sample is due: it reads /proc, so not on this thread
            usage = await asyncio.to_thread(self._sampler.sample, pids)
        return [convert.process_info(self._sync, i, usage.get(i.pid, ZERO)) for i in infos]

    async def ListProcesses(
        self, request: pb.ListProcessesRequest, context: Any
    ) -> pb.ListProcessesResponse:
        infos = await self._control.list_processes(list(request.patterns))
        return pb.ListProcessesResponse(processes=await self._infos(infos))

    async def GetProcess(
        self, request: pb.GetProcessRequest, context: Any
    ) -> pb.GetProcessResponse:
        info = await self._control.process_info(_required(request.process, "process"))
        return pb.GetProcessResponse(process=(await self._infos([info]))[0])

    # ---- actions ------------------------------------------------------------------------

    async def StartProcess(
        self, request: pb.StartProcessRequest, context: Any
    ) -> pb.StartProcessResponse:
        results = await self._control.start(
            _required(request.target, "target"),
            wait=request.wait,
            timeout=_timeout(request, context),
        )
        return pb.StartProcessResponse(results=[convert.action_result(r) for r in results])

    async def StopProcess(
        self, request: pb.StopProcessRequest, context: Any
    ) -> pb.StopProcessResponse:
        results = await self._control.stop(
            _required(request.target, "target"),
            wait=request.wait,
            timeout=_timeout(request, context),
        )
        return pb.StopProcessResponse(results=[convert.action_result(r) for r in results])

    async def RestartProcess(
        self, request: pb.RestartProcessRequest, context: Any
    ) -> pb.RestartProcessResponse:
        results = await self._control.restart(
            _required(request.target, "target"),
            wait=request.wait,
            timeout=_timeout(request, context),
        )
        return pb.RestartProcessResponse(results=[convert.action_result(r) for r in results])

    async def SignalProcess(
        self, request: pb.SignalProcessRequest, context: Any
    ) -> pb.SignalProcessResponse:
        which = request.WhichOneof("signal")
        if which is None:
            raise BadArgument("signal is required (name or number)")
        sig: str | int = request.name if which == "name" else int(request.number)
        results = await self._control.signal(_required(request.target, "target"), sig)
        return pb.SignalProcessResponse(results=[convert.action_result(r) for r in results])

    async def WriteStdin(
        self, request: pb.WriteStdinRequest, context: Any
    ) -> pb.WriteStdinResponse:
        await self._control.send_stdin(_required(request.process, "process"), bytes(request.data))
        return pb.WriteStdinResponse()

    # ---- logs ---------------------------------------------------------------------------

    async def ReadLog(self, request: pb.ReadLogRequest, context: Any) -> pb.ReadLogResponse:
        if request.stream == pb.LOG_STREAM_MAIN or not request.process:
            channel = await self._control.log_channel(None)
        else:
            channel = await self._control.log_channel(
                request.process, convert.LOG_CHANNEL[request.stream]
            )
        offset, length = int(request.offset), int(request.length)
        if offset < 0:
            offset = max(offset, -READ_LOG_MAX_BYTES)
        else:
            length = min(length or READ_LOG_MAX_BYTES, READ_LOG_MAX_BYTES)
        data = await asyncio.to_thread(channel.read_file, offset, length)
        size = await asyncio.to_thread(channel.file_size)
        return pb.ReadLogResponse(data=data, file_size=size)

    async def ClearLog(self, request: pb.ClearLogRequest, context: Any) -> pb.ClearLogResponse:
        if not request.process:
            self._sync.clear_main_log()
            return pb.ClearLogResponse()
        if request.process in ("*", "all"):
            results = await self._control.clear_all_logs()
            return pb.ClearLogResponse(results=[convert.action_result(r) for r in results])
        info = await self._control.process_info(request.process)
        await self._control.clear_log(info.namespec)
        return pb.ClearLogResponse(
            results=[
                pb.ProcessResult(
                    process=info.namespec, name=info.name, group=info.group, code=pb.RESULT_CODE_OK
                )
            ]
        )

    async def _log_sources(
        self, request: pb.TailLogRequest, channels: list[Channel]
    ) -> list[LogSource]:
        """Every requested channel, resolved in one loop job however many processes match."""
        streams = _requested_streams(request)
        sources = []
        if request.processes:
            targets = await self._control.log_targets(list(request.processes), channels)
            sources = [_source(request, t.namespec, _STREAM_OF[t.channel], t.log) for t in targets]
        if pb.LOG_STREAM_MAIN in streams:
            main = await self._control.log_channel(None)
            sources.append(_source(request, "", pb.LOG_STREAM_MAIN, main))
        if not sources:
            raise BadArgument("name at least one process, or ask for LOG_STREAM_MAIN")
        return sources

    def _refresher(
        self, request: pb.TailLogRequest, channels: list[Channel], sources: list[LogSource]
    ) -> Any:
        """After a reload: follow the replacement channels, and programs that now match."""
        patterns = list(request.processes)

        # Every channel this stream has followed (held, so ids stay unique): one that was
        # drained and dropped is never followed again from its start.
        followed: dict[int, Any] = {id(s.channel): s.channel for s in sources}

        async def refresh(current: list[LogSource]) -> list[LogSource]:
            targets = await self._control.log_targets(patterns, channels, missing_ok=True)
            followed.update((id(s.channel), s.channel) for s in current)
            fresh = [
                LogSource(t.namespec, _STREAM_OF[t.channel], t.log, t.log.start_offset)
                for t in targets
                if id(t.log) not in followed
            ]
            followed.update((id(s.channel), s.channel) for s in fresh)
            return current + fresh

        return refresh

    async def TailLog(
        self, request: pb.TailLogRequest, context: Any
    ) -> AsyncIterator[pb.TailLogResponse]:
        with self._slots.hold():
            streams = _requested_streams(request)
            channels = [ch for stream, ch in _CHANNELS if stream in streams]
            sources = await self._log_sources(request, channels)
            follow_on = request.follow and bool(request.processes) and bool(channels)
            pieces = follow_logs(
                sources,
                follow=request.follow,
                wakeups=self._wakeups,
                stopping=self._stopping,
                groups=self._groups if follow_on else None,
                refresh=self._refresher(request, channels, sources) if follow_on else None,
            )
            async for piece in pieces:
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

    async def WatchEvents(
        self, request: pb.WatchEventsRequest, context: Any
    ) -> AsyncIterator[pb.WatchEventsResponse]:
        with self._slots.hold():
            journal = self._sync.journal
            if request.HasField("after_sequence"):
                cursor = int(request.after_sequence)
            else:
                cursor = journal.last_seq
            wanted = EventFilter(request.kinds, request.processes)
            entries = follow_events(journal, cursor, wakeups=self._wakeups, stopping=self._stopping)
            async for entry in entries:
                if entry.item is None:
                    yield convert.missed(entry.missed)
                    continue
                msg = convert.event(self._sync, entry.seq, entry.item)
                if wanted(msg):
                    yield msg

    # ---- configuration and daemon ---------------------------------------------------------

    async def Reread(self, request: pb.RereadRequest, context: Any) -> pb.RereadResponse:
        return pb.RereadResponse(**convert.diff_lists(await self._control.reread()))

    async def Update(self, request: pb.UpdateRequest, context: Any) -> pb.UpdateResponse:
        diff = await self._control.update(list(request.groups), timeout=_timeout(request, context))
        return pb.UpdateResponse(**convert.diff_lists(diff))

    async def AddGroup(self, request: pb.AddGroupRequest, context: Any) -> pb.AddGroupResponse:
        await self._control.add_group(_required(request.group, "group"))
        return pb.AddGroupResponse()

    async def RemoveGroup(
        self, request: pb.RemoveGroupRequest, context: Any
    ) -> pb.RemoveGroupResponse:
        await self._control.remove_group(_required(request.group, "group"))
        return pb.RemoveGroupResponse()

    async def ReopenLogs(
        self, request: pb.ReopenLogsRequest, context: Any
    ) -> pb.ReopenLogsResponse:
        await self._control.reopen_logs()
        return pb.ReopenLogsResponse()

    async def Shutdown(self, request: pb.ShutdownRequest, context: Any) -> pb.ShutdownResponse:
        await self._control.shutdown()
        return pb.ShutdownResponse()


_STREAM_OF = {channel: stream for stream, channel in _CHANNELS}


def _requested_streams(request: pb.TailLogRequest) -> set[pb.LogStream.ValueType]:
    return {
        pb.LOG_STREAM_STDOUT if s == pb.LOG_STREAM_UNSPECIFIED else s for s in request.streams
    } or {pb.LOG_STREAM_STDOUT}


def _source(
    request: pb.TailLogRequest, process: str, stream: pb.LogStream.ValueType, channel: Any
) -> LogSource:
    start = request.WhichOneof("start")
    if start == "tail_bytes":
        cursor = channel.read_from_end(int(request.tail_bytes))
    elif start == "tail_lines":
        cursor = channel.cursor_for_last_lines(int(request.tail_lines))
    elif start == "offset":
        cursor = int(request.offset)
    else:
        cursor = channel.start_offset
    stop_at = None if request.follow else channel.end_offset
    return LogSource(process, stream, channel, cursor, stop_at)
