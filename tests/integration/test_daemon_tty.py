"""Single-command mode on a real terminal: the command owns the foreground from its first
instruction, so reading the terminal at once never stops it with SIGTTIN.

supgrpcd runs as the session leader of a fresh pty (``setsid -c``), as in ``docker run -it``.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time

import pytest

from tests.support import children_of, proc_state, supgrpcd_argv

SETSID = shutil.which("setsid")
TINI = shutil.which("tini")
pytestmark = pytest.mark.skipif(SETSID is None, reason="setsid (util-linux) is not installed")
READER = ["sh", "-c", "read line; echo got:$line"]


def _read_until(fd: int, needle: bytes, deadline: float) -> bytes:
    seen = b""
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every slave end closed
            break
        if not chunk:
            break
        seen += chunk
    return seen


def run_on_a_pty(init: list[str], command: list[str], timeout: float = 10.0) -> str:
    """Run ``init command`` as session leader of a new pty, type a line at once; return
    "ok", or "stopped" if the command ended up stopped (SIGTTIN) instead of reading it."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [SETSID, "-c", *init, *command],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
        )
    finally:
        os.close(slave)
    try:
        os.write(master, b"hello\n")  # typed before the command can have run
        deadline = time.monotonic() + timeout
        seen = _read_until(master, b"got:hello", deadline)
        if b"got:hello" in seen:
            proc.wait(timeout)
            return "ok"
        states = [proc_state(c) for c in children_of(proc.pid)]
        return "stopped" if "T" in states else f"neither: {seen!r} {states}"
    finally:
        if proc.poll() is None:
            for child in children_of(proc.pid):
                os.kill(child, 9)
            proc.kill()
            proc.wait()
        os.close(master)


RUNS = 20


def test_a_command_reading_the_terminal_at_once_is_never_stopped():
    results = [run_on_a_pty([*supgrpcd_argv(), "--"], READER) for _ in range(RUNS)]
    assert results.count("ok") == RUNS, results


@pytest.mark.skipif(TINI is None, reason="tini is not installed")
def test_tini_does_the_same_reference():
    results = [run_on_a_pty([TINI, "-s", "--"], READER) for _ in range(5)]
    assert results.count("ok") == 5, results
