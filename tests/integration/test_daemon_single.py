"""Single-command mode, ``supgrpcd [opts] -- CMD``: a drop-in for ``tini -- CMD`` (not PID 1 here;
see tests/pid1 for the same as PID 1). The cases follow tini's and dumb-init's own tests."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from tests.support import (
    Daemon,
    command_line,
    fixture,
    is_alive,
    kill_orphan,
    proc_status,
    read_text,
    run,
    signal_set,
    supgrpcd_argv,
    wait_until,
)

TINI = shutil.which("tini")


def supgrpcd(*args: str) -> list[str]:
    return [*supgrpcd_argv(), *args]


@pytest.fixture
def single(tmp_path):
    started: list[Daemon] = []

    def make(*args: str, **popen_kw: object) -> Daemon:
        s = command_line(tmp_path / f"s{len(started)}", supgrpcd(*args), **popen_kw).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.kill()


@pytest.mark.parametrize("code", [0, 1, 2, 3, 127, 254, 255])
def test_exit_code_of_the_command_is_ours(code):
    result = run(supgrpcd("--", "sh", "-c", f"exit {code}"))
    assert result.returncode == code
    assert result.stderr == b""  # like tini: nothing added to the command's stderr


def test_dash_e_maps_that_exit_code_to_0_and_no_other():
    assert run(supgrpcd("-e", "3", "--", "sh", "-c", "exit 3")).returncode == 0
    assert run(supgrpcd("-e", "4", "-e", "3", "--", "sh", "-c", "exit 3")).returncode == 0
    assert run(supgrpcd("-e", "4", "--", "sh", "-c", "exit 3")).returncode == 3


@pytest.mark.parametrize(
    "sig",
    [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL, signal.SIGUSR1],
    ids=lambda s: signal.Signals(s).name,
)
def test_death_by_signal_exits_128_plus_the_signal(sig):
    result = run(supgrpcd("--", "sh", "-c", f"kill -{signal.Signals(sig).name[3:]} $$"))
    assert result.returncode == 128 + sig


def test_missing_command_exits_127_with_one_line_on_stderr():
    result = run(supgrpcd("--", "/nonexistent/command", "arg"))
    assert result.returncode == 127
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1 and "/nonexistent/command" in stderr, stderr


def test_missing_command_on_path_exits_127():
    assert run(supgrpcd("--", "no-such-command-anywhere")).returncode == 127


@pytest.mark.parametrize("target", ["/etc", "not-executable"])
def test_non_executable_command_exits_126_with_one_line_on_stderr(tmp_path, target):
    if target == "not-executable":
        path = tmp_path / "script.sh"
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o644)
        target = str(path)
    result = run(supgrpcd("--", target))
    assert result.returncode == 126
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1 and target in stderr, stderr


@pytest.mark.parametrize("code", [0, 5])
def test_stdin_is_handed_to_the_command(code):
    result = run(supgrpcd("--", "sh"), input=f"exit {code}\n".encode())
    assert result.returncode == code


def test_stdout_and_stderr_are_the_commands_own():
    result = run(supgrpcd("--", "sh", "-c", "echo to-stdout; echo to-stderr >&2"))
    assert result.returncode == 0
    assert result.stdout == b"to-stdout\n"
    assert result.stderr == b"to-stderr\n"


FORWARDED = [
    signal.SIGUSR1,
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGUSR2,
    signal.SIGQUIT,
    signal.SIGALRM,
    signal.SIGWINCH,
    signal.SIGCONT,
    signal.SIGURG,
    signal.SIGVTALRM,
    signal.SIGPROF,
    signal.SIGIO,
    signal.SIGPWR,
    signal.SIGXCPU,
    signal.SIGPIPE,
]


def test_signals_are_forwarded_to_the_command(single):
    s = single("--", sys.executable, fixture("print_signals.py"), "TERM")
    s.wait_stdout("ready")
    expected = ["ready"]
    for sig in FORWARDED:
        s.send(sig)
        expected.append(signal.Signals(sig).name)
        count = len(expected)
        # One at a time: standard signals of one kind merge while pending.
        wait_until(
            lambda count=count: len(s.stdout().split()) >= count,
            what=lambda: f"stdout={s.stdout()!r}",
        )
    s.send(signal.SIGTERM)
    assert s.wait() == 64 + signal.SIGTERM
    assert s.stdout().split() == [*expected, "SIGTERM"]


@pytest.mark.parametrize(
    "sig",
    [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1],
    ids=lambda s: signal.Signals(s).name,
)
def test_a_forwarded_signal_that_kills_the_command_gives_128_plus_n(single, sig):
    # tini's signals test: the child keeps the default disposition and dies of it.
    s = single("--", "sh", "-c", "echo ready; exec sleep 1000")
    s.wait_stdout("ready")
    wait_until(lambda: "sleep" in read_text(f"/proc/{_only_child(s.proc.pid)}/cmdline"))
    s.send(sig)
    assert s.wait() == 128 + sig


def _only_child(pid: int) -> int:
    from tests.support import children_of

    return wait_until(lambda: children_of(pid) and children_of(pid)[0])


def test_dash_g_forwards_to_the_process_group(single):
    # tini's pgroup test: the command catches SIGUSR1, its own child (a sleep) dies of it.
    s = single("-g", "--", sys.executable, fixture("pgroup_stage.py"))
    out = s.wait_stdout("ready")
    sleep_pid = int(out.split()[1])
    s.send(signal.SIGUSR1)
    assert s.wait() == 0
    assert "stage got SIGUSR1" in s.stdout()
    assert f"sleep returned {-signal.SIGUSR1}" in s.stdout()
    assert not is_alive(sleep_pid)


def test_without_dash_g_only_the_command_gets_the_signal(single):
    s = single("--", sys.executable, fixture("pgroup_stage.py"))
    out = s.wait_stdout("ready")
    sleep_pid = int(out.split()[1])
    try:
        s.send(signal.SIGUSR1)
        s.wait_stdout("stage got SIGUSR1")
        # Had it gone to the group, the sleep would have died when the stage got it.
        assert is_alive(sleep_pid)
        assert "sleep returned" not in s.stdout()
        s.send(signal.SIGTERM)
        assert s.wait() == 128 + signal.SIGTERM
    finally:
        kill_orphan(sleep_pid)


def test_orphans_of_the_command_are_reaped_as_subreaper():
    # tini's reaping test: stage 1 exits 0 only if every orphan it made was reaped by us.
    result = run(supgrpcd("--", sys.executable, fixture("reaping_stage_1.py"), "50"), timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"reaped 50 orphans" in result.stdout


def test_dash_w_warns_about_each_reaped_orphan():
    cmd = "sh -c 'sleep 0.1 &'; sleep 0.5"
    quiet = run(supgrpcd("--", "sh", "-c", cmd))
    assert quiet.returncode == 0 and quiet.stderr == b""
    loud = run(supgrpcd("-w", "--", "sh", "-c", cmd))
    assert loud.returncode == 0
    # tini's own wording for it
    assert re.search(rb"WARN Reaped zombie process with pid=\d+ \(exit status 0\)", loud.stderr)


def test_dash_p_delivers_a_signal_when_our_parent_dies(tmp_path):
    # tini's -p test: the parent of supgrpcd is SIGKILLed, supgrpcd gets SIGUSR1 and
    # forwards it to the command. Orphans of the dead parent come to us while we are a
    # subreaper, so the orphaned supgrpcd can still be waited for here.
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    out = tmp_path / "out"
    parent: subprocess.Popen[bytes] | None = None
    init_pid = 0
    try:
        argv = supgrpcd("-p", "SIGUSR1", "--", sys.executable, fixture("print_signals.py"), "TERM")
        parent = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import subprocess, sys, time\n"
                f"p = subprocess.Popen({argv!r}, stdout=open({str(out)!r}, 'wb'))\n"
                "print(p.pid, flush=True)\n"
                "time.sleep(1000)\n",
            ],
            stdout=subprocess.PIPE,
        )
        assert parent.stdout is not None
        init_pid = int(parent.stdout.readline())
        wait_until(lambda: "ready" in read_text(out))
        parent.kill()
        parent.wait()
        wait_until(lambda: "SIGUSR1" in read_text(out), what=lambda: read_text(out))
        os.kill(init_pid, signal.SIGTERM)
        _, status = os.waitpid(init_pid, 0)
        init_pid = 0
        assert os.waitstatus_to_exitcode(status) == 64 + signal.SIGTERM
    finally:
        # A failure above must not leave the sleeping parent or the init behind.
        if parent is not None and parent.poll() is None:
            parent.kill()
            parent.wait()
        if init_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(init_pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(init_pid, 0)
        libc.prctl(36, 0, 0, 0, 0)


def test_with_a_config_the_command_is_one_more_program_and_ends_the_init(daemon):
    d = daemon(
        """
