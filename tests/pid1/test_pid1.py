"""supgrpcd as a real PID 1: ``unshare --pid --fork --mount-proc`` around it.

The namespace's PID 1 is the unshare process's only child; we find its host pid through
/proc/<unshare>/task/*/children and inspect or signal it from the host. (A signal from the
host to a namespace init is dropped by the kernel unless the init handles it: supgrpcd
installs handlers, so it must arrive once the daemon says it has started.)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from typing import Any

import pytest

from tests.support import (
    Daemon,
    children_of,
    command_line,
    fixture,
    fixture_command,
    is_alive,
    read_text,
    wait_until,
    zombies_of,
)


def _unshare_refusal() -> str | None:
    """None if ``unshare --pid --fork --mount-proc true`` works here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    try:
        done = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --pid --fork --mount-proc true: {exc}"
    if done.returncode != 0:
        return (
            f"unshare --pid --fork --mount-proc true exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()}"
        )
    return None


REFUSAL = _unshare_refusal()
pytestmark = [
    pytest.mark.pid1,
    pytest.mark.skipif(REFUSAL is not None, reason=f"PID namespaces refused: {REFUSAL}"),
]


def _kill_child_flag() -> list[str]:
    """``--kill-child`` (util-linux >= 2.32): if the test dies, the namespace dies with it."""
    if REFUSAL is not None:
        return []
    done = subprocess.run(["unshare", "--help"], capture_output=True, text=True)
    return ["--kill-child"] if "--kill-child" in done.stdout else []


UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", *_kill_child_flag()]
INIT = [*UNSHARE, sys.executable, "-m", "supervisor_grpc"]


def namespace_init(unshare_pid: int) -> int:
    """Host pid of the namespace's PID 1 (the unshare process's only child)."""
    return wait_until(lambda: children_of(unshare_pid) and children_of(unshare_pid)[0])


@pytest.fixture
def init_daemon(tmp_path):
    """``daemon``-like factory for supgrpcd -c as PID 1; yields (Daemon, host pid of init)."""
    made: list[Daemon] = []

    def make(config: str, **daemon_kw: Any) -> tuple[Daemon, int]:
        d = Daemon(tmp_path / f"ns{len(made)}", config, argv=INIT, **daemon_kw)
        made.append(d)
        d.start(wait=False)
        assert d.wait_started() == 1, "not PID 1 in its namespace"
        return d, namespace_init(d.pid)

    yield make
    for d in made:
        d.kill()


def test_1000_double_forked_orphans_leave_no_zombie(init_daemon):
    d, init = init_daemon(
        f"""
[program:orphans]
command={fixture_command("double_fork.py", 1000, "--linger", "1")}
stdout_logfile=%(here)s/orphans.log
startsecs=0
"""
    )
    maker = d.wait_spawned("orphans")
    wait_until(lambda: "orphaned 1000" in d.program_log("orphans.log"), timeout=30)
    assert len(children_of(init)) > 1, "the orphans were not re-parented to PID 1"
    # Until they are done lingering the orphans are PID 1's children: the test sees them.
    # Then every one of them must be reaped: PID 1 ends up with the maker as its only child
    # and no zombie.
    wait_until(
        lambda: children_of(init) == [_host_pid_of(init, maker)],
        timeout=20,
        what=lambda: (
            f"children of init: {len(children_of(init))}, zombies: {len(zombies_of(init))}"
        ),
    )
    assert zombies_of(init) == []
    os.kill(init, signal.SIGTERM)  # (unshare itself does not forward signals)
    assert d.wait(15) == 0
    assert "Reaped zombie process" not in d.log()  # orphans are reaped quietly at info level


def _host_pid_of(init: int, ns_pid: int) -> int:
    """The host pid of a child of ``init`` whose pid inside the namespace is ``ns_pid``."""
    for child in children_of(init):
        try:
            with open(f"/proc/{child}/status") as f:
                for line in f:
                    if line.startswith("NSpid:") and int(line.split()[-1]) == ns_pid:
                        return child
        except OSError:
            continue
    return -1


def test_sigterm_to_pid_1_stops_every_program_and_exits_0(init_daemon):
    d, init = init_daemon(
        f"""
[program:plain]
command=sleep 1000
startsecs=0
priority=10
[program:polite]
command=sh -c 'trap "echo polite got TERM; exit 0" TERM; echo up; while :; do sleep 0.05; done'
stdout_logfile=%(here)s/polite.log
startsecs=0
priority=20
[program:stubborn]
command={fixture_command("ignore_term.py")}
stdout_logfile=%(here)s/stubborn.log
startsecs=0
stopwaitsecs=1
priority=30
"""
    )
    wait_until(lambda: "up" in d.program_log("polite.log"))
    wait_until(lambda: "ready" in d.program_log("stubborn.log"))
    everyone = [init, *children_of(init)]
    assert len(everyone) >= 4
    os.kill(init, signal.SIGTERM)
    assert d.wait(15) == 0  # unshare exits with its child's status
    log = d.log()
    assert "received SIGTERM indicating exit request" in log
    assert "stopped: stubborn (terminated by SIGKILL)" in log
    assert "stopped: polite (exit status 0)" in log
    assert "stopped: plain (terminated by SIGTERM)" in log
    assert (
        log.index("stopped: stubborn") < log.index("stopped: polite") < log.index("stopped: plain")
    )
    assert "polite got TERM" in d.program_log("polite.log")
    assert not any(is_alive(p) for p in everyone)


