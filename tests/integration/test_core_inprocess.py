"""The core with the real runtime, in-process, driven through Control (the API both front-ends
use): states, spawn errors and waiters that the daemon's log only hints at."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from supervisor_grpc.errors import NoFile, NotExecutable, SpawnError
from supervisor_grpc.model import ProcessState, ProcessStateChanged
from tests.support import fixture_command, is_alive, read_text, wait_until
from tests.support.inprocess import InProcessCore

S = ProcessState


def _core(tmp_path: Path, body: str) -> InProcessCore:
    path = tmp_path / "inprocess.conf"
    path.write_text("[supervisord]\nlogfile=NONE\nchildlogdir=%(here)s\n" + body.strip() + "\n")
    return InProcessCore(path)


def _transitions(core: InProcessCore, name: str) -> list[tuple[S, S]]:
    items, _, _ = core.control.journal.read(0, 10_000)
    return [
        (e.from_state, e.to_state)
        for _, e in items
        if isinstance(e, ProcessStateChanged) and e.name == name
    ]


def test_spawn_failures_go_backoff_then_fatal_with_spawnerr(tmp_path):
    not_executable = tmp_path / "script.sh"
    not_executable.write_text("#!/bin/sh\n")
    not_executable.chmod(0o644)
    body = f"""
[program:enoent]
command=/nonexistent/x
startretries=1
[program:eacces]
command={not_executable}
startretries=0
[program:baddir]
command=/bin/true
directory={tmp_path}/missing
startretries=0
[program:fine]
command=sleep 1000
startsecs=0
"""
    with _core(tmp_path, body) as core:
        for name in ("enoent", "eacces", "baddir"):
            wait_until(lambda name=name: core.info(name).state is S.FATAL, timeout=10)
        assert core.info("enoent").spawn_error == "can't find command '/nonexistent/x'"
        assert core.info("eacces").spawn_error == (
            f"command at '{not_executable}' is not executable"
        )
        assert core.info("baddir").spawn_error == f"couldn't chdir to {tmp_path}/missing: ENOENT"
        # supervisor's path: one try + startretries retries, each through BACKOFF.
        assert _transitions(core, "enoent") == [
            (S.STOPPED, S.STARTING),
            (S.STARTING, S.BACKOFF),
            (S.BACKOFF, S.STARTING),
            (S.STARTING, S.BACKOFF),
            (S.BACKOFF, S.FATAL),
        ]
        assert core.info("fine").state is S.RUNNING
        assert core.info("enoent").pid == 0


def test_start_of_a_missing_or_non_executable_command_fails_at_once(tmp_path):
    body = """
[program:enoent]
command=/nonexistent/x
autostart=false
[program:isdir]
command=/etc
autostart=false
"""
    with _core(tmp_path, body) as core:
        [result] = core.control.start("enoent")
        assert isinstance(result.error, NoFile)
        [result] = core.control.start("isdir")
        assert isinstance(result.error, NotExecutable)
        # supervisor's startProcess pre-check: nothing was tried, the state did not move.
        assert core.info("enoent").state is S.STOPPED
        assert _transitions(core, "enoent") == []


def test_start_and_wait_fails_with_spawn_error_when_the_spawn_fails(tmp_path):
    body = f"""
[program:baddir]
command=/bin/true
directory={tmp_path}/missing
autostart=false
startretries=0
"""
    with _core(tmp_path, body) as core:
        [result] = core.control.start("baddir", wait=True, timeout=10)
        assert isinstance(result.error, SpawnError)
        assert "couldn't chdir" in str(result.error)
        assert core.info("baddir").state is S.FATAL


def test_start_and_wait_returns_once_running_after_startsecs(tmp_path):
    body = """
[program:slow]
command=sleep 1000
autostart=false
startsecs=1
"""
    with _core(tmp_path, body) as core:
        t0 = time.monotonic()
        [result] = core.control.start("slow", wait=True, timeout=10)
        assert result.error is None
        assert time.monotonic() - t0 >= 1
        assert core.info("slow").state is S.RUNNING


def test_stop_of_one_program_with_stopasgroup_kills_its_grandchildren(tmp_path):
    body = f"""
