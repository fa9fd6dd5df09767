"""idle_cpu and rss: what the daemon costs while nothing happens.

Wake-ups are voluntary context switches summed over every thread of the daemon
(/proc/<pid>/task/*/status); CPU is utime+stime of the whole process (/proc/<pid>/stat).
The XML-RPC connection used to wait for RUNNING is closed and the daemon left alone for 1 s
before the window opens.
"""

from __future__ import annotations

import time
from typing import Any

from harness import (
    DAEMONS,
    OURS,
    REF,
    SLEEPER,
    Context,
    Program,
    Row,
    daemon,
    fmt,
    idle_window,
    make_config,
    median,
    ratio_at_most,
    rss_kib,
    value_at_most,
)

SETTLE = 1.0


def sleepers(n: int, **options: Any) -> list[Program]:
    return [Program(f"p{i:04d}", SLEEPER, dict(options)) for i in range(n)]


def idle_cpu(ctx: Context) -> list[Row]:
    n = 50
    window = 2.0 if ctx.quick else 20.0
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in DAEMONS}
    for i in range(ctx.repeat):
        for kind in DAEMONS:
            with daemon(ctx, kind, "idle", lambda work: make_config(work, sleepers(n))) as d:
                d.wait_all_running(n, interval=0.05)
                d.close_rpc()
                time.sleep(SETTLE)
                w = idle_window(d.pid, window)
            runs[kind].append(w)
            ctx.note(
                f"idle_cpu repeat {i + 1} {kind}: {w['wakeups_per_s']:.3f} wake-ups/s, "
                f"{w['cpu_ms']:.1f} ms CPU in {w['seconds']:.1f} s; "
                f"by thread: {w['threads'] or 'none'}"
            )
    # Evidence for where wake-ups come from: the same daemon without its gRPC server (once,
    # over a shorter window: it is an explanation, not a target).
    with daemon(
        ctx, OURS, "idle-nogrpc", lambda work: make_config(work, sleepers(n)), extra=["--no-grpc"]
    ) as d:
        d.wait_all_running(n, interval=0.05)
        d.close_rpc()
        time.sleep(SETTLE)
        bare = idle_window(d.pid, min(window, 10.0))
    ctx.note(
        f"idle_cpu supgrpcd --no-grpc: {bare['wakeups_per_s']:.3f} wake-ups/s, "
        f"{bare['cpu_ms']:.1f} ms CPU; by thread: {bare['threads'] or 'none'}"
    )
    wake = {k: median([r["wakeups_per_s"] for r in v]) for k, v in runs.items()}
    cpu = {k: median([r["cpu_pct"] for r in v]) for k, v in runs.items()}
    return [
        Row(
            "idle_cpu",
            f"wake-ups/s ({n} sleeping programs, {window:.0f} s window)",
            "1/s",
            wake[OURS],
            wake[REF],
            REF,
            "lower",
            "≤ 0.1/s",
            value_at_most(0.1),
        ),
        Row(
            "idle_cpu",
            "CPU, % of one core",
            "%",
            cpu[OURS],
            cpu[REF],
            REF,
            "lower",
            "≈ 0 (≤ 0.01%)",
            value_at_most(0.01),
        ),
        Row(
            "idle_cpu",
            "CPU of supgrpcd --no-grpc (one run), info",
            "%",
            bare["cpu_pct"],
            cpu[REF],
            REF,
            "lower",
        ),
        Row(
            "idle_cpu",
            "wake-ups/s of supgrpcd --no-grpc (one run), info",
            "1/s",
            bare["wakeups_per_s"],
            wake[REF],
            REF,
            "lower",
            note="isolates gRPC's share",
        ),
    ]


def _rss_once(ctx: Context, kind: str, n: int, extra: tuple[str, ...] = ()) -> tuple[int, float]:
    with daemon(
        ctx, kind, f"rss{n}", lambda work: make_config(work, sleepers(n, startsecs=0)), extra
    ) as d:
        if n:
            d.wait_all_running(n, interval=0.05)
            ready = 0.0
        else:
            d.wait_ready()
            ready = time.monotonic() - d.t_start
        d.close_rpc()
        time.sleep(0.5)
        return rss_kib(d.pid), ready


def rss(ctx: Context) -> list[Row]:
    many = 20 if ctx.quick else 200
    rows: list[Row] = []
    ready: dict[str, list[float]] = {k: [] for k in DAEMONS}
    for n in (0, many):
        # The spawn scenario runs the very same config (n sleepers, startsecs=0) and samples
        # VmRSS the same way once all are RUNNING: reuse its figures rather than start again.
        vals: dict[str, list[float]] = {
            k: list(v) for k, v in ctx.cache.get(f"rss{n}", {k: [] for k in DAEMONS}).items()
        }
        for _ in range(ctx.repeat - min(len(v) for v in vals.values())):
            for kind in DAEMONS:
                kib, t = _rss_once(ctx, kind, n)
                vals[kind].append(kib / 1024)
                if not n:
                    ready[kind].append(t)
        ctx.note(
            f"rss with {n} programs (MiB per repeat): "
            + ", ".join(f"{k} {[fmt(v) for v in vs]}" for k, vs in vals.items())
        )
        rows.append(
            Row(
                "rss",
                f"VmRSS with {n} programs",
                "MiB",
                median(vals[OURS]),
                median(vals[REF]),
                REF,
                "lower",
                "≤ 1.5x",
                ratio_at_most(1.5),
            )
        )
    bare = [_rss_once(ctx, OURS, 0, ("--no-grpc",))[0] / 1024 for _ in range(ctx.repeat)]
    rows.append(
        Row(
            "rss",
            "VmRSS with 0 programs, supgrpcd --no-grpc, info",
            "MiB",
            median(bare),
            rows[0].ref,
            REF,
            "lower",
            note="isolates gRPC's share",
        )
    )
    rows.append(
        Row(
            "rss",
            "start → first getState answer (0 programs), info",
            "s",
            median(ready[OURS]),
            median(ready[REF]),
            REF,
            "lower",
        )
    )
    return rows


SCENARIOS = {"idle_cpu": idle_cpu, "rss": rss}
