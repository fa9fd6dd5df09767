"""Child output reaches its log files completely: across rotations, at exit, across a reopen."""

from __future__ import annotations

import os
import re
import signal

from tests.support import concat_rotated, fixture_command, numbered_lines, wait_until

LINES = 200_000  # 1.8 MB of "%08d\n": more than a (1 MiB) pipe holds


def _expected(count: int, start: int = 0) -> bytes:
    return "".join(line + "\n" for line in numbered_lines(count, start)).encode()


def test_rotation_keeps_every_byte_in_order(daemon):
    backups = 60
    d = daemon(
        f"""
[program:spew]
command={fixture_command("spew.py", LINES)}
stdout_logfile=%(here)s/spew.log
stdout_logfile_maxbytes=64KB
stdout_logfile_backups={backups}
startsecs=0
autorestart=false
"""
    )
    d.wait_log(r"exited: spew \(exit status 0; expected\)", timeout=20)
    path = d.dir / "spew.log"
    assert os.path.exists(f"{path}.20"), "expected many rotations"
    assert not os.path.exists(f"{path}.{backups}"), "a backup was discarded: raise backups"
    data = concat_rotated(path, backups)
    assert data == _expected(LINES)
    # Every rotated file was cut near maxbytes (supervisor rotates after the write that
    # crossed the limit, so a file may exceed it by at most one chunk).
    sizes = [os.path.getsize(f"{path}.{i}") for i in range(1, 20)]
    assert all(s >= 64 * 1024 for s in sizes), sizes


def test_a_childs_last_words_are_kept(daemon):
    # The child writes 1.8 MB to each of stdout and stderr and exits at once: whatever is
    # still in the pipes when it is reaped must be in the logs before its exit is recorded.
    d = daemon(
        f"""
[program:chatty]
command={fixture_command("spew.py", LINES, "--stderr")}
stdout_logfile=%(here)s/chatty.out
stderr_logfile=%(here)s/chatty.err
stdout_logfile_maxbytes=0
stderr_logfile_maxbytes=0
startsecs=0
autorestart=false
"""
    )
    d.wait_log(r"exited: chatty \(exit status 0; expected\)", timeout=20)
    # No waiting here: the exit line is only written after the pipes were drained.
    expected = _expected(LINES)
    assert (d.dir / "chatty.out").read_bytes() == expected
    assert (d.dir / "chatty.err").read_bytes() == expected


def test_redirect_stderr_interleaves_both_streams_into_stdout_log(daemon):
    d = daemon(
        """
[program:both]
command=sh -c 'echo out1; echo err1 >&2; echo out2; echo err2 >&2'
stdout_logfile=%(here)s/both.log
redirect_stderr=true
startsecs=0
autorestart=false
"""
    )
    d.wait_log(r"exited: both \(exit status 0; expected\)")
    assert d.program_log("both.log") == "out1\nerr1\nout2\nerr2\n"


def test_dev_stdout_logfile_writes_to_the_daemons_stdout(daemon):
    d = daemon(
        f"""
[program:container]
command={fixture_command("spew.py", 1000, "--prefix", "container-")}
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
startsecs=0
autorestart=false
"""
    )
    d.wait_log(r"exited: container \(exit status 0; expected\)")
    lines = [x for x in d.stdout().splitlines() if x.startswith("container-")]
    assert lines == ["container-" + x for x in numbered_lines(1000)]


def test_sigusr2_reopens_program_and_main_logs(daemon):
    d = daemon(
        f"""
[program:tick]
command={fixture_command("spew.py", 0, "--interval", "0.01")}
stdout_logfile=%(here)s/tick.log
startsecs=0
"""
    )
    tick = d.dir / "tick.log"
    wait_until(lambda: tick.exists() and tick.stat().st_size >= 5 * 9)
    # logrotate's "create" mode: move the files away, then ask for a reopen.
    os.rename(tick, d.dir / "tick.log.old")
    os.rename(d.log_path, d.dir / "supervisord.log.old")
    d.send(signal.SIGUSR2)
    wait_until(lambda: tick.exists() and tick.stat().st_size >= 5 * 9, timeout=5)
    # A reload request after the reopen must be logged in the new main log file.
    d.send(signal.SIGHUP)
    d.wait_log(r"received SIGHUP indicating a reload request")
    old_main = (d.dir / "supervisord.log.old").read_text()
    assert "received SIGUSR2 indicating log reopen request" in old_main
    assert "SIGHUP" not in old_main
    assert d.stop() == 0
    # Nothing lost or repeated across the reopen: old + new is one unbroken count.
    old = (d.dir / "tick.log.old").read_text().split()
    new = tick.read_text().split()
    assert old and new
    both = [int(x) for x in old + new]
    assert both == list(range(both[0], both[0] + len(both)))
    assert re.fullmatch(r"\d{8}", new[0])
