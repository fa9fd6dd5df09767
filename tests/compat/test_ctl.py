"""The real supervisorctl 4.3.0 against supgrpcd: every command, its output and exit code.

Exit codes are supervisorctl's own (LSBInitExitStatuses; status uses 3 = not running and
4 = unknown), as observed against real supervisord (reference/landscape.md §3.8).
"""

from __future__ import annotations

import os
import re

import pytest

from tests.support import Daemon, wait_until

pytestmark = pytest.mark.compat

STATUS_LINE = re.compile(r"^(\S+)\s+([A-Z]+)\s*(.*)$")


def statuses(out: str) -> dict[str, tuple[str, str]]:
    table = {}
    for line in out.splitlines():
        m = STATUS_LINE.match(line)
        assert m, line
        table[m.group(1)] = (m.group(2), m.group(3))
    return table


def test_status_all_and_exit_code_3_when_something_is_stopped(shared: Daemon) -> None:
    r = shared.ctl("status")
    assert r.rc == 3  # quick, nocmd, slow, grp:gb never started
    table = statuses(r.out)
    assert list(table) == [
        "cat",
        "grp:ga",
        "grp:gb",
        "nocmd",
        "quick",
        "sleeper",
        "slow",
        "ticker",
        "writer",
    ]
    state, desc = table["sleeper"]
    assert state == "RUNNING" and re.fullmatch(r"pid \d+, uptime 0:00:\d\d", desc)
    assert table["grp:gb"] == ("STOPPED", "Not started")
    # supervisorctl's template: name padded to 33 columns, state to 10
    assert r.lines[0].startswith("cat" + " " * 30 + "RUNNING   pid ")


def test_status_names_and_groups(shared: Daemon) -> None:
    named, group, every, nope, nogroup = shared.ctl_all(
        ("status", "sleeper", "grp:ga"),
        ("status", "grp:*"),
        ("status", "all"),
        ("status", "nope"),
        ("status", "nogroup:*"),
    )
    assert named.rc == 0 and list(statuses(named.out)) == ["sleeper", "grp:ga"]
    assert group.rc == 3 and list(statuses(group.out)) == ["grp:ga", "grp:gb"]
    assert every.rc == 3 and len(every.lines) == 9
    assert (nope.rc, nope.out) == (4, "nope: ERROR (no such process)\n")
    assert (nogroup.rc, nogroup.out) == (4, "nogroup: ERROR (no such group)\n")


def test_pid(shared: Daemon) -> None:
    daemon_pid, sleeper, bare, stopped, every = shared.ctl_all(
        ("pid",), ("pid", "sleeper"), ("pid", "gb"), ("pid", "grp:gb"), ("pid", "all")
    )
    assert daemon_pid.rc == 0 and int(daemon_pid.out) == shared.proc.pid  # type: ignore[union-attr]
    assert sleeper.rc == 0
    assert int(sleeper.out) == shared.rpc().supervisor.getProcessInfo("sleeper")["pid"]
    assert (bare.rc, bare.out) == (1, "No such process gb\n")  # a bare name means gb:gb
    assert (stopped.rc, stopped.out) == (7, "0\n")
    assert every.rc == 0 and len(every.lines) == 9


def test_version(shared: Daemon) -> None:
    assert shared.ctl("version").out == "4.3.0\n"


def test_avail(shared: Daemon) -> None:
    r = shared.ctl("avail")
    assert r.rc == 0
    # sorted by process name, as supervisor's getAllConfigInfo
    assert [line.split()[0] for line in r.lines[:3]] == ["cat", "grp:ga", "grp:gb"]
    assert r.lines[0].split() == ["cat", "in", "use", "auto", "999:999"]
    assert "grp:gb                           in use    manual    999:999" in r.lines
    assert len(r.lines) == 9


def test_unknown_command(shared: Daemon) -> None:
    r = shared.ctl("bogus")
    assert (r.rc, r.out) == (1, "*** Unknown syntax: bogus\n")


def test_start_stop_restart_single(daemon: Daemon) -> None:
    assert daemon.ctl("stop", "sleeper").out == "sleeper: stopped\n"
    assert daemon.state("sleeper") == "STOPPED"
    assert daemon.ctl("start", "sleeper").out == "sleeper: started\n"
    before = daemon.rpc().supervisor.getProcessInfo("sleeper")["pid"]
    r = daemon.ctl("restart", "sleeper")
    assert (r.rc, r.out) == (0, "sleeper: stopped\nsleeper: started\n")
    assert daemon.rpc().supervisor.getProcessInfo("sleeper")["pid"] != before


def test_start_waits_for_startsecs(daemon: Daemon) -> None:
    r = daemon.ctl("start", "slow")
    assert (r.rc, r.out) == (0, "slow: started\n")
    assert daemon.state("slow") == "RUNNING"  # wait=True: answered only once RUNNING


