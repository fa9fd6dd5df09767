"""A small typed client for supgrpcd's ``supgrpc.v1.SupervisorService``.

Owns: the channel (unix socket or TCP, optional TLS/mTLS), the bearer token sent as
``authorization`` metadata, per-call timeouts, and translation of every failure into a
:class:`~supgrpc_client.errors.SupgrpcError` subclass.
May import: the generated ``supgrpc`` package, grpc, grpc_health, stdlib (never the server).
Threading: a Client may be shared between threads (gRPC channels are thread-safe); a
:class:`Stream` belongs to the thread iterating it, and any thread may ``cancel()`` it.

Example::

    from supgrpc_client import Client

    with Client("unix:///run/supgrpc.sock") as c:
        for p in c.list_processes():
            print(p.namespec, p.state)
        for chunk in c.tail_log(["web"], follow=True, tail_lines=10):
            print(chunk.data.decode(), end="")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf.duration_pb2 import Duration
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from .address import default_address, grpc_target
from .errors import SupgrpcError, from_rpc_error
from .types import (
    EVENT_KINDS,
    STREAM_VALUES,
    ConfigChanges,
    DaemonStatus,
    Event,
    LogChunk,
    ProcessInfo,
    ProcessResult,
)

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """TLS for TCP addresses: ``ca`` verifies the server (None: system roots); ``cert`` and
    ``key`` are the client's own pair for mutual TLS. Paths to PEM files."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None  # expected name in the server certificate, if not host


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as fh:
        return fh.read()


def _duration(seconds: float | None) -> Duration | None:
    if seconds is None:
        return None
    d = Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


