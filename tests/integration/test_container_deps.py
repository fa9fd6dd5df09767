"""``depends_on`` with real children under a real supgrpcd: start order, stop order, cycles,
and a dependency that never becomes healthy.

Order is observed twice: by the order of the main log's lines, and by the times the children
themselves record (a child writes ``<event> <time.time()>`` to its own file), so the test does
not rely on the daemon's log alone.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from supervisor_grpc.model import ProcessState, ProcessStateChanged
from tests.support import Daemon, is_alive, python_command, run, supgrpcd_argv, wait_until

SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")
TS = r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ "

# A child that records when it started, when it got SIGTERM and when it exited (after a
# pause, so that "the next one was signalled only after this one was gone" is measurable).
RECORDER = """
import signal, time
out = open({path!r}, "a")
def note(what):
    out.write(f"{{what}} {{time.time()}}\\n")
    out.flush()
def term(*_):
    note("term")
    time.sleep({linger})
    note("exit")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
note("start")
while True:
    time.sleep(1)
"""


def recorder(path: Path, linger: float = 0.0) -> str:
    return python_command(RECORDER.format(path=str(path), linger=linger))


def events(path: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in path.read_text().splitlines():
        what, _, when = line.partition(" ")
        out[what] = float(when)
    return out


def stamp(log: str, pattern: str) -> float:
    """Wall-clock time of the first main-log line matching ``pattern``."""
    match = re.search(TS + pattern, log)
    assert match is not None, f"no line matching {pattern!r} in the main log:\n{log}"
    return datetime.strptime(match.group("ts"), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def line_index(log: str, needle: str) -> int:
    """Index of the first main-log line containing ``needle`` (fails if there is none)."""
    for i, line in enumerate(log.splitlines()):
        if needle in line:
            return i
    raise AssertionError(f"no line with {needle!r} in the main log:\n{log}")


def test_dependency_starts_first_and_stops_last_whatever_the_priority(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    db_file, web_file = tmp_path / "db.events", tmp_path / "web.events"
    # Priorities say the opposite of the dependency (web would start first and stop last):
    # depends_on wins where there is a relation.
    d = daemon(
        f"""
[program:db]
command={recorder(db_file)}
priority=900
startsecs=1

[program:web]
command={recorder(web_file, linger=0.3)}
priority=100
startsecs=0
depends_on=db
"""
    )
    d.wait_running("web")
    wait_until(lambda: web_file.exists() and "start" in events(web_file))
    assert d.stop() == 0
    log = d.log()

    # Start: db spawned, db RUNNING (after its startsecs), only then web spawned.
    assert (
        line_index(log, "spawned: 'db'")
        < line_index(log, "success: db entered RUNNING")
        < line_index(log, "spawned: 'web'")
    )
    db_running = stamp(log, r"success: db entered RUNNING")
    assert stamp(log, r"spawned: 'web'") >= db_running
    assert stamp(log, r"success: db entered RUNNING") - stamp(log, r"spawned: 'db'") >= 0.9
    db, web = events(db_file), events(web_file)
    assert db["start"] < web["start"], (db, web)
    assert web["start"] >= db_running, (db_running, web)  # the children's own clocks agree

    # Stop: web first, and db only once web had exited (web lingers 0.3 s after SIGTERM).
    assert line_index(log, "stopped: web") < line_index(log, "stopped: db")
    assert web["term"] <= web["exit"] <= db["term"], (db, web)
    assert db["term"] - web["term"] >= 0.25, (db, web)


def test_a_dependency_cycle_is_rejected_before_anything_starts(tmp_path: Path) -> None:
    conf = tmp_path / "cycle.conf"
    marker = tmp_path / "started"
    conf.write_text(
        f"""
[supervisord]
logfile={tmp_path}/supervisord.log
pidfile={tmp_path}/supervisord.pid

[program:a]
command=/bin/touch {marker}
depends_on=b

[program:b]
command=/bin/touch {marker}
depends_on=c

[program:c]
command=/bin/touch {marker}
depends_on=a
"""
    )
    result = run([*supgrpcd_argv(), "-c", str(conf), "--no-grpc"], timeout=15)
    assert result.returncode == 2, result
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert str(conf) in line
    assert re.search(r"\[program:[abc]\]", line), line
    assert "depends_on" in line
    assert "cycle" in line
    assert re.search(r"a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c", line), line
    assert not marker.exists()
    assert not (tmp_path / "supervisord.pid").exists()


def test_a_dependency_that_never_becomes_healthy_holds_its_dependent(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    ready = tmp_path / "db.ready"
    d = daemon(
        f"""
