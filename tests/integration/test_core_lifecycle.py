"""Process lifecycle with real children under a real supgrpcd: supervisor's semantics.

State is observed through the daemon's main log, whose lines are supervisor's ("spawned: 'x'
with pid N", "exited: x (exit status 1; not expected)", "gave up: x entered FATAL state...").
Absence ("was not restarted") is asserted on the final log after an orderly shutdown, when
nothing more can be written.
"""

from __future__ import annotations

import re
import signal
import time
from datetime import datetime

from tests.support import fixture_command, is_alive, kill_orphan, kill_quietly, wait_until


def _stamp(line_match: re.Match[str]) -> float:
    text = line_match.group("ts")
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


TS = r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ "


def test_crash_loop_backs_off_then_goes_fatal_after_startretries(daemon):
    d = daemon(
        """
[program:crash]
command=sh -c 'echo crashing; exit 1'
startsecs=1
startretries=2
"""
    )
    d.wait_log(r"gave up: crash entered FATAL state, too many start retries too quickly")
    assert d.stop() == 0
    log = d.log()
    # supervisor: the first try plus startretries retries, each "exited too quickly".
    assert len(d.spawned_pids("crash")) == 3
    exits = list(re.finditer(TS + r"exited: crash \(exit status 1; not expected\)", log))
    assert len(exits) == 3
    # The retries back off linearly: 1 s, then 2 s, after each failure.
    spawns = list(re.finditer(TS + r"spawned: 'crash' with pid \d+", log))
    gaps = [_stamp(spawns[i + 1]) - _stamp(exits[i]) for i in range(2)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9, gaps
    assert gaps[1] - gaps[0] >= 0.5 and gaps[1] < 5, gaps
    assert log.count("gave up: crash entered FATAL state") == 1
    assert "success: crash" not in log


def test_expected_exit_code_is_not_restarted_with_autorestart_unexpected(daemon, tmp_path):
    d = daemon(
        f"""
[program:ok]
command={fixture_command("exit_seq.sh", tmp_path / "ok.count", 3)}
startsecs=0
exitcodes=0,3
autorestart=unexpected
"""
    )
    d.wait_log(r"exited: ok \(exit status 3; expected\)")
    assert d.stop() == 0
    assert len(d.spawned_pids("ok")) == 1
    assert (tmp_path / "ok.count").read_text().strip() == "1"


def test_unexpected_exit_code_is_restarted_with_autorestart_unexpected(daemon, tmp_path):
    d = daemon(
        f"""
[program:bad]
command={fixture_command("exit_seq.sh", tmp_path / "bad.count", 4, 0)}
startsecs=0
exitcodes=0,3
autorestart=unexpected
"""
    )
    d.wait_log(r"exited: bad \(exit status 4; not expected\)")
    d.wait_log(r"exited: bad \(exit status 0; expected\)")
    assert d.stop() == 0
    # 4 is unexpected -> restarted; 0 is expected -> left EXITED.
    assert len(d.spawned_pids("bad")) == 2
    assert (tmp_path / "bad.count").read_text().strip() == "2"


def test_autorestart_true_restarts_even_expected_exits(daemon, tmp_path):
    d = daemon(
        f"""
[program:always]
command={fixture_command("exit_seq.sh", tmp_path / "always.count", 0, 0, 0)}
startsecs=0
autorestart=true
"""
    )
    d.wait_log(r"exited: always \(exit status 0; expected\)", count=3)
    d.wait_spawned("always", count=4)
    assert d.stop() == 0
    # Three expected exits, each restarted; the fourth run stays up until the shutdown.
    assert len(set(d.spawned_pids("always"))) == 4
    assert d.log().count("exited: always (exit status 0; expected)") == 3
    assert "stopped: always (terminated by SIGTERM)" in d.log()


def test_autorestart_false_leaves_an_unexpected_exit_alone(daemon, tmp_path):
    d = daemon(
        f"""
[program:never]
command={fixture_command("exit_seq.sh", tmp_path / "never.count", 7)}
startsecs=0
autorestart=false
"""
    )
    d.wait_log(r"exited: never \(exit status 7; not expected\)")
    assert d.stop() == 0
    assert len(d.spawned_pids("never")) == 1


def test_exit_before_startsecs_counts_as_failure_even_with_expected_code(daemon, tmp_path):
    d = daemon(
        f"""
[program:quick]
command={fixture_command("exit_seq.sh", tmp_path / "quick.count", 0)}
startsecs=5
startretries=3
"""
    )
    # Exit 0 is in exitcodes, but it came before startsecs: BACKOFF, then a retry that stays up.
    d.wait_log(r"exited: quick \(exit status 0; not expected\)")
    d.wait_spawned("quick", count=2, timeout=5)
    assert d.stop() == 0
    assert "entered FATAL" not in d.log()


def test_child_ignoring_sigterm_is_killed_after_stopwaitsecs(daemon):
    d = daemon(
        f"""
[program:stubborn]
command={fixture_command("ignore_term.py")}
stdout_logfile=%(here)s/stubborn.log
startsecs=0
stopwaitsecs=1
"""
    )
    pid = d.wait_spawned("stubborn")
    wait_until(lambda: "ready" in d.program_log("stubborn.log"))
    t0 = time.monotonic()
    assert d.stop() == 0
    elapsed = time.monotonic() - t0
    assert "stopped: stubborn (terminated by SIGKILL)" in d.log()
    assert 1.0 <= elapsed < 5.0, elapsed
    assert not is_alive(pid)


def test_stopasgroup_signals_grandchildren(daemon):
    # --no-subreaper: orphans are not swept by the daemon on exit, so only the group signal
    # can have killed the grandchildren.
    d = daemon(
        """
[program:tree]
command=sh -c 'sleep 1000 & echo "grandchild $!"; sleep 1000 & echo "grandchild $!"; wait'
stdout_logfile=%(here)s/tree.log
startsecs=0
stopasgroup=true
stopwaitsecs=5
""",
        args=["--no-subreaper"],
    )
    wait_until(lambda: d.program_log("tree.log").count("grandchild") == 2)
    grandchildren = [int(x) for x in re.findall(r"grandchild (\d+)", d.program_log("tree.log"))]
    assert all(is_alive(p) for p in grandchildren)
    assert d.stop() == 0
    assert "stopped: tree (terminated by SIGTERM)" in d.log()
    wait_until(lambda: not any(is_alive(p) for p in grandchildren), timeout=5)


def test_without_stopasgroup_grandchildren_survive_the_stop(daemon):
    # The control experiment for the test above: the same tree, only the shell is signalled.
    d = daemon(
        """
[program:tree]
command=sh -c 'sleep 1000 & echo "grandchild $!"; wait'
stdout_logfile=%(here)s/tree.log
startsecs=0
stopwaitsecs=5
""",
        args=["--no-subreaper"],
    )
    wait_until(lambda: "grandchild" in d.program_log("tree.log"))
    grandchild = int(re.findall(r"grandchild (\d+)", d.program_log("tree.log"))[0])
    try:
        assert d.stop() == 0
        assert "stopped: tree (terminated by SIGTERM)" in d.log()
        assert is_alive(grandchild)
    finally:
        kill_orphan(grandchild)


def test_killasgroup_sigkills_the_group_after_stopwaitsecs(daemon):
    d = daemon(
        """
[program:tree]
command=sh -c 'trap "" TERM; sleep 1000 & echo "grandchild $!"; while :; do wait; done'
stdout_logfile=%(here)s/tree.log
startsecs=0
stopasgroup=false
killasgroup=true
stopwaitsecs=1
""",
        args=["--no-subreaper"],
    )
    wait_until(lambda: "grandchild" in d.program_log("tree.log"))
    grandchild = int(re.findall(r"grandchild (\d+)", d.program_log("tree.log"))[0])
    try:
        assert d.stop() == 0
        assert "stopped: tree (terminated by SIGKILL)" in d.log()
        wait_until(lambda: not is_alive(grandchild), timeout=5)
    finally:
        kill_orphan(grandchild)


def test_spawn_failures_back_off_to_fatal_with_the_reason_and_the_init_survives(daemon, tmp_path):
    not_executable = tmp_path / "not-executable.sh"
    not_executable.write_text("#!/bin/sh\necho hi\n")
    not_executable.chmod(0o644)
    d = daemon(
        f"""
[program:enoent]
command=/nonexistent/program --flag
startretries=1
[program:eacces]
command={not_executable}
startretries=0
[program:isdir]
command=/etc
startretries=0
[program:baddir]
command=/bin/true
directory=/nonexistent-directory
startretries=0
[program:healthy]
command=sleep 1000
startsecs=0
"""
    )
    for name in ("enoent", "eacces", "isdir", "baddir"):
        d.wait_log(rf"gave up: {name} entered FATAL state, too many start retries too quickly")
    d.wait_running("healthy")
    log = d.log()
    # supervisor's spawnerr texts, once per attempt (enoent: first try + 1 retry).
    assert log.count("spawnerr: can't find command '/nonexistent/program'") == 2
    assert log.count(f"spawnerr: command at '{not_executable}' is not executable") == 1
    assert log.count("spawnerr: command at '/etc' is a directory") == 1
    assert log.count("spawnerr: couldn't chdir to /nonexistent-directory: ENOENT") == 1
    for name in ("enoent", "eacces", "isdir", "baddir"):
        assert f"spawned: '{name}'" not in log
    healthy = d.spawned_pids("healthy")[0]
    assert d.running and is_alive(healthy)
    assert d.stop() == 0
    assert "stopped: healthy (terminated by SIGTERM)" in d.log()


def test_sigterm_to_a_program_is_an_unexpected_exit_and_restarts_it(daemon):
    d = daemon(
        """
[program:victim]
command=sleep 1000
startsecs=0
"""
    )
    first = d.wait_spawned("victim")
    kill_quietly(first, signal.SIGTERM)
    d.wait_log(r"exited: victim \(terminated by SIGTERM; not expected\)")
    second = d.wait_spawned("victim", count=2)
    assert second != first
    assert d.stop() == 0
