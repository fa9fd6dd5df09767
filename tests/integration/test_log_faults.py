"""Log sinks that fail or stall never freeze the init, and never lose a line silently
(issue 11, items 1, 5 and 6).

Real ``supgrpcd`` subprocesses: one whose stdout is a pipe nobody reads, one whose log
directory is a tiny tmpfs that fills up (in a private mount namespace), one whose SIGUSR2
reopen fails for one channel.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import (
    SUPGRPCD,
    Daemon,
    grpc_daemon,
    grpc_options,
    py,
    short_tmpdir,
    wait_until,
    zombies_of,
)
from tests.support.grpc_clients import RPC_ERRORS
from tests.support.stalled import StalledStdoutDaemon

# Generous bounds: a frozen loop misses them by far more (forever, before the fix).
ANSWER_WITHIN = 5.0
EXIT_WITHIN = 10.0


SPEW = py('import sys, itertools; [print(80 * "x") for _ in itertools.count()]')


@pytest.fixture
def stalled() -> Iterator[StalledStdoutDaemon]:
    daemon = StalledStdoutDaemon(
        short_tmpdir(),
        f"""
        [program:spew]
        command = {SPEW}
        stdout_logfile = /dev/stdout
        stdout_logfile_maxbytes = 0
        startsecs = 0

        [program:sleeper]
        command = sleep 1000
        autorestart = false
        startsecs = 0
        """,
    )
    try:
        yield daemon
    finally:
        daemon.close()


def _timed(fn: object) -> tuple[object, float]:
    t0 = time.monotonic()
    value = fn()  # type: ignore[operator]
    return value, time.monotonic() - t0


def test_unread_stdout_pipe_never_freezes_the_loop(stalled: StalledStdoutDaemon) -> None:
    stalled.start()
    client = stalled.client(timeout=ANSWER_WITHIN)
    try:
        # The pipe fills up (64 KiB by default) while spew keeps writing to /dev/stdout,
        # then the sink's own buffer does, and it starts dropping.
        wait_until(
            lambda: client.get_process("spew").stdout_log.failing,
            what="the sink to drop",
            retry_on=RPC_ERRORS,
        )
        assert stalled.queued() > 16384  # nobody read a byte: the pipe is full
        sleeper = wait_until(
            lambda: client.get_process("sleeper").pid, what="sleeper to run", retry_on=RPC_ERRORS
        )
        # Status still answers promptly, again and again, while the pipe stays full.
        for _ in range(5):
            _, took = _timed(client.list_processes)
            assert took < ANSWER_WITHIN
        # A child that dies is reaped (no zombie is left) and its exit recorded.
        os.kill(sleeper, signal.SIGKILL)
        wait_until(
            lambda: client.get_process("sleeper").state == "EXITED",
            what="sleeper EXITED",
            retry_on=RPC_ERRORS,
        )
        assert wait_until(
            lambda: not zombies_of(stalled.proc.pid), what="no zombie", retry_on=RPC_ERRORS
        )
        # What the stalled sink could not take is counted, in an RPC field...
        spew = wait_until(
            lambda: (p := client.get_process("spew")).stdout_log.dropped_bytes > 0 and p,
            what="dropped bytes reported",
            retry_on=RPC_ERRORS,
        )
        assert spew.stdout_log.dropped_lines > 0
        assert spew.stdout_log.dropped_bytes >= 81 * spew.stdout_log.dropped_lines
        # ...and in the main log, once for the episode.
        wait_until(
            lambda: re.search(r"spew stdout log /dev/stdout: .*dropping", stalled.log()),
            what="drop report in the main log",
            retry_on=RPC_ERRORS,
        )
        assert len(re.findall(r"spew stdout log .*dropping", stalled.log())) == 1
    finally:
        client.close()
    # SIGTERM is acted on promptly even though stdout is still not read.
    t0 = time.monotonic()
    assert stalled.proc is not None
    stalled.proc.send_signal(signal.SIGTERM)
    stalled.proc.wait(EXIT_WITHIN)
    took = time.monotonic() - t0
    assert took < EXIT_WITHIN
    log = stalled.log()
    assert "received SIGTERM" in log
    assert re.search(r"spew stdout log /dev/stdout: \d+ line\(s\) \(\d+ bytes\) dropped", log)
    # Drops never tear or glue lines: every complete line in the pipe is one spew wrote.
    # (The last one may be cut: its rest was still buffered when the init exited, which
    # the summary line counts.)
    assert re.search(r"spew stdout log .*bytes still unwritten at close", log)
    data = b""
    while chunk := _read_nonblocking(stalled.read_end):
        data += chunk
    assert set(data.split(b"\n")[:-1]) == {b"x" * 80}


class StalledMainLogDaemon(StalledStdoutDaemon):
    """``logfile=/dev/stdout`` too: the daemon's own log goes into the pipe nobody reads."""

    def __init__(self, workdir: str, programs: str) -> None:
        super().__init__(workdir, programs)
        text = self.config_path.read_text()
        self.config_path.write_text(
            text.replace("logfile=%(here)s/supervisord.log", "logfile = /dev/stdout", 1)
        )


