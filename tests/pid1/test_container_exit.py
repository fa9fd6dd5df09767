"""When the init itself ends, as PID 1 of a new PID namespace (``unshare --pid --fork
--mount-proc``, the closest this machine has to a container): critical programs and
``exit_when``.

Each init ends on its own; the test checks its exit status (unshare exits with its child's),
that the other programs were stopped in order (they record the SIGTERM they got, which a
namespace teardown's SIGKILL would not let them do), and the main log's explanation.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support import Daemon, python_command, supgrpcd_argv


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


pytestmark = pytest.mark.skipif(
    not _unshare_works(), reason="needs unshare --pid --fork --mount-proc (root)"
)

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]

# A long-running program that notes the SIGTERM it gets, then exits 0. It is healthy once
# its handler is installed; the program that ends the init depends on it, so that the end
# cannot come before the handler is there to witness it.
BYSTANDER = """
import signal, time
def term(*_):
    open({path!r}, "w").write("SIGTERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
open({path!r} + ".ready", "w").close()
while True:
    time.sleep(1)
"""


def bystander(name: str, path: Path) -> str:
    """A ``[program:NAME]`` section running the bystander."""
    return f"""
[program:{name}]
command={python_command(BYSTANDER.format(path=str(path)))}
startsecs=0
healthcheck_command=/bin/test -e {path}.ready
healthcheck_interval=0.05
"""


def run_init(tmp_path: Path, body: str) -> tuple[int, Daemon]:
    """Run supgrpcd as PID 1 on ``body`` until it ends by itself; return its status."""
    d = Daemon(tmp_path / "init", body, argv=[*UNSHARE, *supgrpcd_argv()])
    d.start(wait=False)
    try:
        code = d.wait(timeout=20)
    finally:
        d.kill()
    assert re.search(r"supgrpcd started with pid 1, config ", d.log()), d.diagnostics()
    return code, d


@pytest.mark.parametrize(
    ("command", "expected", "why"),
    [
        ("/bin/sh -c 'exit 3'", 3, r"exited: crit \(exit status 3; not expected\)"),
        ("/bin/sh -c 'kill -9 $$'", 128 + 9, r"exited: crit \(terminated by SIGKILL"),
        ("/bin/sh -c 'exit 0'", 1, r"exited: crit \(exit status 0; not expected\)"),
        ("{dir}/no-such-command", 127, r"spawnerr: can't find command"),
        ("{dir}/not-executable", 126, r"spawnerr: command at .* is not executable"),
    ],
    ids=["exit-3", "killed", "exit-0", "not-found", "not-executable"],
)
def test_a_critical_programs_fatal_stops_everything_and_ends_pid1(
    tmp_path: Path, command: str, expected: int, why: str
) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    marker = tmp_path / "other.term"
    code, d = run_init(
        tmp_path,
        bystander("other", marker)
        + f"""
[program:crit]
command={command.format(dir=tmp_path)}
startretries=0
critical=true
depends_on=other
""",
    )
    log = d.log()
    assert code == expected, d.diagnostics()
    assert re.search(why, log), log
    assert "gave up: crit entered FATAL state" in log
    assert "critical program crit is FATAL and will not be restarted: stopping everything" in log
    assert "stopped: other (exit status 0)" in log
    assert marker.read_text() == "SIGTERM"
    assert f"exiting with status {expected}" in log


def test_a_critical_program_that_will_be_restarted_does_not_end_pid1(tmp_path: Path) -> None:
    """Exits count only when they are final: with retries left, the init keeps going (and
    ends once they are used up)."""
    code, d = run_init(
        tmp_path,
        """
[program:crit]
command=/bin/sh -c 'exit 4'
startretries=2
backoff_initial=0.1
critical=true
""",
    )
    assert code == 4
    assert len(d.spawned_pids("crit")) == 3
    assert d.log().count("critical program crit") == 1


@pytest.mark.parametrize(("second_code", "expected"), [(0, 0), (4, 4)])
def test_exit_when_all_ends_pid1_once_every_batch_program_is_done(
    tmp_path: Path, second_code: int, expected: int
) -> None:
    code, d = run_init(
        tmp_path,
        f"""
[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s
exit_when=all

[program:first]
command=/bin/sh -c 'sleep 0.2; exit 0'
startsecs=0
autorestart=false

[program:second]
command=/bin/sh -c 'sleep 0.5; exit {second_code}'
startsecs=0
autorestart=false
""",
    )
    log = d.log()
    assert code == expected, d.diagnostics()
    assert log.index("exited: first") < log.index("exited: second")
    assert "every program is done (exit_when=all)" in log
    assert "stopped:" not in log  # nothing was left to stop


def test_exit_when_any_ends_pid1_with_the_first_finishers_code(tmp_path: Path) -> None:
    marker = tmp_path / "long.term"
    code, d = run_init(
        tmp_path,
        f"""
[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s
exit_when=any
{bystander("long", marker)}
[program:batch]
command=/bin/sh -c 'exit 5'
startsecs=0
autorestart=false
depends_on=long
""",
    )
    log = d.log()
    assert code == 5, d.diagnostics()
    assert "batch is done (exit_when=any)" in log
    assert "stopped: long (exit status 0)" in log
    assert marker.read_text() == "SIGTERM"


def test_exit_when_all_counts_a_program_held_by_a_failed_dependency_as_done(
    tmp_path: Path,
) -> None:
    """A batch job whose setup step gave up can never start: the init must not wait for it
    forever, and reports the setup's failure."""
    code, d = run_init(
        tmp_path,
        """
[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s
exit_when=all

[program:setup]
command=/bin/sh -c 'exit 6'
startretries=0

[program:migrate]
command=/bin/true
startsecs=0
autorestart=false
depends_on=setup

[program:job]
command=/bin/true
startsecs=0
autorestart=false
depends_on=migrate
""",
    )
    log = d.log()
    assert code == 6, d.diagnostics()
    assert "gave up: setup entered FATAL state" in log
    assert "every program is done (exit_when=all)" in log
    assert "spawned: 'migrate'" not in log and "spawned: 'job'" not in log
