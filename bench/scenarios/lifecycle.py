"""spawn, restart_rate, shutdown: how fast programs come and go."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness import (
    DAEMONS,
    OURS,
    REF,
    SLEEPER,
    TERM_IGNORER,
    Context,
    Program,
    Row,
    command,
    daemon,
    fmt,
    ignores_sigterm,
    make_config,
    median,
    oncpu_seconds,
    ratio_at_least,
    ratio_at_most,
    rss_kib,
    wait_until,
)


def spawn(ctx: Context) -> list[Row]:
    n = 20 if ctx.quick else 200
    programs = [Program(f"p{i:04d}", SLEEPER, {"startsecs": 0}) for i in range(n)]
    times: dict[str, list[float]] = {k: [] for k in DAEMONS}
    for kind in DAEMONS:  # untimed: fills the bytecode cache (see Context), as an install has
        with daemon(ctx, kind, "spawn-warmup", lambda work: make_config(work, programs)) as d:
            d.wait_all_running(n, interval=0.01)
            d.close_rpc()
    for _ in range(ctx.repeat):
        for kind in DAEMONS:
            with daemon(ctx, kind, "spawn", lambda work: make_config(work, programs)) as d:
                t = d.wait_all_running(n, interval=0.01)
                times[kind].append(t - d.t_start)
                d.close_rpc()
                time.sleep(0.5)  # as the rss scenario does before sampling
                rss_runs = ctx.cache.setdefault(f"rss{n}", {k: [] for k in DAEMONS})
                rss_runs[kind].append(rss_kib(d.pid) / 1024)
    ctx.note(
        f"spawn ({n} programs) seconds per repeat: "
        + ", ".join(f"{k} {[fmt(v) for v in vs]}" for k, vs in times.items())
    )
    return [
        Row(
            "spawn",
            f"daemon start → all {n} RUNNING (startsecs=0)",
            "s",
            median(times[OURS]),
            median(times[REF]),
            REF,
            "lower",
            "≤ 0.25x",
            ratio_at_most(0.25),
        )
    ]


def _spawned(main_log: Path) -> int:
    try:
        return main_log.read_bytes().count(b"spawned: ")
    except OSError:
        return 0


def restart_rate(ctx: Context) -> list[Row]:
    window = 2.0 if ctx.quick else 10.0
    programs = [
        Program(
            "t", command(["/bin/true"]), {"startsecs": 0, "autorestart": "true", "startretries": 3}
        )
    ]
    rate: dict[str, list[float]] = {k: [] for k in DAEMONS}
    cost: dict[str, list[float]] = {k: [] for k in DAEMONS}
    for _ in range(ctx.repeat):
        for kind in DAEMONS:
            with daemon(ctx, kind, "restart", lambda work: make_config(work, programs)) as d:
                d.wait_ready()
                d.close_rpc()
                time.sleep(1.0)
                main_log = d.dir / "main.log"
                n0, c0, t0 = _spawned(main_log), oncpu_seconds(d.pid), time.monotonic()
                time.sleep(window)
                n1, c1, t1 = _spawned(main_log), oncpu_seconds(d.pid), time.monotonic()
                d.check_alive()
                state = d.rpc().supervisor.getProcessInfo("t")["statename"]
            spawns = n1 - n0
            rate[kind].append(spawns / (t1 - t0) * 10.0)
            cost[kind].append((c1 - c0) * 1000.0 / spawns if spawns else float("nan"))
            if state in ("FATAL", "BACKOFF") or not spawns:
                ctx.note(f"restart_rate: {kind} ended the window in {state} after {spawns} spawns")
    ctx.note(
        "restart_rate spawns/10 s per repeat: "
        + ", ".join(f"{k} {[fmt(v) for v in vs]}" for k, vs in rate.items())
        + "; daemon CPU ms/spawn: "
        + ", ".join(f"{k} {[fmt(v) for v in vs]}" for k, vs in cost.items())
    )
    return [
        Row(
            "restart_rate",
            "`/bin/true` autorestart, startsecs=0: spawns per 10 s",
            "spawns",
            median(rate[OURS]),
            median(rate[REF]),
            REF,
            "higher",
            "≥ 1x",
            ratio_at_least(1.0),
        ),
        Row(
            "restart_rate",
            "daemon CPU per spawn",
            "ms",
            median(cost[OURS]),
            median(cost[REF]),
            REF,
            "lower",
            "bounded; reported",
        ),
    ]


def _shutdown_once(
    ctx: Context, kind: str, prompt: int, stubborn: int, stopwait: int
) -> float | None:
    programs = [Program(f"p{i:03d}", SLEEPER, {"startsecs": 0}) for i in range(prompt)]
    programs += [
        Program(f"s{i:03d}", TERM_IGNORER, {"startsecs": 0, "stopwaitsecs": stopwait})
        for i in range(stubborn)
    ]
    label = "shutdown-term" if stubborn else "shutdown"
    with daemon(ctx, kind, label, lambda work: make_config(work, programs)) as d:
        d.wait_all_running(len(programs), interval=0.02)
        if stubborn:
            pids = [p["pid"] for p in d.all_info() if p["name"].startswith("s")]
            wait_until(
                lambda: all(ignores_sigterm(p) for p in pids),
                10,
                what="the SIGTERM-ignoring programs to install SIG_IGN",
            )
        d.close_rpc()
        time.sleep(0.2)
        return d.stop(timeout=60)


def shutdown(ctx: Context) -> list[Row]:
    prompt = 10 if ctx.quick else 50
    stubborn, stopwait = 5, 2
    cases: dict[str, dict[str, list[float | None]]] = {
        "prompt": {k: [] for k in DAEMONS},
        "stubborn": {k: [] for k in DAEMONS},
    }
    for _ in range(ctx.repeat):
        for kind in DAEMONS:
            cases["prompt"][kind].append(_shutdown_once(ctx, kind, prompt, 0, stopwait))
            cases["stubborn"][kind].append(_shutdown_once(ctx, kind, 0, stubborn, stopwait))
    ctx.note(
        "shutdown seconds per repeat: "
        + "; ".join(
            f"{case}: " + ", ".join(f"{k} {[fmt(v) for v in vs]}" for k, vs in by.items())
            for case, by in cases.items()
        )
    )
    med: dict[str, dict[str, Any]] = {
        c: {k: median(v) for k, v in by.items()} for c, by in cases.items()
    }
    return [
        Row(
            "shutdown",
            f"SIGTERM → exit, {prompt} prompt programs",
            "s",
            med["prompt"][OURS],
            med["prompt"][REF],
            REF,
            "lower",
            "≤ 1x",
            ratio_at_most(1.0),
        ),
        Row(
            "shutdown",
            f"SIGTERM → exit, {stubborn} ignoring SIGTERM, stopwaitsecs={stopwait}",
            "s",
            med["stubborn"][OURS],
            med["stubborn"][REF],
            REF,
            "lower",
            f"≤ 1x and ≈ {stopwait} s (≤ {stopwait + 1} s)",
            lambda r: ratio_at_most(1.0)(r) and r.ours is not None and r.ours <= stopwait + 1.0,
        ),
    ]


SCENARIOS = {"spawn": spawn, "restart_rate": restart_rate, "shutdown": shutdown}