def test_main_log_on_an_unread_stdout_never_freezes_the_loop() -> None:
    daemon = StalledMainLogDaemon(
        short_tmpdir(),
        f"""
        [program:spew]
        command = {SPEW}
        stdout_logfile = /dev/stdout
        startsecs = 0

        [program:blink]
        command = true
        startsecs = 0
        autorestart = true
        """,
    )
    try:
        daemon.start()
        client = daemon.client(timeout=ANSWER_WITHIN)
        try:
            wait_until(
                lambda: client.get_process("spew").stdout_log.failing,
                what="the sink to drop",
                retry_on=RPC_ERRORS,
            )
            # blink exits and restarts over and over: the main log keeps getting lines
            # (spawned/exited) it cannot write, and the loop keeps reaping regardless.
            spawned = _main_ring(client).count("spawned: 'blink'")
            wait_until(
                lambda: _main_ring(client).count("spawned: 'blink'") > spawned + 20,
                what="blink restarting",
                retry_on=RPC_ERRORS,
            )
            # The drop report reaches the main log's ring (TailLog, maintail) even though its
            # own sink waits in the same stalled pipe.
            assert re.search(r"spew stdout log /dev/stdout: not being read", _main_ring(client))
        finally:
            client.close()
        assert daemon.proc is not None
        t0 = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(EXIT_WITHIN)
        assert time.monotonic() - t0 < EXIT_WITHIN
    finally:
        daemon.close()


def _main_ring(client: object) -> str:
    chunks = client.tail_log(streams=("main",))  # type: ignore[attr-defined]
    return b"".join(c.data for c in chunks).decode(errors="replace")