class Stream(Generic[T]):
    """A server stream: iterate it for values; ``cancel()`` (from any thread) ends it.

    Iteration ends quietly after ``cancel()``; any other failure raises SupgrpcError.
    """

    def __init__(self, call: Any, convert: Callable[[Any], T]) -> None:
        self._call = call
        self._convert = convert
        self._cancelled = False

    def __iter__(self) -> Iterator[T]:
        try:
            for msg in self._call:
                yield self._convert(msg)
        except grpc.RpcError as exc:
            if self._cancelled and exc.code() is grpc.StatusCode.CANCELLED:
                return
            raise from_rpc_error(exc) from None

    def cancel(self) -> None:
        self._cancelled = True
        self._call.cancel()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class Client:
    """Connect to supgrpcd.

    Args:
        address: ``unix:///path``, ``/path`` or ``host:port``; None means the default socket
            (see docs/grpc.md).
        token: bearer token, sent on every call.
        tls: TLS settings for a TCP address (None: plaintext).
        timeout: default deadline of unary calls in seconds (None: no deadline).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        token: str | None = None,
        tls: TlsOptions | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.address = address or default_address()
        target, is_unix = grpc_target(self.address)
        options: list[tuple[str, Any]] = []
        if tls is not None and not is_unix:
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            creds = grpc.ssl_channel_credentials(
                root_certificates=_read(tls.ca),
                private_key=_read(tls.key),
                certificate_chain=_read(tls.cert),
            )
            self._channel = grpc.secure_channel(target, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._stub = pb_grpc.SupervisorServiceStub(self._channel)
        self.timeout = timeout

    # ---- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unary(self, method: Any, request: Any, timeout: float | None = -1.0) -> Any:
        deadline = self.timeout if timeout is not None and timeout < 0 else timeout
        try:
            return method(request, timeout=deadline, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    def _stream(self, method: Any, request: Any, convert: Callable[[Any], T]) -> Stream[T]:
        return Stream(method(request, metadata=self._metadata), convert)

    @staticmethod
    def _wait_deadline(wait: bool, timeout: float | None) -> float | None:
        # A waited-for action may legitimately take long (stopwaitsecs...): the RPC deadline
        # follows the wait's own timeout, with a margin for the answer.
        if timeout is not None:
            return timeout + 5.0
        return None if wait else -1.0

    # ---- state --------------------------------------------------------------------------

    def get_state(self) -> DaemonStatus:
        """The daemon's state, version, pid, identifier, start time and config file."""
        return DaemonStatus.from_pb(self._unary(self._stub.GetState, pb.GetStateRequest()))

    def list_processes(self, patterns: Sequence[str] = ()) -> list[ProcessInfo]:
        """Every process, or those matching globs on name, namespec or group."""
        reply = self._unary(
            self._stub.ListProcesses, pb.ListProcessesRequest(patterns=list(patterns))
        )
        return [ProcessInfo.from_pb(p) for p in reply.processes]

    def get_process(self, name: str) -> ProcessInfo:
        """One process. Raises NotFound."""
        reply = self._unary(self._stub.GetProcess, pb.GetProcessRequest(process=name))
        return ProcessInfo.from_pb(reply.process)

    # ---- actions ------------------------------------------------------------------------

    def start(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ProcessResult]:
        """Start ``name``, ``group:*`` or ``*``; per-process results (check ``.ok``).

        Raises:
            NotFound: the target names nothing.
            FailedPrecondition: the daemon is shutting down.
        """
        request = pb.StartProcessRequest(target=target, wait=wait, timeout=_duration(timeout))
        reply = self._unary(self._stub.StartProcess, request, self._wait_deadline(wait, timeout))
        return [ProcessResult.from_pb(r) for r in reply.results]

    def stop(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ProcessResult]:
        """Stop a target; per-process results."""
        request = pb.StopProcessRequest(target=target, wait=wait, timeout=_duration(timeout))
        reply = self._unary(self._stub.StopProcess, request, self._wait_deadline(wait, timeout))
        return [ProcessResult.from_pb(r) for r in reply.results]

    def restart(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ProcessResult]:
        """Stop what runs of a target, then start all of it; per-process results."""
        request = pb.RestartProcessRequest(target=target, wait=wait, timeout=_duration(timeout))
        reply = self._unary(self._stub.RestartProcess, request, self._wait_deadline(True, timeout))
        return [ProcessResult.from_pb(r) for r in reply.results]

    def signal(self, target: str, signal: str | int) -> list[ProcessResult]:
        """Send a signal (``HUP``, ``SIGHUP``, ``1`` or 1). Raises InvalidArgument."""
        if isinstance(signal, int):
            request = pb.SignalProcessRequest(target=target, number=signal)
        else:
            request = pb.SignalProcessRequest(target=target, name=signal)
        reply = self._unary(self._stub.SignalProcess, request)
        return [ProcessResult.from_pb(r) for r in reply.results]

    def write_stdin(self, name: str, data: bytes) -> None:
        """Write to a running process's stdin. Raises FailedPrecondition when not running."""
        self._unary(self._stub.WriteStdin, pb.WriteStdinRequest(process=name, data=data))

    # ---- logs ---------------------------------------------------------------------------

    def read_log(
        self, name: str | None, stream: str = "stdout", offset: int = 0, length: int = 0
    ) -> tuple[bytes, int]:
        """supervisor's readLog on the current file: (data, file size). ``name`` None reads
        the daemon's log; a negative ``offset`` with ``length`` 0 reads the last bytes."""
        request = pb.ReadLogRequest(
            process=name or "", stream=STREAM_VALUES[stream], offset=offset, length=length
        )
        reply = self._unary(self._stub.ReadLog, request)
        return bytes(reply.data), int(reply.file_size)

    def clear_log(self, name: str | None) -> list[ProcessResult]:
        """Clear a process's logs (``*``: all processes; None: the daemon's log)."""
        reply = self._unary(self._stub.ClearLog, pb.ClearLogRequest(process=name or ""))
        return [ProcessResult.from_pb(r) for r in reply.results]

    def tail_log(
        self,
        processes: Iterable[str] = (),
        *,
        streams: Iterable[str] = ("stdout",),
        follow: bool = False,
        tail_bytes: int | None = None,
        tail_lines: int | None = None,
        offset: int | None = None,
    ) -> Stream[LogChunk]:
        """Stream log chunks of several processes (names, ``group:*``, globs, ``*``) and/or
        the daemon log (stream ``main``). Start: ``tail_bytes``, ``tail_lines``, ``offset``
        (at most one), else the oldest byte in memory. Chunks with ``gap`` > 0 report bytes
        that left memory before this reader got them."""
        request = pb.TailLogRequest(
            processes=list(processes), streams=[STREAM_VALUES[s] for s in streams], follow=follow
        )
        if tail_bytes is not None:
            request.tail_bytes = tail_bytes
        elif tail_lines is not None:
            request.tail_lines = tail_lines
        elif offset is not None:
            request.offset = offset
        return self._stream(self._stub.TailLog, request, LogChunk.from_pb)

    def watch_events(
        self,
        *,
        after_sequence: int | None = None,
        processes: Iterable[str] = (),
        kinds: Iterable[str] = (),
    ) -> Stream[Event]:
        """Stream events as they happen (or after ``after_sequence``; 0 = oldest kept)."""
        request = pb.WatchEventsRequest(
            processes=list(processes), kinds=[EVENT_KINDS[k] for k in kinds]
        )
        if after_sequence is not None:
            request.after_sequence = after_sequence
        return self._stream(self._stub.WatchEvents, request, Event.from_pb)

    # ---- configuration and daemon -------------------------------------------------------

    def reread(self) -> ConfigChanges:
        """What a reload would change (nothing is applied)."""
        return ConfigChanges.from_pb(self._unary(self._stub.Reread, pb.RereadRequest()))

    def update(self, groups: Sequence[str] = (), *, timeout: float | None = None) -> ConfigChanges:
        """Reread and apply (optionally for named groups only)."""
        request = pb.UpdateRequest(groups=list(groups), timeout=_duration(timeout))
        reply = self._unary(self._stub.Update, request, self._wait_deadline(True, timeout))
        return ConfigChanges.from_pb(reply)

    def add_group(self, group: str) -> None:
        """Add a group from the last read config. Raises FailedPrecondition, NotFound."""
        self._unary(self._stub.AddGroup, pb.AddGroupRequest(group=group))

    def remove_group(self, group: str) -> None:
        """Remove a stopped group. Raises FailedPrecondition (still running), NotFound."""
        self._unary(self._stub.RemoveGroup, pb.RemoveGroupRequest(group=group))

    def reopen_logs(self) -> None:
        self._unary(self._stub.ReopenLogs, pb.ReopenLogsRequest())

    def shutdown(self) -> None:
        """Ask the daemon to stop everything and exit."""
        self._unary(self._stub.Shutdown, pb.ShutdownRequest())

    def health(self, service: str = "") -> str:
        """grpc.health.v1 status of ``service`` (``""``: the init; ``program:NAME``):
        ``SERVING``, ``NOT_SERVING``... Raises NotFound for an unknown service."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self._channel)
        reply = self._unary(stub.Check, health_pb2.HealthCheckRequest(service=service))
        name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return name


__all__ = ["Client", "Stream", "SupgrpcError", "TlsOptions"]
