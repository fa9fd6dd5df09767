"""Many stalled stream logs cost one flusher, not one thread each; a FIFO log with no reader
never freezes the init; the main log's own drops are visible over RPC (issue 11
follow-ups, items 1 to 3).

Real ``supgrpcd`` subprocesses: one whose stdout is a pipe nobody reads yet, shared by many
programs logging to ``/dev/stdout``; one whose program log and main log are FIFOs that
nobody has opened for reading yet.
"""

from __future__ import annotations

import collections
import json
import os
import re
import select
import signal
import subprocess
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.commands import CLI, short_tmpdir
from tests.support.daemon import Daemon
from tests.support.layouts import grpc_options
from tests.support.net import free_port
from tests.support.stalled import StalledStdoutDaemon
from tests.support.wait import wait_until

# Generous bounds: a frozen loop misses them by far more (forever, before the fix).
ANSWER_WITHIN = 5.0
EXIT_WITHIN = 10.0

PROGRAMS = 40
LINES = 100_000  # 14-byte lines: 1.4 MB each, more than a stream sink's 1 MiB buffer
# The program number twice: a line torn by another writer's bytes never looks whole.
NUMBERED = re.compile(rb"p(\d\d) (\d\d)(\d{7})")


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.fixture
def many_stalled() -> Iterator[StalledStdoutDaemon]:
    programs = "".join(
        f"""
        [program:p{i:02d}]
        command = sh -c 'seq -f "p{i:02d} {i:02d}%%07g" 1 {LINES}; exec sleep 1000'
        stdout_logfile = /dev/stdout
        stdout_logfile_maxbytes = 0
        startsecs = 0
        autorestart = false
        """
        for i in range(PROGRAMS)
    )
    daemon = StalledStdoutDaemon(short_tmpdir(), programs)
    try:
        yield daemon
    finally:
        daemon.close()


def test_many_stalled_stream_logs_share_one_flusher(many_stalled: StalledStdoutDaemon) -> None:
    many_stalled.start()
    assert many_stalled.proc is not None
    pid = many_stalled.proc.pid
    client = many_stalled.client(timeout=ANSWER_WITHIN)
    try:
        names = [f"p{i:02d}" for i in range(PROGRAMS)]
        # Every program has written all it will, and every sink is stalled (the pipe is
        # full and nobody reads it) and has had to drop.
        wait_until(
            lambda: all(
                (i := client.get_process(n).stdout_log).failing and i.dropped_lines > 0
                for n in names
            ),
            timeout=60,
            what="every sink to stall and drop",
        )
        # One thread drains every stalled sink: the count does not grow with the streams.
        stalled_threads = _threads(pid)
        assert stalled_threads < PROGRAMS // 2, f"{stalled_threads} threads for {PROGRAMS} sinks"
        # The reader comes back: every buffered byte flows out, in order per program.
        seen: dict[int, list[int]] = collections.defaultdict(list)
        # Forty writers share one pipe, and a write of more than PIPE_BUF bytes is not
        # atomic: another program's bytes may land inside a line (as with supervisord).
        torn: list[bytes] = []
        rest = b""

        def drained() -> bool:
            nonlocal rest
            while select.select([many_stalled.read_end], [], [], 0.05)[0]:
                data = rest + os.read(many_stalled.read_end, 1 << 20)
                *lines, rest = data.split(b"\n")
                for line in lines:
                    m = NUMBERED.fullmatch(line)
                    if m and m.group(1) == m.group(2):
                        seen[int(m.group(1))].append(int(m.group(3)))
                    else:
                        torn.append(line)
            return not any(client.get_process(n).stdout_log.failing for n in names)

        wait_until(drained, timeout=60, what="every sink to drain")
        drained()
        missing = 0
        for i, name in enumerate(names):
            numbers = seen[i]
            assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), name
            info = client.get_process(name).stdout_log
            # Every line arrived or was counted as dropped (but for those torn apart by
            # another writer's bytes).
            assert len(numbers) + info.dropped_lines <= LINES, name
            missing += LINES - len(numbers) - info.dropped_lines
            assert info.dropped_bytes == 14 * info.dropped_lines
        assert missing <= 2 * len(torn), (missing, torn[:5])
        # Once nothing is stalled the flusher is gone too.
        assert _threads(pid) <= stalled_threads
    finally:
        client.close()
    many_stalled.proc.send_signal(signal.SIGTERM)
    many_stalled.proc.wait(EXIT_WITHIN)


# -- item 2: a FIFO with no reader ---------------------------------------------------------


class FifoDaemon(Daemon):
    """A program log and the main log that are FIFOs nobody reads yet."""

    def __init__(self, workdir: str) -> None:
        self.fifo = Path(workdir) / "prog.fifo"
        self.main_fifo = Path(workdir) / "main.fifo"
        os.mkfifo(self.fifo)
        os.mkfifo(self.main_fifo)
        super().__init__(
            workdir,
            f"""
            [program:talker]
            command = sh -c 'i=0; while :; do i=$((i+1)); echo "talk $i"; sleep 0.05; done'
            stdout_logfile = {self.fifo}
            startsecs = 0
            """,
            **grpc_options(workdir),
        )
        self.config_path.write_text(
            self.config_path.read_text().replace(
                "logfile=%(here)s/supervisord.log", f"logfile={self.main_fifo}"
            )
        )


