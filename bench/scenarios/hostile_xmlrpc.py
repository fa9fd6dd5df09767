"""slow_clients: the XML-RPC server under hostile clients (issue 11, item 10).

Slowloris: ``n`` connections on the unix socket each send one byte of a request every
``interval`` seconds and never finish it, while the real ``supervisorctl status`` is run
``tries`` times (10 s timeout each); the figure is how many were answered. Big bodies: eight
concurrent 4 MiB ``<methodCall>`` bodies holding an array of ``<value/>``; the figure is how much
the daemon's peak RSS (VmHWM) grew.
"""

from __future__ import annotations

import threading
import time

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

from tests.support.raw_http import big_body, connect, ctl_answers, dribblers, peak_rss, post


def _answered(d: BenchDaemon, n: int, interval: float, tries: int) -> int:
    with dribblers(d, n, interval, timeout=60):
        time.sleep(0.5)  # every slow connection has begun its request
        return ctl_answers(d, tries, 10)


def _big_bodies_growth(d: BenchDaemon) -> float:
    body = big_body()
    before = peak_rss(d.pid)

    def send() -> None:
        with connect(d, timeout=60) as s:
            s.sendall(post(body, headers="Connection: close\r\n"))
            while s.recv(65536):
                pass

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return (peak_rss(d.pid) - before) / 2**20


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
