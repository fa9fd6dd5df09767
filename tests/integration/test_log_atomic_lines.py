"""Lines from many programs sharing the init's stdout pipe never tear (issue: atomic lines).

Real ``supgrpcd`` whose stdout is a pipe the test reads (as Docker or Kubernetes do), with
eight programs logging to ``/dev/stdout`` as fast as they can. Each gets its own file
description on that one pipe; only a write() of at most PIPE_BUF bytes is atomic there, so
unless every write holds whole lines and stays under PIPE_BUF, one program's bytes land in
the middle of another's line.
"""

from __future__ import annotations

import collections
import os
import re
import select
import signal
from collections.abc import Iterator

import pytest

from tests.support import script, short_tmpdir, wait_until
from tests.support.stalled import StalledStdoutDaemon

PROGRAMS = 8
LINES = 1500  # 100 to 3000 bytes each: about 2.3 MB per program
# Program, sequence number, payload length, payload: the payload is the program's own letter,
# so a line with another program's bytes inside never looks whole.
LINE = re.compile(rb"p(\d\d) (\d{6}) (\d{4}) ([a-z]*)")

WRITER = """
    import random, sys
    me = int(sys.argv[1])
    rng = random.Random(me)
    letter = chr(97 + me)
    out = sys.stdout.buffer
    for seq in range(int(sys.argv[2])):
        n = rng.randrange(100, 3001)
        out.write(b"p%02d %06d %04d %s\\n" % (me, seq, n, letter.encode() * n))
    out.flush()
"""

# Generous bounds: a frozen loop misses them by far more.
ANSWER_WITHIN = 5.0
EXIT_WITHIN = 10.0


FORWARD_PREFIX = re.compile(rb"p(\d\d) \| ")


class SharedStdoutDaemon(StalledStdoutDaemon):
    forward = False  # whether forward_output writes to the same pipe


@pytest.fixture(params=["logs", "logs+forward"])
def shared_stdout(request: pytest.FixtureRequest) -> Iterator[SharedStdoutDaemon]:
    """``logs``: every program logs to /dev/stdout. ``logs+forward``: the daemon's
    forward_output writes there too (``pNN | line``), for all eight programs, while the
    first four also log to /dev/stdout themselves (so their lines come twice)."""
    workdir = short_tmpdir()
    command = script(workdir, "writer", WRITER)
    forward = request.param == "logs+forward"
    programs = "".join(
        f"""
        [program:p{i:02d}]
        command = {command} {i} {LINES}
        stdout_logfile = {"NONE" if forward and i >= PROGRAMS // 2 else "/dev/stdout"}
        stdout_logfile_maxbytes = 0
        startsecs = 0
        autorestart = false
        """
        for i in range(PROGRAMS)
    )
    extra = "forward_output = text\nforward_buffer_bytes = 64MB\n" if forward else ""
    daemon = SharedStdoutDaemon(workdir, programs, supervisord_extra=extra)
    daemon.forward = forward
    try:
        yield daemon
    finally:
        daemon.close()


def _whole(line: bytes) -> tuple[int, bool, int] | None:
    """(program, forwarded, sequence) of a line exactly as written, else None."""
    prefix = FORWARD_PREFIX.match(line)
    forwarded = prefix is not None
    if prefix is not None:
        line = line[prefix.end() :]
    m = LINE.fullmatch(line)
    if m is None:
        return None
    me, seq, n, payload = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    if me >= PROGRAMS or payload != bytes([97 + me]) * n:
        return None
    if prefix is not None and int(prefix.group(1)) != me:
        return None
    return me, forwarded, seq


def test_lines_from_many_programs_on_one_stdout_pipe_never_tear(
    shared_stdout: SharedStdoutDaemon,
) -> None:
    forward = shared_stdout.forward
    shared_stdout.start()
    client = shared_stdout.client(timeout=ANSWER_WITHIN)
    seen: dict[tuple[int, bool], list[int]] = collections.defaultdict(list)
    torn: list[bytes] = []
    rest = b""
    names = [f"p{i:02d}" for i in range(PROGRAMS)]
    logged = [i for i in range(PROGRAMS) if not forward or i < PROGRAMS // 2]
    expected_lines = LINES * (len(logged) + (PROGRAMS if forward else 0))

    def read_some() -> None:
        nonlocal rest
        # 16 KiB at a time: a reader somewhat slower than eight writers, so the pipe
        # keeps filling up and writes come out short.
        while select.select([shared_stdout.read_end], [], [], 0.02)[0]:
            chunk = os.read(shared_stdout.read_end, 16384)
            if not chunk:
                return
            *lines, rest = (rest + chunk).split(b"\n")
            for line in lines:
                whole = _whole(line)
                if whole is None:
                    torn.append(line)
                else:
                    seen[whole[:2]].append(whole[2])

    def dropped() -> int:
        return sum(client.get_process(names[i]).stdout_log.dropped_lines for i in logged)

    def finished() -> bool:
        read_some()
        infos = [client.get_process(n) for n in names]
        return all(i.state == "EXITED" and not i.stdout_log.failing for i in infos)

    def accounted() -> bool:
        """Every line has arrived (torn or whole) or was counted as dropped."""
        read_some()
        arrived = sum(map(len, seen.values())) + len(torn)
        return arrived + dropped() >= expected_lines

    try:
        wait_until(finished, timeout=120, what="every program to finish and its log to drain")
        # What was still in the pipe when the last program exited.
        wait_until(accounted, timeout=30, what="the last lines")
        read_some()
        assert not torn, f"{len(torn)} torn line(s), e.g. " + repr(
            [t[:60] + b"..." + t[-20:] for t in torn[:3]]
        )
        assert rest == b""
        assert "dropped" not in shared_stdout.stderr()  # the forwarder lost nothing
        for i, name in enumerate(names):
            info = client.get_process(name).stdout_log
            for forwarded in (False, True):
                numbers = seen[(i, forwarded)]
                # Per-program order kept, nothing twice, and every line either arrived
                # whole or was counted as dropped.
                assert numbers == sorted(set(numbers)), (name, forwarded)
                if forwarded:
                    assert len(numbers) == (LINES if forward else 0), name
                elif i in logged:
                    assert len(numbers) + info.dropped_lines == LINES, (name, info)
                else:
                    assert not numbers, name
    finally:
        client.close()
    assert shared_stdout.proc is not None
    shared_stdout.proc.send_signal(signal.SIGTERM)
    shared_stdout.proc.wait(EXIT_WITHIN)
