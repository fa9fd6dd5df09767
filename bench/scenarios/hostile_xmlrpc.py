"""slow_clients: the XML-RPC server under hostile clients (issue 11, item 10).

Slowloris: ``n`` connections on the unix socket each send one byte of a request every
``interval`` seconds and never finish it, while the real ``supervisorctl status`` is run
``tries`` times (10 s timeout each); the figure is how many were answered. Big bodies: eight
concurrent 4 MiB ``<methodCall>`` bodies holding an array of ``<value/>``; the figure is how much
the daemon's peak RSS (VmHWM) grew.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

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
    make_config,
    median,
    ratio_at_least,
    ratio_at_most,
)

SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")
CALL = (
    b"<?xml version='1.0'?><methodCall><methodName>supervisor.getAPIVersion</methodName>"
    b"<params></params></methodCall>"
)


def _post(body: bytes) -> bytes:
    head = f"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _connect(d: BenchDaemon) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.connect(d.rpc_sock)
    s.settimeout(60)
    return s


def _answered(d: BenchDaemon, n: int, interval: float, tries: int) -> int:
    request = _post(CALL)
    socks = [_connect(d) for _ in range(n)]
    stop = threading.Event()

    def dribble() -> None:
        sent = 0
        while not stop.wait(interval if sent else 0):
            for s in socks:
                try:
                    s.send(request[sent : sent + 1])
                except OSError:
                    pass
            sent = min(sent + 1, len(request) - 2)

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    answered = 0
    try:
        time.sleep(0.5)  # every slow connection has begun its request
        for _ in range(tries):
            try:
                done = subprocess.run(
                    [SUPERVISORCTL, "-c", str(d.config_path), "status"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                )
            except subprocess.TimeoutExpired:
                continue
            answered += "RUNNING" in done.stdout
    finally:
        stop.set()
        thread.join()
        for s in socks:
            s.close()
    return answered


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _big_bodies_growth(d: BenchDaemon) -> float:
    head = b"<methodCall><methodName>supervisor.getAPIVersion</methodName><params><param>"
    head += b"<value><array><data>"
    tail = b"</data></array></value></param></params></methodCall>"
    body = head + b"<value/>" * ((4 * 1024 * 1024 - len(head) - len(tail)) // 8) + tail
    before = _peak_rss(d.pid)

    def send() -> None:
        with _connect(d) as s:
            s.sendall(_post(body).replace(b"Host: x", b"Host: x\r\nConnection: close"))
            while s.recv(65536):
                pass

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return (_peak_rss(d.pid) - before) / 2**20


def slow_clients(ctx: Context) -> list[Row]:
    n, interval, tries = (100, 1.0, 5) if ctx.quick else (100, 3.0, 15)
    answered: dict[str, list[float | None]] = {k: [] for k in DAEMONS}
    growth: dict[str, list[float | None]] = {k: [] for k in DAEMONS}
    programs = [Program("sleeper", SLEEPER, {"startsecs": 0})]
    for _ in range(ctx.repeat):
        for kind in DAEMONS:
            with daemon(ctx, kind, "slow", lambda work: make_config(work, programs)) as d:
                d.wait_all_running(1)
                d.close_rpc()
                answered[kind].append(_answered(d, n, interval, tries))
                growth[kind].append(_big_bodies_growth(d))
    ctx.note(
        f"slow_clients: supervisorctl answered of {tries} under {n} slow connections "
        f"(1 byte / {interval} s): {answered}; peak RSS growth (MiB) for 8 x 4 MiB bodies: "
        + str({k: [fmt(v) for v in vs] for k, vs in growth.items()})
    )
    return [
        Row(
            "slow_clients",
            f"supervisorctl answered of {tries}, {n} slow connections",
            "answers",
            median(answered[OURS]),
            median(answered[REF]),
            REF,
            "higher",
            "≥ 1x",
            ratio_at_least(1.0),
        ),
        Row(
            "slow_clients",
            "peak RSS growth, 8 concurrent 4 MiB <value/> bodies",
            "MiB",
            median(growth[OURS]),
            median(growth[REF]),
            REF,
            "lower",
            "≤ 1x",
            ratio_at_most(1.0),
        ),
    ]


SCENARIOS = {"slow_clients": slow_clients}
