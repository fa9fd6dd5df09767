"""reap: PID 1 in a fresh PID namespace reaping a burst of orphans.

Both inits run as PID 1 under ``unshare --pid --fork --mount-proc``: ``tini -- orphans.py`` and
``supgrpcd -c conf`` whose one program is the same ``orphans.py`` (startsecs=0,
autorestart=false). The program times itself (see bench/orphans.py): from its first fork until
none of its 2000 orphaned grandchildren is left in /proc.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from harness import (
    BENCH,
    OURS,
    PYTHON,
    Context,
    Program,
    Row,
    children_of,
    command,
    fmt,
    kill_tree,
    make_config,
    median,
    oncpu_seconds,
    ratio_at_most,
    supgrpcd_argv,
    sweep_descendants,
    value_at_most,
    wait_until,
)

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]
TINI = "tini"


def _once(ctx: Context, kind: str, count: int) -> dict[str, Any]:
    work = ctx.workdir(f"reap-{kind}")
    result = work / "result.json"
    go = work / "go"
    gen = [PYTHON, str(BENCH / "orphans.py"), "--count", str(count), "--result", str(result)]
    gen += ["--go", str(go)]
    if kind == TINI:
        argv = [*UNSHARE, shutil.which("tini") or "/usr/bin/tini", "--", *gen]
    else:
        conf = work / "supervisord.conf"
        conf.write_text(
            make_config(
                work,
                [
                    Program(
                        "orphans",
                        command(gen),
                        {"startsecs": 0, "autorestart": "false", "startretries": 0},
                    )
                ],
            )
        )
        argv = [
            *UNSHARE,
            *supgrpcd_argv(),
            "-c",
            str(conf),
            "--grpc-listen",
            f"unix://{work / 'grpc.sock'}",
        ]
    with open(work / "init.out", "wb") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=work,
            start_new_session=True,
        )
    try:

        def done() -> bool:
            if proc.poll() is not None and not result.exists():
                raise RuntimeError(
                    f"{kind} under unshare exited with {proc.returncode}: "
                    + (work / "init.out").read_text()[-1500:]
                )
            return result.exists()

        wait_until(
            lambda: done() or Path(f"{go}.ready").exists(),
            60,
            "orphans.py",
            interval=0.005,
            backoff=False,
        )
        init = children_of(proc.pid)[0]  # the namespace's PID 1, seen from here
        cpu0 = oncpu_seconds(init)
        go.touch()
        wait_until(done, 180, f"{kind}: the orphans result", interval=0.01, backoff=False)
        data: dict[str, Any] = json.loads(result.read_text())
        data["init_cpu_ms"] = (oncpu_seconds(init) - cpu0) * 1000.0
        Path(f"{go}.done").touch()  # orphans.py may exit now, and tini with it
        if kind == OURS:
            with contextlib.suppress(OSError):
                os.kill(init, signal.SIGTERM)
        proc.wait(30)
        return data
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait(10)
        sweep_descendants()


def reap(ctx: Context) -> list[Row]:
    count = 200 if ctx.quick else 2000
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("tini"):
        ctx.note("reap: needs root, unshare and tini; not run")
        return [Row("reap", "not run (needs root, unshare, tini)", "s", None, None, TINI)]
    runs: dict[str, list[dict[str, Any]]] = {OURS: [], TINI: []}
    for _ in range(ctx.repeat):
        for kind in (OURS, TINI):
            runs[kind].append(_once(ctx, kind, count))
    ctx.note(
        "reap per repeat (total s / lag after last fork ms / zombies left / PID 1 CPU ms): "
        + "; ".join(
            f"{k} "
            + ", ".join(
                f"{fmt(r['total_s'])}/{fmt(r['lag_s'] * 1000)}/{r['zombies']}/"
                f"{fmt(r['init_cpu_ms'])}"
                for r in rs
            )
            for k, rs in runs.items()
        )
    )
    total = {k: median([r["total_s"] for r in v]) for k, v in runs.items()}
    lag = {k: median([r["lag_s"] * 1000 for r in v]) for k, v in runs.items()}
    left = {k: max(r["left"] for r in v) for k, v in runs.items()}
    cpu = {k: median([r["init_cpu_ms"] for r in v]) for k, v in runs.items()}
    return [
        Row(
            "reap",
            f"first fork → no zombie left ({count} orphans, as PID 1)",
            "s",
            total[OURS],
            total[TINI],
            "tini --",
            "lower",
            "≤ 1.2x",
            ratio_at_most(1.2),
        ),
        Row(
            "reap",
            "lag after the last fork until none left, info",
            "ms",
            lag[OURS],
            lag[TINI],
            "tini --",
            "lower",
        ),
        Row(
            "reap",
            f"PID 1's CPU time during the burst ({count} orphans), info",
            "ms",
            cpu[OURS],
            cpu[TINI],
            "tini --",
            "lower",
        ),
        Row(
            "reap",
            "orphans left unreaped (worst repeat)",
            "procs",
            left[OURS],
            left[TINI],
            "tini --",
            "lower",
            "0",
            value_at_most(0),
        ),
    ]


SCENARIOS = {"reap": reap}
