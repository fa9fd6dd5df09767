"""What a spawned child gets: user, environment, directory, umask, process group, signal
state and file descriptors, as supervisor 4.3.0 (and an init's duties) define them."""

from __future__ import annotations

import json
import os
import pwd
import signal

from supervisor.datatypes import dict_of_key_value_pairs

from tests.support import parse_status, python_command, signal_set, wait_until


def _run_once(name: str, command: str, extra: str = "") -> str:
    """A [program:name] that runs once, writing its stdout to %(here)s/name.log."""
    return f"""
[program:{name}]
command={command}
stdout_logfile=%(here)s/{name}.log
startsecs=0
autorestart=false
exitcodes=0
{extra}
"""


def _output(d, name: str) -> str:
    d.wait_log(rf"exited: {name} \(exit status 0; expected\)")
    return d.program_log(f"{name}.log")


def test_user_nobody_runs_the_child_as_nobody(daemon):
    nobody = pwd.getpwnam("nobody")
    d = daemon(_run_once("who", "sh -c 'id -u; id -g; id -G'", "user=nobody"))
    uid, gid, groups = _output(d, "who").splitlines()
    assert int(uid) == nobody.pw_uid
    assert int(gid) == nobody.pw_gid
    # root's supplementary groups are dropped: only nobody's own remain.
    expected = set(os.getgrouplist("nobody", nobody.pw_gid))
    assert {int(g) for g in groups.split()} == expected


def test_environment_is_supervisors_with_its_quoting(daemon):
    program_env = (
        "A=\"x y\",B='a,b',C=plain,PATHISH=/usr/local/bin:/opt/x-1.0,"
        'FROM_ENV="%(ENV_SUPGRPC_TEST_VAR)s and more",NUM=42,TOP=program-wins'
    )
    env = dict(os.environ, SUPGRPC_TEST_VAR="inherited value")
    d = daemon(
        """
[supervisord]
logfile=%(here)s/supervisord.log
childlogdir=%(here)s
environment=TOP=daemon,DAEMON_ONLY="from supervisord"
"""
        + _run_once(
            "env",
            python_command("import json, os; print(json.dumps(dict(os.environ)))"),
            f"environment={program_env}",
        ),
        env=env,
    )
    child_env = json.loads(_output(d, "env"))
    # supervisor's own parser is the oracle for the quoting (after %(ENV_x)s expansion).
    expected = dict_of_key_value_pairs(
        program_env.replace("%(ENV_SUPGRPC_TEST_VAR)s", "inherited value")
    )
    assert expected["A"] == "x y" and expected["B"] == "a,b"
    for key, value in expected.items():
        assert child_env[key] == value, key
    assert child_env["DAEMON_ONLY"] == "from supervisord"
    assert child_env["SUPGRPC_TEST_VAR"] == "inherited value"  # the daemon's environment
    assert child_env["SUPERVISOR_ENABLED"] == "1"
    assert child_env["SUPERVISOR_PROCESS_NAME"] == "env"
    assert child_env["SUPERVISOR_GROUP_NAME"] == "env"


def test_directory_and_umask_apply_to_the_child(daemon, tmp_path):
    workdir = tmp_path / "work dir"
    workdir.mkdir()
    d = daemon(
        """
[supervisord]
logfile=%(here)s/supervisord.log
childlogdir=%(here)s
umask=002
"""
        + _run_once("where", "/bin/pwd -P", f"directory={workdir}")
        + _run_once("mask", "sh -c umask", "umask=027")
        + _run_once("default_mask", "sh -c umask")
    )
    assert _output(d, "where").strip() == os.path.realpath(workdir)
    assert _output(d, "mask").strip() == "0027"
    # Without umask= the child inherits the daemon's own ([supervisord] umask=002).
    assert _output(d, "default_mask").strip() == "0002"


