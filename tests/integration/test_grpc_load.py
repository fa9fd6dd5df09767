"""Idle and hostile load must not starve control or health (issue 11, item 9).

Calls that never send their request message, reflection streams that never ask anything and
a thousand idle log followers each used to pin one of the server's 16 handler threads (or one
of its 8 streaming slots): ListProcesses then timed out without any token being needed. The
front-end now runs on grpc.aio, so none of them holds a thread.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from tests.support import free_port, grpc_daemon, py, short_tmpdir
from tests.support.grpc_clients import TOKEN, auth, wait_state

HALF_OPEN = 100
HEALTH_HALF_OPEN = 16  # 4 took the health-only port down
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
REFLECTION_STREAMS = 16
FOLLOWERS = 1000
FOLLOWER_CHANNELS = 4
# Generous: the point is "answers", not "answers fast"; on main these never answered.
ANSWER_WITHIN = 5.0
ECHO = py("import sys; [sys.stdout.write(line) for line in sys.stdin]")


def _separate(target: str) -> Any:
    """A channel with its own TCP connection (grpc shares subchannels by default)."""
    return grpc.insecure_channel(target, options=(("grpc.use_local_subchannel_pool", 1),))


def _never(release: threading.Event) -> Iterator[Any]:
    release.wait(120)
    return
    yield  # a generator that sends nothing until released


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


def _literal(name: str, value: str) -> bytes:
    """HPACK "literal header field without indexing", new name, no Huffman."""
    return b"\0" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()


def _half_open(
    port: int, path: str = "/supgrpc.v1.SupervisorService/ListProcesses"
) -> socket.socket:
    """A raw HTTP/2 connection that sends ListProcesses' headers (no token) and never a body.

    A PING follows the headers; its ACK proves the server has read them.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    headers = b"".join(
        _literal(k, v)
        for k, v in (
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", f"127.0.0.1:{port}"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        )
    )
    sock.sendall(
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        + _frame(4, 0, 0, b"")  # SETTINGS
        + _frame(1, 4, 1, headers)  # HEADERS, END_HEADERS, no END_STREAM
        + _frame(6, 0, 0, b"halfopen")  # PING
    )
    seen = b""
    while b"halfopen" not in seen:  # the PING ACK (frames read in order)
        data = sock.recv(65536)
        assert data, "the server closed a half-open connection"
        seen = seen[-64:] + data
    return sock


def _reflection(channel: Any, release: threading.Event) -> Any:
    call = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=lambda m: m,
        response_deserializer=lambda b: b,
    )
    return call(_never(release), metadata=auth(), timeout=120)


def test_half_open_calls_reflection_and_idle_followers_starve_nothing() -> None:
    port, health_port = free_port(), free_port()
    workdir = short_tmpdir()
    d = grpc_daemon(
        workdir,
        f"[program:echo]\ncommand = {ECHO}\nstartsecs = 0\n",
        grpc_section=(
            f"listen = unix://{workdir}/g.sock, 127.0.0.1:{port}\n"
            f"token = {TOKEN}\nhealth_listen = 127.0.0.1:{health_port}\n"
        ),
    )
    d.start()
    target = f"127.0.0.1:{port}"
    release = threading.Event()
    channels: list[Any] = []
    sockets: list[socket.socket] = []
    try:
        stub = pb_grpc.SupervisorServiceStub(d.channel(target))
        wait_state(stub, "echo", pb.PROCESS_STATE_RUNNING, auth())

        sockets = [_half_open(port) for _ in range(HALF_OPEN)]
        sockets += [_half_open(health_port, HEALTH_CHECK) for _ in range(HEALTH_HALF_OPEN)]
        for _ in range(REFLECTION_STREAMS):
            channels.append(_separate(target))
            _reflection(channels[-1], release)
        follower_channels = [_separate(target) for _ in range(FOLLOWER_CHANNELS)]
        channels += follower_channels
        request = pb.TailLogRequest(processes=["echo"], follow=True, offset=0)
        followers = [
            pb_grpc.SupervisorServiceStub(follower_channels[i % FOLLOWER_CHANNELS]).TailLog(
                request, metadata=auth(), timeout=120
            )
            for i in range(FOLLOWERS)
        ]

        for channel in channels:  # every connection is up and its call sent
            grpc.channel_ready_future(channel).result(timeout=30)

        health = health_pb2_grpc.HealthStub(_separate(f"127.0.0.1:{health_port}"))
        for _ in range(5):
            started = time.monotonic()
            reply = stub.ListProcesses(
                pb.ListProcessesRequest(), metadata=auth(), timeout=ANSWER_WITHIN
            )
            assert [p.name for p in reply.processes] == ["echo"]
            status = health.Check(health_pb2.HealthCheckRequest(), timeout=ANSWER_WITHIN)
            assert status.status == health_pb2.HealthCheckResponse.SERVING
            assert time.monotonic() - started < 2 * ANSWER_WITHIN

        # Every follower was admitted and is live: one line reaches all of them.
        stub.WriteStdin(
            pb.WriteStdinRequest(process="echo", data=b"ping\n"), metadata=auth(), timeout=5
        )
        for call in followers:
            first = next(call)
            assert first.data == b"ping\n"
        for call in followers:
            call.cancel()
    finally:
        release.set()
        for sock in sockets:
            sock.close()
        for channel in channels:
            channel.close()
        d.close()