def _read_nonblocking(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


# -- item 5: a full disk ---------------------------------------------------------------------

COUNTER = py(
    "import time, itertools; "
    '[(print(f"line {i:06d} " + 50 * "x"), time.sleep(0.0005)) for i in itertools.count()]'
)
LINE = re.compile(rb"line (\d{6}) x{50}")


class TinyDiskDaemon(Daemon):
    """A daemon in a private mount namespace whose program logs go to a 1 MiB tmpfs that a
    filler file nearly fills. The test sees that tmpfs through /proc/<pid>/root."""

    def __init__(self, workdir: str) -> None:
        self.mnt = Path(workdir) / "tiny"
        self.mnt.mkdir()
        super().__init__(
            workdir,
            f"""
            [program:counter]
            command = {COUNTER}
            stdout_logfile = {self.mnt}/counter.log
            stdout_logfile_maxbytes = 0
            startsecs = 0
            """,
            **grpc_options(workdir),
        )
        script = (
            f"mount -t tmpfs -o size=1m tmpfs {self.mnt} && "
            f"head -c 960000 /dev/zero > {self.mnt}/filler && "
            f"exec {SUPGRPCD} -c {self.config_path}"
        )
        self.argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        self.use_config_flag = False

    def inside(self, name: str) -> Path:
        """A file on the tmpfs, as seen from our own mount namespace."""
        assert self.proc is not None
        return Path(f"/proc/{self.proc.pid}/root{self.mnt}/{name}")


def _can_unshare_mounts() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    return probe.returncode == 0


@pytest.fixture
def tiny_disk() -> Iterator[TinyDiskDaemon]:
    if not _can_unshare_mounts():
        pytest.skip("needs root and unshare --mount (a private tmpfs)")
    daemon = TinyDiskDaemon(short_tmpdir())
    try:
        yield daemon
    finally:
        daemon.close()


FAILED_RE = r"counter stdout log \S+counter\.log: write failed \(No space left on device\)"
RESUMED_RE = r"counter stdout log \S+counter\.log: (\d+) line\(s\) \((\d+) bytes\) dropped; writing"


def test_full_disk_keeps_lines_whole_reports_once_and_resumes(
    tiny_disk: TinyDiskDaemon,
) -> None:
    tiny_disk.start()
    client = tiny_disk.client(timeout=ANSWER_WITHIN)
    try:
        wait_until(
            lambda: re.search(FAILED_RE, tiny_disk.log()), what="ENOSPC report", retry_on=RPC_ERRORS
        )
        info = client.get_process("counter").stdout_log
        assert info.failing and info.last_error == "No space left on device"
        assert info.write_errors >= 1
        # Many more lines are lost while the disk stays full, yet the report stays single.
        first = info.dropped_lines
        wait_until(
            lambda: client.get_process("counter").stdout_log.dropped_lines > first + 200,
            what="more drops",
            retry_on=RPC_ERRORS,
        )
        assert len(re.findall(FAILED_RE, tiny_disk.log())) == 1
        # Space comes back: writing resumes by itself, and the episode is summed up once.
        tiny_disk.inside("filler").unlink()
        match = wait_until(
            lambda: re.search(RESUMED_RE, tiny_disk.log()),
            what="resume report",
            retry_on=RPC_ERRORS,
        )
        info = client.get_process("counter").stdout_log
        assert not info.failing
        assert info.dropped_lines >= int(match.group(1)) > 200
        resumed_at = tiny_disk.inside("counter.log").stat().st_size
        wait_until(
            lambda: tiny_disk.inside("counter.log").stat().st_size > resumed_at + 6000,
            what="lines after the resume",
            retry_on=RPC_ERRORS,
        )
        data = tiny_disk.inside("counter.log").read_bytes()
    finally:
        client.close()
    # Every line in the file is whole: no torn line, no two lines glued together.
    lines = data.split(b"\n")
    lines.pop()  # empty, or the line the program is writing right now
    numbers = []
    for line in lines:
        m = LINE.fullmatch(line)
        assert m, f"torn line in the log: {line[:120]!r}"
        numbers.append(int(m.group(1)))
    gaps = [b - a for a, b in itertools.pairwise(numbers) if b != a + 1]
    assert len(gaps) == 1 and gaps[0] > 200  # one episode, whole lines dropped, in order
    assert len(re.findall(FAILED_RE, tiny_disk.log())) == 1


# -- item 6: SIGUSR2 reopens each channel independently ------------------------------------


@pytest.fixture
def rotated() -> Iterator[Daemon]:
    workdir = short_tmpdir()
    os.mkdir(f"{workdir}/gone")
    daemon = grpc_daemon(
        workdir,
        f"""
        [program:a_bad]
        command = {py("import time; [time.sleep(0.01) or print(1) for _ in iter(int, 1)]")}
        stdout_logfile = {workdir}/gone/a.log
        startsecs = 0

        [program:b_good]
        command = {py("import time; [time.sleep(0.01) or print(2) for _ in iter(int, 1)]")}
        stdout_logfile = {workdir}/b.log
        startsecs = 0
        """,
    )
    try:
        yield daemon
    finally:
        daemon.close()


def _logrotate(daemon: Daemon) -> None:
    """What logrotate would do, except that a_bad's directory went away too."""
    d = daemon.dir
    os.rename(d / "gone", d / "gone.old")
    os.rename(d / "b.log", d / "b.log.1")
    os.rename(d / "supervisord.log", d / "supervisord.log.1")


def test_a_reopen_that_fails_for_one_channel_spares_the_others(rotated: Daemon) -> None:
    rotated.start()
    client = rotated.client(timeout=ANSWER_WITHIN)
    try:
        wait_until(
            lambda: all(p.state == "RUNNING" for p in client.list_processes()),
            what="RUNNING",
            retry_on=RPC_ERRORS,
        )
        _logrotate(rotated)
        assert rotated.proc is not None
        rotated.proc.send_signal(signal.SIGUSR2)
        # b_good (after a_bad) and the main log (reopened last) got new files...
        wait_until(
            lambda: (rotated.dir / "b.log").stat().st_size > 0,
            what="new b.log",
            retry_on=RPC_ERRORS,
        )
        wait_until(
            lambda: (rotated.dir / "supervisord.log").exists(),
            what="new main log",
            retry_on=RPC_ERRORS,
        )
        client.stop("b_good")
        wait_until(
            lambda: "stopped: b_good" in rotated.log(), what="main log lines", retry_on=RPC_ERRORS
        )
        # ...and a_bad's failure was said (before the main log moved on) and is in process info.
        old_log = (rotated.dir / "supervisord.log.1").read_text()
        assert re.search(
            r"a_bad stdout log \S+/gone/a\.log: cannot reopen \(No such file or directory\)",
            old_log,
        )
        bad = client.get_process("a_bad").stdout_log
        assert bad.failing and bad.last_error == "No such file or directory"
        assert not client.get_process("b_good").stdout_log.failing
    finally:
        client.close()


def test_signals_in_the_same_batch_as_a_failing_reopen_are_handled(rotated: Daemon) -> None:
    rotated.start()
    assert rotated.proc is not None
    wait_until(lambda: (rotated.dir / "b.log").exists(), what="b.log", retry_on=RPC_ERRORS)
    _logrotate(rotated)
    # Stopped, the daemon collects both signals; on SIGCONT they reach the loop in one batch.
    os.kill(rotated.proc.pid, signal.SIGSTOP)
    wait_until(lambda: _state(rotated.proc.pid) == "T", what="stopped", retry_on=RPC_ERRORS)
    rotated.proc.send_signal(signal.SIGUSR2)
    rotated.proc.send_signal(signal.SIGTERM)
    os.kill(rotated.proc.pid, signal.SIGCONT)
    assert rotated.proc.wait(EXIT_WITHIN) == 0
    # Both were acted on, whatever order the kernel delivered them in (threads race for
    # process-wide signals; tests/unit/test_daemon_signal_batch.py pins the order).
    logs = (rotated.dir / "supervisord.log.1").read_text() + rotated.log()
    assert "log reopen request" in logs and "received SIGTERM" in logs


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]