def test_child_has_its_own_process_group(daemon):
    d = daemon(
        _run_once(
            "pg",
            python_command(
                "import os; print(os.getpid(), os.getpgid(0), os.getsid(0), os.getppid())"
            ),
        )
    )
    pid, pgid, sid, ppid = (int(x) for x in _output(d, "pg").split())
    assert pgid == pid
    assert ppid == d.pid
    assert pgid != os.getpgid(d.pid)
    assert sid == os.getsid(d.pid)  # a new process group, not a new session (supervisor)


def _ignore_and_block() -> None:
    # What a careless parent (shell, container runtime) may hand the init: ignored and
    # blocked signals, which would survive exec into every program if the init kept them.
    for sig in (signal.SIGUSR1, signal.SIGINT, signal.SIGHUP, signal.SIGTTOU, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, signal.SIGALRM, signal.SIGTTIN})


def test_child_gets_an_empty_signal_mask_and_default_dispositions(daemon):
    d = daemon(
        _run_once("status", "cat /proc/self/status"),
        popen_kw={"preexec_fn": _ignore_and_block},
    )
    status = parse_status(_output(d, "status"))
    assert signal_set(status["SigBlk"]) == set()
    # exec keeps ignored dispositions: none may be left (Python's SIGPIPE/SIGXFSZ included).
    assert signal_set(status["SigIgn"]) == set()
    assert signal_set(status["SigCgt"]) == set()  # cat catches nothing itself


def test_child_has_only_stdin_stdout_stderr_open(daemon, tmp_path):
    # Give the daemon an extra inheritable descriptor: it must not reach the child either.
    r, w = os.pipe()
    try:
        d = daemon(
            _run_once("fds", "sh -c 'ls /proc/$$/fd; readlink /proc/$$/fd/0 /proc/$$/fd/1'"),
            popen_kw={"pass_fds": (r, w)},
        )
        lines = _output(d, "fds").split()
    finally:
        os.close(r)
        os.close(w)
    fds = sorted(int(x) for x in lines if x.isdigit())
    assert fds == [0, 1, 2]
    # stdin and stdout are pipes from the daemon (supervisor gives every child a stdin pipe).
    assert all(x.startswith("pipe:") for x in lines if not x.isdigit())


def test_numprocs_names_processes_and_their_logs(daemon):
    say = 'echo "I am $SUPERVISOR_PROCESS_NAME of $SUPERVISOR_GROUP_NAME (%(process_num)d)"'
    d = daemon(
        f"""
[program:worker]
command=sh -c '{say}; sleep 1000'
process_name=%(program_name)s_%(process_num)02d
numprocs=3
numprocs_start=7
startsecs=0
stdout_logfile=%(here)s/%(program_name)s-%(process_num)d.log
"""
    )
    names = [f"worker_{n:02d}" for n in (7, 8, 9)]
    for name in names:
        d.wait_running(name)
    for n, name in zip((7, 8, 9), names, strict=True):
        wait_until(lambda n=n: d.program_log(f"worker-{n}.log"))
        assert d.program_log(f"worker-{n}.log") == f"I am {name} of worker ({n})\n"
    assert d.stop() == 0
    log = d.log()
    # Same priority: the three stop together; each one's stop is logged under its own name.
    for name in names:
        assert f"stopped: {name} (terminated by SIGTERM)" in log


def test_group_section_names_members_group_colon_name(daemon):
    d = daemon(
        """
[group:web]
programs=front,back
priority=50
[program:front]
command=sh -c 'echo "$SUPERVISOR_GROUP_NAME:$SUPERVISOR_PROCESS_NAME"; sleep 1000'
stdout_logfile=%(here)s/front.log
startsecs=0
[program:back]
command=sh -c 'echo "$SUPERVISOR_GROUP_NAME:$SUPERVISOR_PROCESS_NAME"; sleep 1000'
stdout_logfile=%(here)s/back.log
startsecs=0
"""
    )
    d.wait_running("front")
    d.wait_running("back")
    wait_until(lambda: d.program_log("front.log") and d.program_log("back.log"))
    assert d.program_log("front.log") == "web:front\n"
    assert d.program_log("back.log") == "web:back\n"
