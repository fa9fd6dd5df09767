"""Restart and stop policies with real children under a real supgrpcd: configurable backoff
with ``startretries = -1``, and ``killtree`` against a grandchild that called setsid().
"""

from __future__ import annotations

import itertools
import os
import re
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tests.support import Daemon, is_alive, proc_stat, python_command, wait_until

TS = r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ "


def spawn_times(log: str, name: str) -> list[float]:
    return [
        datetime.strptime(m.group("ts"), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for m in re.finditer(TS + rf"spawned: '{re.escape(name)}' with pid \d+", log)
    ]


def test_retry_forever_with_exponential_capped_backoff(daemon: Callable[..., Daemon]) -> None:
    d = daemon(
        """
[program:flaky]
command=/bin/false
startsecs=1
startretries=-1
backoff_initial=0.1
backoff_multiplier=2
backoff_max=0.4
"""
    )
    d.wait_spawned("flaky", count=7, timeout=15)
    assert d.stop() == 0
    log = d.log()
    assert "FATAL" not in log and "gave up" not in log
    times = spawn_times(log, "flaky")
    assert len(times) >= 7
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Expected delays 0.1, 0.2, 0.4, 0.4, 0.4, 0.4 (+ the time /bin/false takes to run and be
    # reaped). Ratios, with generous bounds: it grows, then it stops growing.
    assert gaps[1] > 1.4 * gaps[0], gaps
    assert gaps[2] > 1.4 * gaps[1], gaps
    capped = gaps[2:6]
    assert max(capped) < 1.5 * min(capped), gaps
    assert all(0.3 <= g < 1.2 for g in capped), gaps  # 0.4 s, not 0.8, 1.6, 3.2 ...


# The program forks a child that leaves the process group and session (setsid), records its
# pid, and sleeps with SIGTERM at its default disposition. The program itself just sleeps.
SETSID_FORKER = """
import os, time
pid = os.fork()
if pid == 0:
    os.setsid()
    with open({path!r} + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename({path!r} + ".tmp", {path!r})
    while True:
        time.sleep(1)
while True:
    time.sleep(1)
"""


def _forker(path: Path) -> str:
    return python_command(SETSID_FORKER.format(path=str(path)))


def _pid_in(path: Path) -> int:
    return int(path.read_text())


def test_killtree_reaches_a_setsid_grandchild_that_stopasgroup_misses(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree_pidfile, plain_pidfile = tmp_path / "tree.grandchild", tmp_path / "plain.grandchild"
    # --no-subreaper: the daemon's last-resort sweep of its descendants (as PID 1 or as a
    # subreaper) would otherwise also kill the survivor at exit, hiding the difference.
    d = daemon(
        f"""
[program:tree]
command={_forker(tree_pidfile)}
startsecs=0
killtree=true

[program:plain]
command={_forker(plain_pidfile)}
startsecs=0
stopasgroup=true
killasgroup=true
""",
        args=["--no-subreaper"],
    )
    wait_until(lambda: tree_pidfile.exists() and plain_pidfile.exists())
    tree_gc, plain_gc = _pid_in(tree_pidfile), _pid_in(plain_pidfile)
    tree_pid, plain_pid = d.spawned_pids("tree")[0], d.spawned_pids("plain")[0]
    for grandchild, parent in ((tree_gc, tree_pid), (plain_gc, plain_pid)):
        stat = proc_stat(grandchild)
        assert stat is not None and stat[1] == parent  # a child of the program ...
        assert os.getsid(grandchild) == grandchild  # ... in a session of its own
    try:
        assert d.stop() == 0
        assert not is_alive(tree_pid) and not is_alive(plain_pid)
        # killtree: the grandchild went with its program.
        wait_until(lambda: not is_alive(tree_gc), timeout=5)
        # Without it, stopasgroup/killasgroup signal the program's group only: it survives.
        assert is_alive(plain_gc)
    finally:
        _kill_orphan(plain_gc)
        _kill_orphan(tree_gc)


def _kill_orphan(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    stat = proc_stat(pid)
    if stat is not None and stat[1] == os.getpid():  # we happen to be its reaper
        os.waitpid(pid, 0)
    wait_until(lambda: not is_alive(pid), timeout=5)


# The program's child forks the grandchild and exits at once: the grandchild (in a session of
# its own) is re-parented to supgrpcd, the child subreaper, and is no longer in the program's
# /proc tree when the program is stopped.
DOUBLE_FORKER = """
import os, time
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        with open({path!r} + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename({path!r} + ".tmp", {path!r})
        while True:
            time.sleep(1)
    os._exit(0)
while True:
    time.sleep(1)
"""


def test_killtree_reaches_a_daemonized_grandchild_through_the_subreaper(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    pidfile = tmp_path / "grandchild"
    d = daemon(
        f"""
[program:tree]
command={python_command(DOUBLE_FORKER.format(path=str(pidfile)))}
startsecs=0
killtree=true
"""
    )
    wait_until(pidfile.exists)
    grandchild = _pid_in(pidfile)
    wait_until(lambda: (proc_stat(grandchild) or ("", 0, 0))[1] == d.pid)  # adopted by us
    try:
        assert d.stop() == 0
        log = d.log()
        # Stopped with its program, not left for the init's last-resort sweep at exit.
        assert "remaining process" not in log, log
        wait_until(lambda: not is_alive(grandchild), timeout=5)
    finally:
        _kill_orphan(grandchild)