[program:side]
command=sleep 1000
startsecs=0
priority=10
""",
        args=["--", "sh", "-c", "sleep 0.3; exit 4"],
    )
    side = d.wait_spawned("side")
    assert d.wait(10) == 4
    log = d.log()
    assert "stopped: side (terminated by SIGTERM)" in log
    assert log.index("exited: main") < log.index("stopped: side")
    assert not is_alive(side)


@pytest.mark.skipif(TINI is None, reason="tini is not installed")
@pytest.mark.parametrize(
    "args",
    [
        ["--", "sh", "-c", "exit 3"],
        ["--", "sh", "-c", "exit 255"],
        ["--", "sh", "-c", "kill -KILL $$"],
        ["--", "sh", "-c", "kill -TERM $$"],
        ["--", "sh", "-c", "kill -QUIT $$"],
        ["--", "/nonexistent"],
        ["--", "/etc"],
        ["-e", "3", "--", "sh", "-c", "exit 3"],
        ["-e", "4", "--", "sh", "-c", "exit 3"],
        # tini's own forms without a leading "--": options, then PROGRAM [-- ARGS]
        ["-g", "false"],
        ["-e", "3", "sh", "--", "-c", "exit 3"],
        ["-e", "4", "sh", "--", "-c", "exit 3"],
        ["-vvv", "sh", "--", "-c", "exit 5"],
        ["-w", "-g", "-e", "0", "sh", "--", "-c", "exit 0"],
    ],
    ids=lambda a: " ".join(a),
)
def test_same_exit_code_as_tini(args):
    ours = run(supgrpcd(*args))
    theirs = run([TINI, "-s", *args])
    assert ours.returncode == theirs.returncode, (ours.stderr, theirs.stderr)


def test_grpc_fork_support_set_for_ourselves_does_not_reach_the_command():
    env = {k: v for k, v in os.environ.items() if k != "GRPC_ENABLE_FORK_SUPPORT"}
    show = ["sh", "-c", 'echo "${GRPC_ENABLE_FORK_SUPPORT-unset}"']
    ours = subprocess.run(supgrpcd("--", *show), env=env, capture_output=True, timeout=20)
    assert ours.stdout == b"unset\n", ours.stderr
    # One the caller set is the caller's: passed on like any other variable.
    env["GRPC_ENABLE_FORK_SUPPORT"] = "0"
    theirs = subprocess.run(supgrpcd("--", *show), env=env, capture_output=True, timeout=20)
    assert theirs.stdout == b"0\n", theirs.stderr


# As `nohup` leaves it (SIGHUP ignored), plus a blocked SIGUSR1, then exec the init.
CALLER = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


@pytest.mark.parametrize("init", ["supgrpcd", "tini"])
def test_the_command_keeps_the_callers_ignored_signals_and_mask(tmp_path, init):
    if init == "tini" and TINI is None:
        pytest.skip("tini is not installed")
    head = supgrpcd() if init == "supgrpcd" else [TINI, "-s"]
    argv = [sys.executable, "-c", CALLER, *head, "--", "sh", "-c", "echo ready; exec sleep 1000"]
    s = command_line(tmp_path, argv).start()
    try:
        s.wait_stdout("ready")
        child = _only_child(s.proc.pid)
        wait_until(lambda: "sleep" in read_text(f"/proc/{child}/cmdline"))
        status = proc_status(child)
        assert signal.SIGHUP in signal_set(status["SigIgn"])
        assert signal.SIGUSR1 in signal_set(status["SigBlk"])
        os.kill(child, signal.SIGHUP)  # what a hangup would do: nothing
        s.send(signal.SIGHUP)  # ignored by the init as well: neither acted on nor forwarded
        s.send(signal.SIGTERM)
        assert s.wait() == 128 + signal.SIGTERM  # not 128 + SIGHUP
    finally:
        s.kill()
