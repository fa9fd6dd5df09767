"""rpc and scale: the control plane under many programs.

XML-RPC: the same ``xmlrpc.client`` (one kept-alive HTTP/1.1 connection over the unix socket)
for both daemons, one call at a time, so calls/s = 1 / round-trip latency including the
client's own XML parsing. gRPC: the generated stub (``client/supgrpc/v1``), one call at a time
on one channel.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from harness import (
    DAEMONS,
    OURS,
    REF,
    SLEEPER,
    BenchDaemon,
    Context,
    Program,
    Row,
    daemon,
    fmt,
    idle_window,
    make_config,
    median,
    ratio_at_least,
    ratio_at_most,
    value_at_most,
    wait_until,
)


def calls_per_second(fn: Callable[[], Any], window: float) -> float:
    fn()  # warm
    n = 0
    t0 = time.monotonic()
    end = t0 + window
    while True:
        fn()
        n += 1
        now = time.monotonic()
        if now >= end:
            return n / (now - t0)


class Grpc:
    """The generated stub on the daemon's gRPC socket."""

    def __init__(self, d: BenchDaemon) -> None:
        import grpc
        from supgrpc.v1 import supervisor_pb2 as pb
        from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

        wait_until(lambda: os.path.exists(d.grpc_sock), 10, "the gRPC socket", backoff=False)
        self.pb = pb
        self.channel = grpc.insecure_channel(f"unix:{d.grpc_sock}")
        self.stub = pb_grpc.SupervisorServiceStub(self.channel)

    def list_processes(self) -> int:
        return len(self.stub.ListProcesses(self.pb.ListProcessesRequest(), timeout=60).processes)

    def get_state(self) -> Any:
        return self.stub.GetState(self.pb.GetStateRequest(), timeout=60)

    def close(self) -> None:
        self.channel.close()


def _programs(n: int) -> list[Program]:
    return [Program(f"p{i:04d}", SLEEPER, {"startsecs": 0}) for i in range(n)]


def rpc(ctx: Context) -> list[Row]:
    n = 20 if ctx.quick else 200
    window = 0.3 if ctx.quick else 1.0
    res: dict[str, dict[str, list[float]]] = {k: {} for k in DAEMONS}
    for _ in range(ctx.repeat):
        for kind in DAEMONS:
            with daemon(ctx, kind, "rpc", lambda work: make_config(work, _programs(n))) as d:
                d.wait_all_running(n, interval=0.02)
                s = d.rpc().supervisor
                got = {
                    "getState": calls_per_second(s.getState, window),
                    "getAllProcessInfo": calls_per_second(s.getAllProcessInfo, window),
                }
                if kind == OURS:
                    g = Grpc(d)
                    try:
                        if g.list_processes() != n:
                            raise RuntimeError("ListProcesses did not list every process")
                        got["ListProcesses"] = calls_per_second(g.list_processes, window)
                        got["GetState"] = calls_per_second(g.get_state, window)
                    finally:
                        g.close()
            for key, value in got.items():
                res[kind].setdefault(key, []).append(value)
    ctx.note(
        "rpc calls/s per repeat: "
        + "; ".join(
            f"{k} " + ", ".join(f"{m} {[fmt(v) for v in vs]}" for m, vs in by.items())
            for k, by in res.items()
        )
    )
    ours = {m: median(v) for m, v in res[OURS].items()}
    ref = {m: median(v) for m, v in res[REF].items()}
    return [
        Row(
            "rpc",
            "XML-RPC getState calls/s",
            "calls/s",
            ours["getState"],
            ref["getState"],
            REF,
            "higher",
            "≥ 1x",
            ratio_at_least(1.0),
        ),
        Row(
            "rpc",
            f"XML-RPC getAllProcessInfo calls/s ({n} programs)",
            "calls/s",
            ours["getAllProcessInfo"],
            ref["getAllProcessInfo"],
            REF,
            "higher",
            "≥ 1x",
            ratio_at_least(1.0),
        ),
        Row(
            "rpc",
            "gRPC ListProcesses vs supervisord's getAllProcessInfo",
            "calls/s",
            ours["ListProcesses"],
            ref["getAllProcessInfo"],
            REF + " getAllProcessInfo",
            "higher",
            "≥ 3x",
            ratio_at_least(3.0),
        ),
        Row(
            "rpc",
            "gRPC GetState vs supervisord's getState, info",
            "calls/s",
            ours["GetState"],
            ref["getState"],
            REF + " getState",
            "higher",
        ),
    ]


def _latency_ms(fn: Callable[[], Any], calls: int) -> float:
    fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def _scale_once(ctx: Context, n: int) -> dict[str, float]:
    window = 1.0 if ctx.quick else 3.0
    with daemon(ctx, OURS, f"scale{n}", lambda work: make_config(work, _programs(n))) as d:
        t_all = d.wait_all_running(n, timeout=300, interval=0.02) - d.t_start
        s = d.rpc().supervisor
        xml_ms = _latency_ms(s.getAllProcessInfo, 5)
        g = Grpc(d)
        try:
            grpc_ms = _latency_ms(g.list_processes, 10)
        finally:
            g.close()
        d.close_rpc()
        time.sleep(1.0)
        idle = idle_window(d.pid, window)
    return {
        "start": t_all,
        "list_ms": grpc_ms,
        "xml_ms": xml_ms,
        "cpu_pct": idle["cpu_pct"],
        "wakeups": idle["wakeups_per_s"],
    }


def scale(ctx: Context) -> list[Row]:
    small, big = (20, 100) if ctx.quick else (200, 1000)
    res: dict[int, list[dict[str, float]]] = {small: [], big: []}
    for _ in range(ctx.repeat):
        for n in (small, big):
            res[n].append(_scale_once(ctx, n))
    ctx.note(
        "scale per repeat: "
        + "; ".join(
            f"{n}: " + ", ".join(f"{k}={fmt(r[k])}" for r in rs for k in r) for n, rs in res.items()
        )
    )
    m = {n: {k: median([r[k] for r in rs]) for k in rs[0]} for n, rs in res.items()}
    times = big // small
    linear = f"≤ {times * 1.5:.1f}x (linear = {times}x)"
    return [
        Row(
            "scale",
            f"start → all {big} RUNNING (ref: {small})",
            "s",
            m[big]["start"],
            m[small]["start"],
            f"{small} programs",
            "lower",
            linear,
            ratio_at_most(times * 1.5),
        ),
        Row(
            "scale",
            f"gRPC ListProcesses latency, {big} (ref: {small})",
            "ms",
            m[big]["list_ms"],
            m[small]["list_ms"],
            f"{small} programs",
            "lower",
            linear,
            ratio_at_most(times * 1.5),
        ),
        Row(
            "scale",
            f"XML-RPC getAllProcessInfo latency, {big} (ref: {small}), info",
            "ms",
            m[big]["xml_ms"],
            m[small]["xml_ms"],
            f"{small} programs",
            "lower",
            linear,
            ratio_at_most(times * 1.5),
        ),
        Row(
            "scale",
            f"idle CPU with {big} programs",
            "%",
            m[big]["cpu_pct"],
            m[small]["cpu_pct"],
            f"{small} programs",
            "lower",
            "≈ 0 (≤ 0.01%)",
            value_at_most(0.01),
        ),
        Row(
            "scale",
            f"idle wake-ups/s with {big} programs",
            "1/s",
            m[big]["wakeups"],
            m[small]["wakeups"],
            f"{small} programs",
            "lower",
            "≤ 0.1/s",
            value_at_most(0.1),
        ),
    ]


SCENARIOS = {"rpc": rpc, "scale": scale}
