"""log_throughput, log_throughput_rotating, log_fanout.

Timing: the generator stamps its start (``time.monotonic()``, system-wide) before its first
byte; the bench polls the log file sizes every 2 ms and stops the clock when the last byte is
in the file (page cache; nobody fsyncs, in any variant). Then every line is checked: present
once and in order (``gen_lines.verify``).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gen_lines import verify
from harness import (
    GEN,
    OURS,
    PYTHON,
    REF,
    Context,
    Program,
    Row,
    command,
    daemon,
    fmt,
    make_config,
    median,
    oncpu_seconds,
    ratio_at_least,
    value_at_most,
    wait_until,
)

MiB = 1 << 20
F_SETPIPE_SZ = 1031
POLL = 0.002


def log_files(path: Path) -> list[Path]:
    """``path.N`` ... ``path.1``, ``path``: oldest first, as the bytes were written."""
    backups = []
    for p in path.parent.glob(path.name + ".*"):
        suffix = p.name[len(path.name) + 1 :]
        if suffix.isdigit():
            backups.append((int(suffix), p))
    return [p for _, p in sorted(backups, reverse=True)] + ([path] if path.exists() else [])


def total_size(path: Path) -> int:
    size = 0
    for p in log_files(path):
        try:
            size += p.stat().st_size
        except OSError:
            pass
    return size


def read_stamp(path: Path) -> list[float]:
    try:
        return [float(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return []


def wait_for_bytes(
    path: Path, total: int, stamp: Path, timeout: float, alive: Callable[[], None] = lambda: None
) -> float | None:
    """Monotonic time at which the files of ``path`` hold ``total`` bytes; None when the
    generator has finished and nothing more arrived for 3 s (bytes were lost)."""
    deadline = time.monotonic() + timeout
    last_size, last_change = -1, time.monotonic()
    while True:
        size = total_size(path)
        now = time.monotonic()
        if size >= total:
            return now
        if size != last_size:
            last_size, last_change = size, now
        elif len(read_stamp(stamp)) >= 2 and now - last_change > 3.0:
            return None
        if now > deadline:
            raise TimeoutError(f"{path}: {size} of {total} bytes after {timeout:.0f}s")
        alive()
        time.sleep(POLL)


def _gen_argv(total: int, stamp: Path) -> list[str]:
    return [PYTHON, GEN, "--bytes", str(total), "--stamp", str(stamp)]


def raw_run(ctx: Context, total: int, mode: str) -> dict[str, Any]:
    """The physical limit, three ways: the same generator through a default (64 KiB) pipe
    into ``cat > file`` (``cat``); through a pipe enlarged to 1 MiB like supgrpcd's into
    ``dd bs=1M of=file`` (``dd``); or with stdout straight to the file, no pipe (``file``)."""
    work = ctx.workdir(f"raw-{mode}")
    out, stamp = work / "out.log", work / "stamp"
    procs: list[subprocess.Popen[bytes]] = []
    sink_cpu = None
    try:
        if mode == "file":
            with open(out, "wb") as f:
                procs.append(subprocess.Popen(_gen_argv(total, stamp), stdout=f))
        else:
            r, w = os.pipe()
            try:
                if mode == "dd":
                    fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
                    sink = ["dd", "bs=1M", f"of={out}", "status=none"]
                    procs.append(subprocess.Popen(sink, stdin=r))
                else:
                    with open(out, "wb") as f:
                        procs.append(subprocess.Popen(["cat"], stdin=r, stdout=f))
                procs.append(subprocess.Popen(_gen_argv(total, stamp), stdout=w))
            finally:
                os.close(r)
                os.close(w)
        t_end = wait_for_bytes(out, total, stamp, 120)
        if mode != "file":
            # The sink's own CPU time (its rusage: it lived only for the transfer).
            sink = procs[0]
            _, status, usage = os.wait4(sink.pid, 0)
            sink.returncode = os.waitstatus_to_exitcode(status)
            sink_cpu = usage.ru_utime + usage.ru_stime
        for p in procs:
            p.wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    t0 = read_stamp(stamp)[0]
    check = verify([str(out)], total)
    return {"seconds": None if t_end is None else t_end - t0, "verify": check, "cpu": sink_cpu}


def daemon_run(
    ctx: Context, kind: str, label: str, total: int, maxbytes: str, backups: int
) -> dict[str, Any]:
    def config(work: Path) -> str:
        return make_config(
            work,
            [
                Program(
                    "gen",
                    command(_gen_argv(total, work / "stamp")),
                    {
                        "stdout_logfile": work / "out.log",
                        "stdout_logfile_maxbytes": maxbytes,
                        "stdout_logfile_backups": backups,
                        "stderr_logfile": work / "err.log",
                        "startsecs": 0,
                        "startretries": 0,
                        "autorestart": "false",
                    },
                )
            ],
        )

    with daemon(ctx, kind, label, config) as d:
        out, stamp = d.dir / "out.log", d.dir / "stamp"
        # The daemon's CPU time from the generator's first byte to the last byte on disk.
        wait_until(
            lambda: stamp.exists() or d.check_alive(),
            60,
            "the generator",
            interval=0.001,
            backoff=False,
        )
        cpu0 = oncpu_seconds(d.pid)
        t_end = wait_for_bytes(out, total, stamp, 600, d.check_alive)
        cpu = oncpu_seconds(d.pid) - cpu0
        t0 = read_stamp(stamp)[0]
        check = verify([str(p) for p in log_files(out)], total)
        files = len(log_files(out))
    return {
        "seconds": None if t_end is None else t_end - t0,
        "verify": check,
        "cpu": cpu,
        "files": files,
    }


def _rate(total: int, run: dict[str, Any]) -> float | None:
    return None if run["seconds"] is None else total / MiB / run["seconds"]


def _cpu_per_gib(total: int, run: dict[str, Any]) -> float | None:
    """CPU seconds the sink (cat, dd or the daemon) spent per GiB moved."""
    return None if run.get("cpu") is None else run["cpu"] / (total / (1 << 30))


def _lost(run: dict[str, Any]) -> int:
    v = run["verify"]
    return int(v["lost"]) + int(v["duplicated"]) + int(v["out_of_order"]) + int(v["garbled"])


def log_throughput(ctx: Context) -> list[Row]:
    total = (8 if ctx.quick else 256) * MiB
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in ("cat", "dd", "file", OURS, REF)}
    for i in range(ctx.repeat):
        for mode in ("cat", "dd", "file"):
            runs[mode].append(raw_run(ctx, total, mode))
        for kind in (OURS, REF):
            runs[kind].append(daemon_run(ctx, kind, "logtp", total, "0", 0))
        ctx.note(
            f"log_throughput repeat {i + 1}: "
            + ", ".join(f"{k} {fmt(_rate(total, v[-1]))} MiB/s" for k, v in runs.items())
            + "; sink CPU s/GiB: "
            + ", ".join(
                f"{k} {fmt(_cpu_per_gib(total, v[-1]))}" for k, v in runs.items() if k != "file"
            )
        )
    rate = {k: median([_rate(total, r) for r in v]) for k, v in runs.items()}
    cpu = {k: median([_cpu_per_gib(total, r) for r in v]) for k, v in runs.items()}
    lost = {k: max(_lost(r) for r in v) for k, v in runs.items()}
    size = f"{total // MiB} MiB"
    # The physical limit: the faster of the two pipe→file variants measured in this run.
    best = max(("cat", "dd"), key=lambda m: rate[m] or 0.0)
    return [
        Row(
            "log_throughput", f"raw `gen | cat > file` (64 KiB pipe), {size}", "MiB/s", rate["cat"]
        ),
        Row(
            "log_throughput",
            "raw `gen | dd bs=1M of=file` (pipe set to 1 MiB)",
            "MiB/s",
            rate["dd"],
        ),
        Row(
            "log_throughput",
            "raw `gen > file` (no pipe, gen writes the file itself), info",
            "MiB/s",
            rate["file"],
        ),
        Row(
            "log_throughput",
            "MiB/s vs raw pipe→file (the faster of cat/dd above)",
            "MiB/s",
            rate[OURS],
            rate[best],
            f"gen | {best}",
            "higher",
            "≥ 0.8x",
            ratio_at_least(0.8),
        ),
        Row(
            "log_throughput",
            "MiB/s vs supervisord",
            "MiB/s",
            rate[OURS],
            rate[REF],
            REF,
            "higher",
            "≥ 5x",
            ratio_at_least(5.0),
        ),
        Row(
            "log_throughput",
            "sink CPU per GiB moved vs `dd bs=1M`, info",
            "CPU s/GiB",
            cpu[OURS],
            cpu["dd"],
            "dd",
            "lower",
        ),
        Row(
            "log_throughput",
            "sink CPU per GiB moved vs supervisord, info",
            "CPU s/GiB",
            cpu[OURS],
            cpu[REF],
            REF,
            "lower",
        ),
        Row(
            "log_throughput",
            "lines lost/dup/out of order (worst repeat)",
            "lines",
            lost[OURS],
            lost[REF],
            REF,
            "lower",
            "0",
            value_at_most(0),
        ),
    ]


def log_throughput_rotating(ctx: Context) -> list[Row]:
    total = (8 if ctx.quick else 256) * MiB
    maxbytes = "1MB" if ctx.quick else "16MB"
    runs: dict[str, list[dict[str, Any]]] = {OURS: [], REF: []}
    for i in range(ctx.repeat):
        for kind in (OURS, REF):
            runs[kind].append(daemon_run(ctx, kind, "logrot", total, maxbytes, 100))
        ctx.note(
            f"log_throughput_rotating repeat {i + 1}: "
            + ", ".join(
                f"{k} {fmt(_rate(total, v[-1]))} MiB/s in {v[-1]['files']} files, "
                f"CPU {fmt(_cpu_per_gib(total, v[-1]))} s/GiB"
                for k, v in runs.items()
            )
        )
    rate = {k: median([_rate(total, r) for r in v]) for k, v in runs.items()}
    cpu = {k: median([_cpu_per_gib(total, r) for r in v]) for k, v in runs.items()}
    lost = {k: max(_lost(r) for r in v) for k, v in runs.items()}
    what = f"{total // MiB} MiB, maxbytes={maxbytes} backups=100"
    return [
        Row(
            "log_throughput_rotating",
            f"MiB/s vs supervisord ({what})",
            "MiB/s",
            rate[OURS],
            rate[REF],
            REF,
            "higher",
            "≥ 5x",
            ratio_at_least(5.0),
        ),
        Row(
            "log_throughput_rotating",
            "daemon CPU per GiB moved, info",
            "CPU s/GiB",
            cpu[OURS],
            cpu[REF],
            REF,
            "lower",
        ),
        Row(
            "log_throughput_rotating",
            "lines lost/dup/out of order across rotations",
            "lines",
            lost[OURS],
            lost[REF],
            REF,
            "lower",
            "0",
            value_at_most(0),
        ),
    ]


# ---- log_fanout -------------------------------------------------------------------------------

WRITERS = 10
FOLLOWERS = 4


def _fanout_once(ctx: Context, per: int, n_followers: int) -> dict[str, Any]:
    names = [f"w{i}" for i in range(WRITERS)]

    def config(work: Path) -> str:
        return make_config(
            work,
            [
                Program(
                    n,
                    command(_gen_argv(per, work / f"{n}.stamp")),
                    {
                        "autostart": "false",
                        "stdout_logfile": work / f"{n}.log",
                        "stdout_logfile_maxbytes": 0,
                        "stderr_logfile": work / f"{n}.err",
                        "startsecs": 0,
                        "startretries": 0,
                        "autorestart": "false",
                    },
                )
                for n in names
            ],
        )

    followers: list[subprocess.Popen[str]] = []
    with daemon(ctx, OURS, f"fanout{n_followers}", config) as d:
        d.wait_ready()
        wait_until(lambda: os.path.exists(d.grpc_sock), 10, "the gRPC socket", backoff=False)
        try:
            for _ in range(n_followers):
                f = subprocess.Popen(
                    [
                        PYTHON,
                        str(Path(__file__).resolve().parents[1] / "follower.py"),
                        "--address",
                        f"unix://{d.grpc_sock}",
                        "--bytes",
                        str(per),
                        "--timeout",
                        "300",
                        *names,
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                followers.append(f)
            for f in followers:
                assert f.stdout is not None
                if f.stdout.readline().strip() != "ready":
                    raise RuntimeError("a follower failed to start")
            time.sleep(0.5)  # let the TailLog calls reach the server before any byte exists
            t0 = time.monotonic()
            d.rpc().supervisor.startAllProcesses(False)
            t_disk = t0
            for n in names:
                t = wait_for_bytes(
                    d.dir / f"{n}.log", per, d.dir / f"{n}.stamp", 600, d.check_alive
                )
                t_disk = max(t_disk, t or t_disk)
            # The clock starts at the first generator's first byte (not at the start request:
            # spawning ten interpreters is not log throughput).
            t0 = min(read_stamp(d.dir / f"{n}.stamp")[0] for n in names)
            results = []
            for f in followers:
                out, _ = f.communicate(timeout=600)
                results.append(json.loads(out.strip().splitlines()[-1]))
            lost_disk = sum(
                _lost({"verify": verify([str(d.dir / f"{n}.log")], per)}) for n in names
            )
        finally:
            for f in followers:
                if f.poll() is None:
                    f.kill()
                    f.wait()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"follower failed: {errors[0]}")
    return {
        "disk_mibs": WRITERS * per / MiB / (t_disk - t0),
        "follow_mibs": median(
            [WRITERS * per / MiB / (r["t_done"] - t0) for r in results if r["t_done"]]
        ),
        "data_mibs": median(
            [r["data_bytes"] / MiB / (r["t_done"] - t0) for r in results if r["t_done"]]
        ),
        "data_pct": median([100.0 * r["data_bytes"] / (WRITERS * per) for r in results]),
        "lost_disk": lost_disk,
        "unaccounted": sum(r["unaccounted"] + r["garbled"] for r in results),
        "gap": sum(r["gap_bytes"] for r in results),
        "complete": all(r["complete"] for r in results),
    }


def log_fanout(ctx: Context) -> list[Row]:
    per = (1 if ctx.quick else 32) * MiB
    runs, alone = [], []
    for i in range(ctx.repeat):
        runs.append(_fanout_once(ctx, per, FOLLOWERS))
        alone.append(_fanout_once(ctx, per, 0))
        ctx.note(
            f"log_fanout repeat {i + 1}: {FOLLOWERS} followers "
            + ", ".join(f"{k}={fmt(v)}" for k, v in runs[-1].items())
            + f"; no follower: disk {fmt(alone[-1]['disk_mibs'])} MiB/s"
        )
    what = f"{WRITERS}x{per // MiB} MiB, {FOLLOWERS} followers of all {WRITERS}"
    return [
        Row(
            "log_fanout",
            f"disk MiB/s, all writers ({what}) vs the same with no follower",
            "MiB/s",
            median([r["disk_mibs"] for r in runs]),
            median([r["disk_mibs"] for r in alone]),
            "0 followers",
            better="higher",
        ),
        Row(
            "log_fanout",
            "per-follower MiB/s: offsets covered (data + gaps), all 10 streams",
            "MiB/s",
            median([r["follow_mibs"] for r in runs]),
            better="higher",
        ),
        Row(
            "log_fanout",
            "per-follower MiB/s delivered as data",
            "MiB/s",
            median([r["data_mibs"] for r in runs]),
            better="higher",
        ),
        Row(
            "log_fanout",
            "share of the bytes a follower got as data (rest: explicit gaps)",
            "%",
            median([r["data_pct"] for r in runs]),
            better="higher",
        ),
        Row(
            "log_fanout",
            "lines lost on disk",
            "lines",
            max(r["lost_disk"] for r in runs),
            better="lower",
            target="0",
            check=value_at_most(0),
        ),
        Row(
            "log_fanout",
            "follower bytes neither received nor reported as gap",
            "bytes",
            max(r["unaccounted"] for r in runs),
            better="lower",
            target="0",
            check=value_at_most(0),
        ),
        Row(
            "log_fanout",
            "bytes reported as explicit gaps (all followers)",
            "bytes",
            median([r["gap"] for r in runs]),
            note="allowed: still on disk",
        ),
    ]


SCENARIOS = {
    "log_throughput": log_throughput,
    "log_throughput_rotating": log_throughput_rotating,
    "log_fanout": log_fanout,
}
