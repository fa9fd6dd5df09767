"""Reaping: the only code in supgrpc that waits on children.

Owns: ``waitpid(-1, WNOHANG)`` until nothing is left, and decoding wait statuses.
May import: model, stdlib.
Threading: loop thread only.

Reaping is level-triggered: the loop calls ``reap`` on every wake-up, so SIGCHLDs that were
merged or lost can never leave a zombie behind (tini reaps until ECHILD the same way).
"""

from __future__ import annotations

import os

from ..model import ExitStatus


def decode_wait_status(status: int) -> ExitStatus:
    if os.WIFSIGNALED(status):
        return ExitStatus(signal=os.WTERMSIG(status), core_dumped=os.WCOREDUMP(status))
    if os.WIFEXITED(status):
        return ExitStatus(code=os.WEXITSTATUS(status))
    return ExitStatus(code=None)


def reap() -> list[tuple[int, ExitStatus]]:
    """Collect every child that has exited so far, orphans included."""
    reaped: list[tuple[int, ExitStatus]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # ECHILD: no children at all
            break
        if pid == 0:
            break
        reaped.append((pid, decode_wait_status(status)))
    return reaped