def command_of(init: int) -> int:
    """Host pid of CMD (the namespace's PID 1's child)."""
    return wait_until(lambda: children_of(init) and children_of(init)[0])


@pytest.fixture
def single_init(tmp_path):
    """``supgrpcd -- CMD`` as PID 1 of a new namespace, output captured to files."""
    made: list[Daemon] = []

    def make(*command: str) -> Daemon:
        s = command_line(tmp_path / f"s{len(made)}", [*INIT, "--", *command]).start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.kill()


def test_single_command_as_pid_1_forwards_signals(single_init):
    s = single_init(sys.executable, fixture("print_signals.py"), "TERM")
    s.wait_stdout("ready")
    init = namespace_init(s.pid)
    seen = ["ready"]
    for sig in (signal.SIGUSR1, signal.SIGHUP, signal.SIGINT, signal.SIGUSR2, signal.SIGWINCH):
        os.kill(init, sig)
        seen.append(signal.Signals(sig).name)
        count = len(seen)
        wait_until(lambda count=count: len(s.stdout().split()) >= count, what=lambda: s.stdout())
    os.kill(init, signal.SIGTERM)
    assert s.wait() == 64 + signal.SIGTERM
    assert s.stdout().split() == [*seen, "SIGTERM"]


@pytest.mark.parametrize("code", [0, 3])
def test_single_command_as_pid_1_propagates_the_exit_code(single_init, code):
    s = single_init("sh", "-c", f"exit {code}")
    assert s.wait() == code


def test_single_command_as_pid_1_exits_137_when_the_command_is_sigkilled(single_init):
    s = single_init("sh", "-c", "echo ready; exec sleep 1000")
    s.wait_stdout("ready")
    os.kill(command_of(namespace_init(s.pid)), signal.SIGKILL)
    assert s.wait() == 137


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: signal.Signals(s).name
)
def test_single_command_as_pid_1_exits_128_plus_n_when_a_forwarded_signal_kills_it(
    single_init, sig
):
    # tini's outer test: `docker kill -s TERM` on a container running a default-disposition
    # child exits 128+N.
    s = single_init("sh", "-c", "echo ready; exec sleep 1000")
    s.wait_stdout("ready")
    init = namespace_init(s.pid)
    command_of(init)  # the command exists (and the init has set up its handlers before spawning)
    os.kill(init, sig)
    assert s.wait() == 128 + sig


def test_single_command_as_pid_1_reaps_orphans(single_init):
    s = single_init(sys.executable, fixture("reaping_stage_1.py"), "100")
    assert s.wait(30) == 0, s.stdout()
    assert "reaped 100 orphans" in s.stdout()


def test_pid_1_sigterms_a_grandchild_that_becomes_its_child_during_the_final_sweep(
    single_init, tmp_path
):
    # CMD exits at once, leaving C and its child G. The sweep TERMs C; G, re-parented to PID 1
    # only then, must get its own SIGTERM rather than a SIGKILL 5 s later.
    notes = tmp_path / "notes"
    s = single_init(sys.executable, fixture("term_family.py"), str(notes))
    assert s.wait(30) == 0, read_text(s.err_path)
    text = read_text(notes)
    assert "C TERM" in text and "G TERM" in text, text


def test_pid_1_exits_when_an_update_is_interrupted_by_the_shutdown(init_daemon, tmp_path):
    # The Update waits for a program that takes 1 s to stop; SIGTERM to PID 1 meanwhile.
    import grpc
    from supgrpc.v1 import supervisor_pb2 as pb
    from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

    sock = tmp_path / "g.sock"

    def slow(tag: str) -> str:
        script = (
            f'trap "echo {tag} got TERM; sleep 1; exit 0" TERM; echo {tag}; '
            "while :; do sleep 0.05; done"
        )
        return (
            f"[program:slow]\ncommand=sh -c '{script}'\n"
            "stdout_logfile=%(here)s/slow.log\nstartsecs=0\n"
        )

    d, init = init_daemon(slow("v1"), grpc=True, args=["--grpc-listen", f"unix://{sock}"])
    wait_until(lambda: "v1" in d.program_log("slow.log"))
    d.write_config(slow("v2"))
    with grpc.insecure_channel(f"unix://{sock}") as channel:
        update = pb_grpc.SupervisorServiceStub(channel).Update.future(pb.UpdateRequest())
        wait_until(lambda: "v1 got TERM" in d.program_log("slow.log"))
        os.kill(init, signal.SIGTERM)
        assert d.wait(20) == 0, d.diagnostics()
        assert isinstance(update.exception(timeout=10), grpc.RpcError)