def test_start_and_stop_errors(daemon: Daemon) -> None:
    expected = {
        ("start", "sleeper"): (0, "sleeper: ERROR (already started)\n"),
        ("start", "quick"): (7, "quick: ERROR (spawn error)\n"),
        ("start", "nocmd"): (1, "nocmd: ERROR (no such file)\n"),
        ("start", "nope"): (1, "nope: ERROR (no such process)\n"),
        ("start", "nope:*"): (2, "nope: ERROR (no such group)\n"),
        # supervisorctl ignores NOT_RUNNING for stop
        ("stop", "grp:gb"): (0, "grp:gb: ERROR (not running)\n"),
        ("stop", "nope"): (1, "nope: ERROR (no such process)\n"),
        ("stop", "nope:*"): (1, "nope: ERROR (no such group)\n"),
    }
    results = daemon.ctl_all(*expected)
    assert {k: (r.rc, r.out) for k, r in zip(expected, results, strict=True)} == expected
    r = daemon.ctl("start")
    assert r.rc == 2 and r.lines[0] == "Error: start requires a process name"


def test_group_and_all(daemon: Daemon) -> None:
    # start g:* touches only what is not running
    r = daemon.ctl("start", "grp:*")
    assert (r.rc, r.out) == (0, "grp:gb: started\n")
    r = daemon.ctl("stop", "grp:*")
    assert (r.rc, sorted(r.lines)) == (0, ["grp:ga: stopped", "grp:gb: stopped"])
    r = daemon.ctl("restart", "grp:*")
    assert r.rc == 0
    assert sorted(r.lines) == ["grp:ga: started", "grp:gb: started"]
    r = daemon.ctl("stop", "all")
    assert r.rc == 0
    assert sorted(r.lines) == sorted(
        f"{n}: stopped" for n in ("cat", "grp:ga", "grp:gb", "sleeper", "ticker", "writer")
    )
    r = daemon.ctl("start", "all")
    assert r.rc == 7  # quick cannot start
    assert "quick: ERROR (spawn error)" in r.lines
    assert "nocmd: ERROR (no such file)" in r.lines
    assert "slow: started" in r.lines and "sleeper: started" in r.lines
    r = daemon.ctl("restart", "all")
    assert "sleeper: stopped" in r.lines and "sleeper: started" in r.lines


def test_signal(daemon: Daemon) -> None:
    pid = daemon.rpc().supervisor.getProcessInfo("sleeper")["pid"]
    r = daemon.ctl("signal", "HUP", "sleeper")
    assert (r.rc, r.out) == (0, "sleeper: signalled\n")
    wait_until(
        lambda: daemon.rpc().supervisor.getProcessInfo("sleeper")["pid"] != pid,
        what="sleeper to die of SIGHUP and be restarted",
    )
    expected = {
        ("signal", "BOGUS", "cat"): (1, "cat: ERROR (bad signal name)\n"),
        ("signal", "USR1", "grp:gb"): (7, "grp:gb: ERROR (not running)\n"),
        ("signal", "0", "nope"): (1, "nope: ERROR (no such process)\n"),
        ("signal", "CONT", "grp:*"): (0, "grp:ga: signalled\n"),
        ("signal", "CONT", "nope:*"): (1, "nope: ERROR (no such group)\n"),
    }
    results = daemon.ctl_all(*expected)
    assert {k: (r.rc, r.out) for k, r in zip(expected, results, strict=True)} == expected
    r = daemon.ctl("signal", "CONT", "all")
    assert r.rc == 0 and "cat: signalled" in r.lines and "grp:gb: signalled" not in r.lines
    r = daemon.ctl("signal", "HUP")
    assert r.rc == 1 and r.lines[0].startswith("Error: signal requires")


def test_tail(shared: Daemon) -> None:
    wait_until(lambda: "out-line" in shared.ctl("tail", "writer").out, what="writer output")
    assert shared.ctl("tail", "writer").out == "out-line\n\n"
    assert shared.ctl("tail", "writer", "stderr").out == "err-line\n\n"
    assert shared.ctl("tail", "-4", "writer").out == "ine\n\n"
    r = shared.ctl("tail", "nope")
    assert (r.rc, r.out) == (1, "nope: ERROR (no such process name)\n")
    r = shared.ctl("tail", "writer", "bogus")
    assert (r.rc, r.out) == (1, "Error: bad channel 'bogus'\n")


def test_maintail(shared: Daemon) -> None:
    r = shared.ctl("maintail")
    assert r.rc == 0 and "spawned: 'sleeper'" in r.out
    r = shared.ctl("maintail", "-30")
    assert r.rc == 0 and len(r.out) == 31  # 30 bytes + supervisorctl's newline


def test_clear(daemon: Daemon) -> None:
    wait_until(lambda: daemon.ctl("tail", "writer").out != "\n", what="writer output")
    assert daemon.ctl("clear", "writer").out == "writer: cleared\n"
    assert daemon.ctl("tail", "writer").out == "\n"
    r = daemon.ctl("clear", "nope")
    assert (r.rc, r.out) == (1, "nope: ERROR (no such process)\n")
    r = daemon.ctl("clear", "all")
    assert r.rc == 0 and len(r.lines) == 9 and all(line.endswith(": cleared") for line in r.lines)