def _read_lines_until(fd: int, pattern: bytes, deadline: float) -> bytes:
    data = b""
    end = time.monotonic() + deadline
    while pattern not in data and time.monotonic() < end:
        if select.select([fd], [], [], 0.1)[0]:
            data += os.read(fd, 1 << 16)
    return data


def test_a_fifo_log_without_a_reader_never_blocks_the_init() -> None:
    daemon = FifoDaemon(short_tmpdir())
    try:
        # Before the fix open() blocked: the daemon never got as far as listening.
        daemon.start()
        client = daemon.client(timeout=ANSWER_WITHIN)
        try:
            wait_until(lambda: client.get_process("talker").state == "RUNNING", what="RUNNING")
            info = wait_until(
                lambda: (i := client.get_process("talker").stdout_log).failing and i,
                what="the sink to say it has no reader",
            )
            assert "no reader" in info.last_error
            # SIGUSR2 (reopen) and a reload that adds a program logging to another FIFO
            # nobody reads do not block either.
            assert daemon.proc is not None
            daemon.proc.send_signal(signal.SIGUSR2)
            late_fifo = daemon.dir / "late.fifo"
            os.mkfifo(late_fifo)
            daemon.config_path.write_text(
                daemon.config_path.read_text()
                + f"\n[program:late]\ncommand = echo late\nstdout_logfile = {late_fifo}\n"
                "startsecs = 0\nautorestart = false\n"
            )
            t0 = time.monotonic()
            assert "late" in client.update().added
            assert time.monotonic() - t0 < ANSWER_WITHIN
            wait_until(lambda: client.get_process("late").state == "EXITED", what="late ran")
            assert "no reader" in client.get_process("late").stdout_log.last_error
            for _ in range(3):
                t0 = time.monotonic()
                client.list_processes()
                assert time.monotonic() - t0 < ANSWER_WITHIN
            # A reader opens the FIFOs: the lines come (held ones first, whole lines).
            fd = os.open(daemon.fifo, os.O_RDONLY | os.O_NONBLOCK)
            main_fd = os.open(daemon.main_fifo, os.O_RDONLY | os.O_NONBLOCK)
            try:
                data = _read_lines_until(fd, b"\n", 10)
                data += _read_lines_until(fd, b"talk", 10)
                lines = data.split(b"\n")[:-1]
                assert lines and all(re.fullmatch(rb"talk \d+", line) for line in lines), data
                numbers = [int(line.split()[1]) for line in lines]
                assert numbers == sorted(numbers)
                assert numbers[0] == 1  # the first lines were held, not lost
                wait_until(
                    lambda: not client.get_process("talker").stdout_log.failing,
                    what="the sink to recover",
                )
                main = _read_lines_until(main_fd, b"talker stdout log", 10)
                assert b"supgrpcd started" in main
                # The main log's own WARN (said before logging was set up) is in it too.
                assert re.search(rb"WARN supervisord main log \S+main\.fifo: no reader yet", main)
            finally:
                os.close(fd)
                os.close(main_fd)
        finally:
            client.close()
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(EXIT_WITHIN) == 0
    finally:
        daemon.stop()


# -- item 3: the main log's own drops, over GetState and in `supgrpc-cli status` -----------


class StalledMainLogTraceDaemon(StalledStdoutDaemon):
    """``logfile=/dev/stdout`` into a pipe nobody reads, at loglevel trace, with an XML-RPC
    port: each XML-RPC fault is traced with its text, so long names fill the main log fast."""

    def write_config(self, body: str | None = None) -> Path:
        path = super().write_config(body)
        text = path.read_text()
        text = text.replace("logfile=%(here)s/supervisord.log", "logfile=/dev/stdout")
        path.write_text(text.replace("loglevel=debug", "loglevel=trace"))
        return path


def test_main_log_drops_are_in_get_state_and_cli_status() -> None:
    port = free_port()
    daemon = StalledMainLogTraceDaemon(
        short_tmpdir(),
        f"""
        [inet_http_server]
        port = 127.0.0.1:{port}

        [program:sleeper]
        command = sleep 1000
        startsecs = 0
        """,
    )
    try:
        daemon.start()
        client = daemon.client(timeout=ANSWER_WITHIN)
        rpc = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2")
        try:
            assert client.get_state().main_log.dropped_lines == 0

            def flood() -> bool:
                with pytest.raises(xmlrpc.client.Fault):
                    rpc.supervisor.startProcess("n" * 100_000)  # traced: ~100 KB per call
                faults = client.get_state().main_log
                return faults.failing and faults.dropped_lines > 0

            wait_until(flood, timeout=60, what="the main log to drop")
            faults = client.get_state().main_log
            assert "not being read" in faults.last_error
            assert faults.dropped_bytes > 100_000 and faults.write_errors == 0
            status = subprocess.run(
                [CLI, "-s", daemon.unix_address, "status"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert "sleeper" in status.stdout
            assert re.search(
                r"^supgrpcd \[main log: \d+ line\(s\) dropped, not being read", status.stdout, re.M
            ), status.stdout
            as_json = subprocess.run(
                [CLI, "-s", daemon.unix_address, "-o", "json", "status"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert json.loads(as_json.stdout)["main_log"]["dropped_lines"] > 0
        finally:
            client.close()
    finally:
        daemon.close()
