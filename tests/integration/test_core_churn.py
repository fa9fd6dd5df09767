"""Many short-lived children: every exit status is recorded, for the right process, in order."""

from __future__ import annotations

import re
import time

from tests.support import fixture_command
from tests.support.inprocess import InProcessCore

RUNS = 500


def test_500_short_lived_children_in_a_row_all_get_their_exit_status(daemon, tmp_path):
    counter = tmp_path / "churn.count"
    d = daemon(
        f"""
[program:churn]
command={fixture_command("exit_count.sh", counter, RUNS)}
startsecs=0
autorestart=true
stdout_logfile=NONE
stderr_logfile=NONE
"""
    )
    # Run n exits with n % 256; run RUNS+1 stays up.
    d.wait_spawned("churn", count=RUNS + 1, timeout=60)
    assert d.stop() == 0
    exits = re.findall(r"exited: churn \(exit status (\d+); (expected|not expected)\)", d.log())
    want = [
        (str(n % 256), "expected" if n % 256 == 0 else "not expected") for n in range(1, RUNS + 1)
    ]
    assert exits == want
    pids = d.spawned_pids("churn")
    assert len(pids) == RUNS + 1
    assert "stopped: churn (terminated by SIGTERM)" in d.log()


def test_a_hundred_children_exiting_at_once_each_get_their_own_status(daemon):
    # Their SIGCHLDs merge; reaping until waitpid says "nothing more" must still find all.
    d = daemon(
        """
[program:many]
command=sh -c 'exit %(process_num)d'
process_name=many_%(process_num)02d
numprocs=100
startsecs=0
autorestart=false
exitcodes=0
stdout_logfile=NONE
stderr_logfile=NONE
"""
    )
    d.wait_log(r"exited: many_\d\d ", count=100, timeout=30)
    assert d.stop() == 0
    found = dict(re.findall(r"exited: (many_\d\d) \(exit status (\d+); ", d.log()))
    assert found == {f"many_{n:02d}": str(n) for n in range(100)}


def _write_config(tmp_path, body: str):
    path = tmp_path / "inprocess.conf"
    path.write_text("[supervisord]\nlogfile=NONE\nchildlogdir=%(here)s\n" + body.strip() + "\n")
    return path


def _wait_for_exit(core: InProcessCore, cursor: int, timeout: float) -> int:
    """Block on the event journal (never polling the core, which would wake its loop) until
    the process enters EXITED; return the new cursor."""
    from supervisor_grpc.model import ProcessState, ProcessStateChanged

    journal = core.control.journal
    deadline = time.monotonic() + timeout
    while True:
        items, cursor, _ = journal.read(cursor)
        if any(
            isinstance(event, ProcessStateChanged) and event.to_state is ProcessState.EXITED
            for _, event in items
        ):
            return cursor
        left = deadline - time.monotonic()
        assert left > 0, "no EXITED event: the loop was not woken to reap the child"
        journal.wait(cursor, left)


def _drive_500_starts(core: InProcessCore) -> None:
    cursor = core.control.journal.last_seq
    for n in range(1, RUNS + 1):
        results = core.control.start("once", wait=True, timeout=10)
        assert [r.error for r in results] == [None], (n, results)
        cursor = _wait_for_exit(core, cursor, timeout=5)
        info = core.info("once")
        assert info.exit_status is not None
        assert info.exit_status.code == n % 256, n
        assert info.expected is (n % 256 == 0), n


def test_500_starts_through_control_each_record_the_right_exit_status(tmp_path):
    config = _write_config(
        tmp_path,
        f"""
[program:once]
command={fixture_command("exit_count.sh", tmp_path / "once.count", RUNS + 10)}
autostart=false
startsecs=0
autorestart=false
stdout_logfile=NONE
stderr_logfile=NONE
""",
    )
    # SIGCHLD wakes the loop thread, as in the daemon (see InProcessCore on why it matters).
    with InProcessCore(config, sigchld=True) as core:
        t0 = time.monotonic()
        _drive_500_starts(core)
        assert time.monotonic() - t0 < 60
