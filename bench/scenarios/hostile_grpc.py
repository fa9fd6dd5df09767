"""hostile_load (issue 11, item 9): control RPCs while clients hold calls open.

100 raw HTTP/2 connections send ListProcesses' headers and never a body, 16 reflection streams
ask nothing, 1000 TailLog followers sit idle; meanwhile ListProcesses is timed, against the
same daemon with none of that load (ratio). supgrpcd only: supervisord has no gRPC.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

from harness import (
    OURS,
    SLEEPER,
    Context,
    Program,
    Row,
    daemon,
    make_config,
    median,
    value_at_most,
)

HALF_OPEN = 100
REFLECTION = 16
FOLLOWERS = 1000
CALLS = 20


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    head = struct.pack(">I", len(payload))[1:] + bytes([kind, flags])
    return head + struct.pack(">I", stream) + payload


def _literal(name: str, value: str) -> bytes:
    return b"\0" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()


def half_open(path: str) -> socket.socket:
    """Headers for ListProcesses, no body; returns once the server has read them (PING ACK)."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)
    sock.connect(path)
    fields = (
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/supgrpc.v1.SupervisorService/ListProcesses"),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    )
    headers = b"".join(_literal(k, v) for k, v in fields)
    sock.sendall(
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        + _frame(4, 0, 0, b"")
        + _frame(1, 4, 1, headers)
        + _frame(6, 0, 0, b"halfopen")
    )
    seen = b""
    while b"halfopen" not in seen:
        data = sock.recv(65536)
        if not data:
            break
        seen = seen[-64:] + data
    return sock


def _never(release: threading.Event) -> Iterator[Any]:
    release.wait(300)
    return
    yield


def _latencies(stub: Any, pb: Any) -> list[float]:
    out = []
    for _ in range(CALLS):
        t0 = time.monotonic()
        try:
            stub.ListProcesses(pb.ListProcessesRequest(), timeout=10)
        except Exception:
            out.append(10.0)  # the deadline: it did not answer
            continue
        out.append(time.monotonic() - t0)
    return out


def hostile_load(ctx: Context) -> list[Row]:
    import grpc
    from supgrpc.v1 import supervisor_pb2 as pb
    from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

    followers_n = 100 if ctx.quick else FOLLOWERS
    programs = [Program("echo", SLEEPER, {"startsecs": 0})]
    with daemon(ctx, OURS, "hostile", lambda work: make_config(work, programs)) as d:
        d.wait_all_running(1)
        target = f"unix:{d.grpc_sock}"
        channel = grpc.insecure_channel(target)
        stub = pb_grpc.SupervisorServiceStub(channel)
        idle = _latencies(stub, pb)
        release = threading.Event()
        sockets = [half_open(str(d.grpc_sock)) for _ in range(HALF_OPEN)]
        opts = (("grpc.use_local_subchannel_pool", 1),)
        side = [grpc.insecure_channel(target, options=opts) for _ in range(REFLECTION + 4)]
        try:
            for ch in side[:REFLECTION]:
                ch.stream_stream(
                    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                    request_serializer=lambda m: m,
                    response_deserializer=lambda b: b,
                )(_never(release), timeout=300)
            request = pb.TailLogRequest(processes=["echo"], follow=True, offset=0)
            calls = [
                pb_grpc.SupervisorServiceStub(side[REFLECTION + i % 4]).TailLog(request)
                for i in range(followers_n)
            ]
            for ch in side:
                grpc.channel_ready_future(ch).result(timeout=30)
            loaded = _latencies(stub, pb)
            refused = sum(1 for c in calls if c.done())
            for c in calls:
                c.cancel()
        finally:
            release.set()
            for sock in sockets:
                sock.close()
            for ch in side:
                ch.close()
            channel.close()
    ctx.note(
        f"hostile_load: ListProcesses idle max {max(idle) * 1000:.1f} ms, under load max "
        f"{max(loaded) * 1000:.1f} ms; followers ended early: {refused}/{followers_n}"
    )
    label = f"{HALF_OPEN} half-open calls, {REFLECTION} reflection streams, {followers_n} followers"
    return [
        Row(
            "hostile_load",
            f"ListProcesses worst latency with {label} (10 s = no answer)",
            "ms",
            max(loaded) * 1000,
            max(idle) * 1000,
            "no load",
            "lower",
            "answers (< 1 s)",
            value_at_most(1000.0),
        ),
        Row(
            "hostile_load",
            "ListProcesses median latency under that load",
            "ms",
            (median(loaded) or 0) * 1000,
            (median(idle) or 0) * 1000,
            "no load",
            "lower",
        ),
        Row(
            "hostile_load",
            "followers refused or ended early",
            "streams",
            refused,
            better="lower",
            target="0",
            check=value_at_most(0),
        ),
    ]


SCENARIOS = {"hostile_load": hostile_load}
