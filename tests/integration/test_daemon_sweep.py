"""The final sweep of stray descendants: every one gets SIGTERM first, with the init still
handling signals and still reading the pipes the orphans inherited."""

from __future__ import annotations

import re
import signal
import sys

from tests.support import (
    conf_escape,
    fixture,
    kill_orphan,
    read_text,
    run,
    supgrpcd_argv,
    wait_until,
)


def _pids(notes: str) -> list[int]:
    return [int(p) for p in re.findall(r"[CG] up (\d+)", read_text(notes))]


def test_a_grandchild_reparented_during_the_sweep_gets_sigterm_before_any_sigkill(tmp_path):
    notes = tmp_path / "notes"
    try:
        done = run(
            [*supgrpcd_argv(), "--", sys.executable, fixture("term_family.py"), str(notes)],
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        text = read_text(notes)
        # G was C's child when the sweep began: it only became ours once C died of SIGTERM.
        assert "C TERM" in text and "G TERM" in text, text
    finally:
        for pid in _pids(notes):
            kill_orphan(pid)


def _family_program(notes, *extra: str) -> str:
    command = " ".join(
        conf_escape(a) for a in (sys.executable, fixture("term_family.py"), str(notes), *extra)
    )
    return f"""
[program:family]
command={command}
stdout_logfile=%(here)s/family.log
startsecs=0
autorestart=false
"""


def test_orphans_writing_to_their_program_pipe_in_the_sweep_are_read_not_killed(daemon, tmp_path):
    notes = tmp_path / "notes"
    d = daemon(_family_program(notes))
    try:
        wait_until(lambda: "family up" in d.program_log("family.log"))
        d.wait_log(r"exited: family")
        assert d.stop() == 0
        out = d.program_log("family.log")
        assert "C got TERM" in out and "G got TERM" in out, (out, read_text(notes))
        assert "C TERM" in read_text(notes) and "G TERM" in read_text(notes)
    finally:
        for pid in _pids(notes):
            kill_orphan(pid)


def test_a_second_sigterm_during_the_sweep_does_not_kill_the_init(daemon, tmp_path):
    notes = tmp_path / "notes"
    d = daemon(_family_program(notes, "--stubborn"))
    try:
        wait_until(lambda: "family up" in d.program_log("family.log"))
        d.wait_log(r"exited: family")
        d.send(signal.SIGTERM)
        d.wait_log(r"terminating \d+ remaining process")
        wait_until(lambda: "C TERM" in read_text(notes))  # G, ignoring TERM, is left
        d.send(signal.SIGTERM)
        assert d.wait(20) == 0, d.diagnostics()  # G got SIGKILL after its grace period
        assert "exiting with status 0" in d.log()
        assert "G TERM" not in read_text(notes)
    finally:
        for pid in _pids(notes):
            kill_orphan(pid)
