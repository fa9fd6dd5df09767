"""Output forwarding (``forward_output``) and the JSON daemon log (``log_format``) with real
children under a real supgrpcd, whose stdout/stderr are files the test reads.

The child writes with os.write (one chunk per call) and pauses in the middle of a line, so
the daemon reads that line in two pieces; it ends with text that has no final newline, which
must come out when the program exits (not only when the daemon does).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tests.support import Daemon, python_command, read_text, wait_until

TALKER = python_command(
    """
import os, time
os.write(1, b"hel")
time.sleep(0.3)
os.write(1, b'lo "world" \\\\ \\xc3\\xa9t\\xc3\\xa9\\n')
os.write(2, b"to stderr\\n")
os.write(1, b"first\\nsecond\\n")
time.sleep(0.1)
os.write(1, b"no newline at the end")
"""
)
EXPECTED_STDOUT = ['hello "world" \\ été', "first", "second", "no newline at the end"]

PROGRAMS = f"""
[program:talker]
command={TALKER}
startsecs=0
autorestart=false

[program:quiet]
command=/bin/sleep 60
startsecs=0
"""


def header(**extra: str) -> str:
    lines = [
        "[supervisord]",
        "logfile=%(here)s/supervisord.log",
        "pidfile=%(here)s/supervisord.pid",
        "childlogdir=%(here)s",
        "loglevel=info",
        *(f"{key}={value}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def test_text_forwarding_prefixes_whole_lines(daemon: Callable[..., Daemon]) -> None:
    d = daemon(header(forward_output="text") + PROGRAMS)
    # Flushed at the program's exit, while the daemon is still running.
    wait_until(lambda: "talker | no newline at the end\n" in d.stdout(), timeout=10)
    d.wait_log(r"exited: talker \(exit status 0; expected\)")
    wait_until(lambda: "talker | to stderr\n" in d.stderr(), timeout=5)
    assert d.running
    assert d.stop() == 0
    forwarded = [line for line in d.stdout().splitlines() if line.startswith("talker | ")]
    assert forwarded == [f"talker | {text}" for text in EXPECTED_STDOUT]
    assert "talker | hel\n" not in d.stdout()  # the line read in two pieces came out whole
    assert "to stderr" not in d.stdout()
    assert [ln for ln in d.stderr().splitlines() if "talker" in ln] == ["talker | to stderr"]
    # In addition to the log files, not instead of them.
    logs = [p for p in d.dir.iterdir() if p.name.startswith("talker-stdout")]
    assert len(logs) == 1
    assert logs[0].read_text().endswith("second\nno newline at the end")


def _json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        record = json.loads(line)  # every line, not only the forwarded ones
        assert isinstance(record, dict), line
        out.append(record)
    return out


def test_json_forwarding_and_json_daemon_log_parse_line_by_line(
    daemon: Callable[..., Daemon],
) -> None:
    d = daemon(header(forward_output="json", log_format="json") + PROGRAMS)
    wait_until(lambda: "no newline at the end" in d.stdout(), timeout=10)
    wait_until(lambda: "to stderr" in d.stderr(), timeout=5)
    assert d.stop() == 0

    stdout = _json_lines(d.stdout())
    forwarded = [r for r in stdout if "program" in r]
    assert [r["line"] for r in forwarded if r["program"] == "talker"] == EXPECTED_STDOUT
    for record in forwarded:
        assert set(record) == {"time", "program", "stream", "line"}, record
        assert record["stream"] == "stdout"
        datetime.fromisoformat(record["time"])
    # What is not forwarded output is the daemon's own log, echoed: JSON too.
    own = [r for r in stdout if "program" not in r]
    assert own and all(set(r) == {"time", "level", "message"} for r in own)

    stderr = _json_lines(d.stderr())
    assert [(r["program"], r["stream"], r["line"]) for r in stderr] == [
        ("talker", "stderr", "to stderr")
    ]

    log = _json_lines(d.log())
    assert log and all(set(r) == {"time", "level", "message"} for r in log)
    for record in log:
        datetime.fromisoformat(record["time"])
    messages = [r["message"] for r in log]
    assert any(re.match(r"spawned: 'talker' with pid \d+", m) for m in messages)
    assert any(m.startswith("exiting with status 0") for m in messages)


SPEW_LINES = 20_000


def test_a_stdout_nobody_reads_costs_lines_not_the_loop_and_says_so(
    daemon: Callable[..., Daemon],
) -> None:
    # --silent: the daemon's own log is not echoed to stdout (that echo is a plain blocking
    # write, see docs/container.md), so only forwarding writes there.
    d = daemon(
        header(forward_output="json", forward_buffer_bytes="64KB")
        + f"""
[program:spew]
command={python_command(SPEW.format(lines=SPEW_LINES))}
startsecs=0
autorestart=false
stdout_logfile=%(here)s/spew.log

[program:tick]
command=/bin/sleep 0.1
startsecs=0
autorestart=true
""",
        start=False,
        args=["--silent"],
    )
    with open(d.err_path, "wb") as err:
        d.proc = subprocess.Popen(
            d.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, cwd=d.dir
        )
    stdout = d.proc.stdout
    assert stdout is not None
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(stdout.read()))
    try:
        d.wait_started()
        # Every byte is in the log file, though stdout (a 64 KiB pipe) is not being read ...
        spew_log = d.dir / "spew.log"
        wait_until(lambda: read_text(spew_log).count("\n") == SPEW_LINES, timeout=15)
        # ... and the loop goes on (tick is respawned every 0.1 s) while forwarding is stuck.
        ticks = len(d.spawned_pids("tick"))
        d.wait_log(r"spawned: 'tick'", count=ticks + 5, timeout=10)
        reader.start()
        wait_until(lambda: "dropped" in d.stderr(), timeout=10)
        assert d.stop() == 0
    finally:
        d.kill()  # (a no-op when it has exited) ends the pipe, so the reader ends too
        if reader.ident is not None:
            reader.join(timeout=10)
    lines = b"".join(received).decode().splitlines()
    delivered = [json.loads(line) for line in lines]  # whole lines only, each one JSON
    assert all(r["program"] == "spew" and r["line"] == "x" * 200 for r in delivered)
    total = int(d.wait_log(r"forwarding dropped (\d+) line\(s\) in all")[0].group(1))
    assert len(delivered) + total == SPEW_LINES
    notes = _json_lines(d.stderr())  # the notes are JSON too
    assert notes and all(r["level"] == "WARN" for r in notes)
    assert sum(r["dropped"] for r in notes) == total


SPEW = """
import os
line = b"x" * 200 + b"\\n"
for _ in range({lines}):
    os.write(1, line)
import time
time.sleep(60)
"""