def test_reread_update_add_remove(daemon: Daemon) -> None:
    conf = daemon.config_path.read_text()
    assert daemon.ctl("reread").out == "No config updates to processes\n"
    assert daemon.ctl("update").out == ""
    # change one group, remove one, add one
    conf = conf.replace(
        "[program:slow]\ncommand=/bin/sleep 1000\nstartsecs=1",
        "[program:slow]\ncommand=/bin/sleep 999\nstartsecs=0",
    )
    conf = conf.replace(
        "[program:quick]\ncommand=/bin/false", "[program:fresh]\ncommand=/bin/false"
    )
    conf += "\n[program:added]\ncommand=/bin/sleep 1000\nstartsecs=0\n"
    daemon.config_path.write_text(conf)
    r = daemon.ctl("reread")
    assert r.lines == [
        "added: available",
        "fresh: available",
        "quick: disappeared",
        "slow: changed",
    ]
    r = daemon.ctl("avail")
    assert any(line.startswith("added ") and " avail " in line for line in r.lines)
    r = daemon.ctl("update", "nosuch")
    assert "ERROR: no such group: nosuch" in r.lines and r.rc == 1
    r = daemon.ctl("update", "slow")
    assert (r.rc, r.lines) == (0, ["slow: stopped", "slow: updated process group"])
    r = daemon.ctl("update")
    assert r.lines == [
        "quick: stopped",
        "quick: removed process group",
        "added: added process group",
        "fresh: added process group",
    ]
    daemon.wait_state("added", "RUNNING")
    # remove needs the group stopped
    r = daemon.ctl("remove", "added")
    assert (r.rc, r.out) == (1, "ERROR: process/group still running: added\n")
    daemon.ctl("stop", "added")
    assert daemon.ctl("remove", "added").out == "added: removed process group\n"
    r = daemon.ctl("remove", "added")
    assert (r.rc, r.out) == (1, "ERROR: no such process/group: added\n")
    assert daemon.ctl("add", "added").out == "added: added process group\n"
    r = daemon.ctl("add", "added")
    assert (r.rc, r.out) == (0, "ERROR: process group already active\n")
    r = daemon.ctl("add", "nope")
    assert (r.rc, r.out) == (1, "ERROR: no such process/group: nope\n")


def test_reread_reports_a_broken_config(daemon: Daemon) -> None:
    daemon.config_path.write_text(daemon.config_path.read_text() + "\n[program:bad]\nstartsecs=1\n")
    r = daemon.ctl("reread")
    assert r.rc == 1 and r.out.startswith("ERROR: CANT_REREAD: ")
    assert "bad" in r.out


def test_reload_restarts_everything(daemon: Daemon) -> None:
    rpc = daemon.rpc().supervisor
    before = {i["name"]: i["pid"] for i in rpc.getAllProcessInfo()}
    daemon.ctl("start", "grp:gb")  # not autostart: reload leaves it stopped, like supervisord
    r = daemon.ctl("reload")
    assert (r.rc, r.out) == (0, "Restarted supervisord\n")

    def restarted() -> bool:
        try:
            infos = {i["name"]: i for i in rpc.getAllProcessInfo()}
        except Exception:
            return False
        return all(
            infos[n]["statename"] == "RUNNING" and infos[n]["pid"] != before[n]
            for n in ("sleeper", "cat", "ga")
        )

    wait_until(restarted, 15, "programs to come back with new pids")
    assert daemon.state("grp:gb") == "STOPPED"


def test_shutdown(daemon: Daemon) -> None:
    r = daemon.ctl("shutdown")
    assert (r.rc, r.out) == (0, "Shut down\n")
    assert daemon.proc is not None
    assert daemon.proc.wait(15) == 0
    assert not os.path.exists(daemon.rpc_sock)  # our socket file is removed at exit
    r = daemon.ctl("status")
    assert r.rc == 4 and r.out == f"{daemon.serverurl} no such file\n"
    r = daemon.ctl("shutdown")
    assert r.out == f"ERROR: {daemon.serverurl} no such file (already shut down?)\n"


def test_fg_streams_output_and_forwards_input(daemon: Daemon) -> None:
    import subprocess

    proc = daemon.popen_ctl("fg", "cat", stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline() == "==> Press Ctrl-C to exit <==\n"
        proc.stdin.write("hello from fg\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "hello from fg\n"  # stdin -> cat -> /logtail -> us
        proc.stdin.write("second\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "second\n"
    finally:
        proc.kill()
        proc.wait()
    r = daemon.ctl("fg", "grp:gb")
    assert (r.rc, r.out) == (1, "ERROR: process not running\n")
    r = daemon.ctl("fg", "nope")
    assert (r.rc, r.out) == (1, "ERROR: bad process name supplied\n")