[program:tree]
command=sh -c 'sleep 1000 & echo "grandchild $!"; wait'
stdout_logfile={tmp_path}/tree.log
startsecs=0
stopasgroup=true
[program:bystander]
command=sleep 1000
startsecs=0
"""
    with _core(tmp_path, body) as core:
        wait_until(lambda: "grandchild" in read_text(tmp_path / "tree.log"))
        grandchild = int(re.findall(r"grandchild (\d+)", read_text(tmp_path / "tree.log"))[0])
        bystander = core.info("bystander").pid
        [result] = core.control.stop("tree", wait=True, timeout=10)
        assert result.error is None
        info = core.info("tree")
        assert info.state is S.STOPPED
        assert info.exit_status is not None and info.exit_status.signal == signal.SIGTERM
        wait_until(lambda: not is_alive(grandchild), timeout=5)
        assert core.info("bystander").state is S.RUNNING and is_alive(bystander)


def test_signal_reaches_the_program(tmp_path):
    body = f"""
[program:listener]
command={fixture_command("print_signals.py", "TERM")}
stdout_logfile={tmp_path}/listener.log
startsecs=0
"""
    with _core(tmp_path, body) as core:
        wait_until(lambda: "ready" in read_text(tmp_path / "listener.log"))
        for name in ("USR1", "HUP", "SIGUSR2"):
            [result] = core.control.signal("listener", name)
            assert result.error is None
        wait_until(
            lambda: (
                read_text(tmp_path / "listener.log").split()
                == ["ready", "SIGUSR1", "SIGHUP", "SIGUSR2"]
            )
        )


def test_stdin_reaches_the_program(tmp_path):
    body = f"""
[program:cat]
command=cat
stdout_logfile={tmp_path}/cat.log
startsecs=0
"""
    with _core(tmp_path, body) as core:
        wait_until(lambda: core.info("cat").state is S.RUNNING)
        core.control.send_stdin("cat", b"hello\n")
        core.control.send_stdin("cat", b"x" * 300_000 + b"\n")  # more than a pipe holds
        wait_until(lambda: len(read_text(tmp_path / "cat.log")) == 6 + 300_001)
        assert read_text(tmp_path / "cat.log") == "hello\n" + "x" * 300_000 + "\n"


def test_restart_gives_a_new_pid_and_waits_for_running(tmp_path):
    body = """
[program:again]
command=sleep 1000
startsecs=0
"""
    with _core(tmp_path, body) as core:
        wait_until(lambda: core.info("again").state is S.RUNNING)
        first = core.info("again").pid
        [result] = core.control.restart("again", wait=True, timeout=10)
        assert result.error is None
        second = core.info("again")
        assert second.state is S.RUNNING and second.pid != first
        assert not is_alive(first)


@pytest.mark.parametrize("stopwaitsecs", [0, 1])
def test_a_program_ignoring_its_stopsignal_is_sigkilled(tmp_path, stopwaitsecs):
    body = f"""
[program:stubborn]
command={fixture_command("ignore_term.py")}
stdout_logfile={tmp_path}/stubborn.log
startsecs=0
stopwaitsecs={stopwaitsecs}
"""
    with _core(tmp_path, body) as core:
        wait_until(lambda: "ready" in read_text(tmp_path / "stubborn.log"))
        t0 = time.monotonic()
        [result] = core.control.stop("stubborn", wait=True, timeout=10)
        elapsed = time.monotonic() - t0
        assert result.error is None
        info = core.info("stubborn")
        assert info.exit_status is not None and info.exit_status.signal == signal.SIGKILL
        assert stopwaitsecs <= elapsed < stopwaitsecs + 2
        # The loop sleeps until its next deadline: a stopped program leaves nothing to spin on.
        before = core.loop.iterations
        time.sleep(0.2)
        assert core.loop.iterations - before < 5
