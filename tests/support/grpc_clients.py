"""The gRPC side of a test daemon: channels, raw stubs and typed clients, bearer metadata,
and polling a process's state over RPC.

Owns: ``GrpcClients`` (mixed into ``Daemon``), ``TOKEN``/``auth``, ``with_metadata``,
``process_state``/``wait_state``, ``RPC_ERRORS``.
May import: grpc, the generated ``supgrpc`` package, ``supgrpc_client``, ``tests.support.wait``.
Threading: channels and stubs are grpc's (thread-safe); the helpers run in the calling thread.
"""

from __future__ import annotations

import collections
from typing import Any

import grpc
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc
from supgrpc_client import Client

from tests.support.wait import wait_until

TOKEN = "test-token-5f2c"
# What "the daemon is not answering yet" looks like while polling over RPC.
RPC_ERRORS: tuple[type[BaseException], ...] = (grpc.RpcError, OSError, AssertionError)
# Fast reconnects: a channel created before the daemon listens must not sit in grpc's
# default 1 s reconnect backoff.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 200),
)


class GrpcClients:
    """Client constructors for a daemon with ``grpc_sock`` (unix) and ``port`` (TCP)."""

    grpc_sock: str
    port: int

    @property
    def unix_address(self) -> str:
        return f"unix://{self.grpc_sock}"

    @property
    def tcp_address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self, address: str | None = None, credentials: Any = None) -> Any:
        address = address or self.unix_address
        target = address.replace("unix://", "unix:")
        if credentials is not None:
            return grpc.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
        return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)

    def stub(self, address: str | None = None) -> pb_grpc.SupervisorServiceStub:
        return pb_grpc.SupervisorServiceStub(self.channel(address))

    def client(self, address: str | None = None, token: str | None = None, **kwargs: Any) -> Client:
        return Client(address or self.unix_address, token=token, **kwargs)


def auth(token: str = TOKEN) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def process_state(stub: Any, name: str, metadata: Any = ()) -> int:
    reply = stub.GetProcess(pb.GetProcessRequest(process=name), metadata=metadata, timeout=5)
    return int(reply.process.state)


def wait_state(stub: Any, name: str, state: int, metadata: Any = (), timeout: float = 10.0) -> None:
    wait_until(
        lambda: process_state(stub, name, metadata) == state,
        timeout,
        f"{name} to reach {pb.ProcessState.Name(pb.ProcessState.ValueType(state))}",
        retry_on=RPC_ERRORS,
    )


class _Details(
    collections.namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,  # type: ignore[misc]
):
    pass


class _AddMetadata(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,
):  # type: ignore[misc]
    """For clients we do not build the calls of (reflection, health): add our metadata."""

    def __init__(self, metadata: Any) -> None:
        self._metadata = tuple(metadata)

    def _details(self, d: Any) -> _Details:
        return _Details(
            d.method,
            d.timeout,
            (*(d.metadata or ()), *self._metadata),
            d.credentials,
            getattr(d, "wait_for_ready", None),
            getattr(d, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


def with_metadata(channel: Any, metadata: Any) -> Any:
    return grpc.intercept_channel(channel, _AddMetadata(metadata))