[unix_http_server]
file=%(here)s/ctl.sock

[supervisorctl]
serverurl=unix://%(here)s/ctl.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:db]
command=/bin/sleep 60
startsecs=0
healthcheck_command=/bin/sh -c 'test -e {ready} || {{ echo "db: no data yet"; exit 1; }}'
healthcheck_interval=0.1
healthcheck_retries=1

[program:web]
command=/bin/sleep 60
startsecs=0
depends_on=db
"""
    )
    d.wait_log(r"health: db is unhealthy \(db: no data yet\)")

    def status() -> str:
        done = subprocess.run(
            [SUPERVISORCTL, "-c", str(d.config_path), "status"],
            capture_output=True,
            text=True,
            timeout=15,
        )
        return done.stdout

    # supervisorctl (the real one, through the XML-RPC shim) says what web waits for.
    text = wait_until(status, timeout=10)
    web_line = next(line for line in text.splitlines() if line.startswith("web "))
    assert re.match(r"web\s+STARTING\s+waiting for db \(not healthy yet\)$", web_line), text
    assert re.search(r"^db\s+RUNNING\s+pid \d+", text, re.M), text
    assert "spawned: 'web'" not in d.log()

    # Once db's check passes, web is released.
    ready.touch()
    d.wait_log(r"health: db is healthy")
    d.wait_spawned("web")
    log = d.log()
    assert line_index(log, "health: db is healthy") < line_index(log, "spawned: 'web'")
    assert re.search(r"^web\s+RUNNING\s+pid \d+", status(), re.M)
    assert d.stop() == 0


def test_a_dependency_crash_restarts_the_dependents_that_ask_for_it(
    daemon: Callable[..., Daemon],
) -> None:
    d = daemon(
        """
[program:db]
command=/bin/sleep 60
startsecs=0

[program:follows]
command=/bin/sleep 60
startsecs=0
depends_on=db
restart_with_dependencies=true

[program:stays]
command=/bin/sleep 60
startsecs=0
depends_on=db
"""
    )
    db, follows, stays = (d.wait_spawned(name) for name in ("db", "follows", "stays"))
    os.kill(db, signal.SIGKILL)
    d.wait_log(r"restarting follows: its dependency db restarted")
    new_follows = d.wait_spawned("follows", count=2)
    new_db = d.wait_spawned("db", count=2)
    assert new_follows != follows and new_db != db
    assert is_alive(stays) and d.spawned_pids("stays") == [stays]
    assert d.stop() == 0
    log = d.log()
    # The dependent came back only once its dependency was running again.
    assert line_index(log, f"spawned: 'db' with pid {new_db}") < line_index(
        log, f"spawned: 'follows' with pid {new_follows}"
    )


def test_explicit_restart_brings_back_dependents_bound_to_it(tmp_path: Path) -> None:
    """restart_with_dependencies after `restart db`: web goes down before db and comes back."""
    from tests.support.inprocess import InProcessCore

    conf = tmp_path / "bound.conf"
    conf.write_text(
        "[supervisord]\nlogfile=NONE\nchildlogdir=%(here)s\n"
        "[program:db]\ncommand=/bin/sleep 1000\nstartsecs=0\n"
        "[program:web]\ncommand=/bin/sleep 1000\nstartsecs=0\ndepends_on=db\n"
        "restart_with_dependencies=true\n"
    )
    core = InProcessCore(conf).start()
    try:
        control = core.control
        wait_until(
            lambda: all(i.state is ProcessState.RUNNING for i in control.list_processes()),
            timeout=10,
        )
        before = {i.name: i.pid for i in control.list_processes()}
        results = control.restart("db", wait=True, timeout=10)
        assert [r.error for r in results] == [None]
        wait_until(
            lambda: (
                control.process_info("web").state is ProcessState.RUNNING
                and control.process_info("web").pid != before["web"]
            ),
            timeout=10,
        )
        items, _, _ = control.journal.read(0, 10_000)
        stops = [
            e.name
            for _, e in items
            if isinstance(e, ProcessStateChanged) and e.to_state is ProcessState.STOPPED
        ]
        assert stops == ["web", "db"]
    finally:
        core.close()
