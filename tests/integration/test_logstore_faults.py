"""Log sinks that stall or fail (issue 11, items 1 and 5), against real pipes and /dev/full:
never blocking, never tearing a line, every loss counted and reported once per episode."""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from supervisor_grpc.logstore import LogChannel
from supervisor_grpc.logstore.faults import SinkFaults
from supervisor_grpc.logstore.flusher import StreamFlusher
from supervisor_grpc.logstore.streamout import LINE_SLACK_BYTES, StreamOut
from supervisor_grpc.model import LogSpec

LINE = b"y" * 99 + b"\n"


def channel_on(path: str, **kw: object) -> LogChannel:
    ch = LogChannel("prog", LogSpec(path=path), **kw)  # type: ignore[arg-type]
    ch.open()
    return ch


def read_all(fd: int, deadline: float = 10.0) -> bytes:
    """Everything readable until the writers are gone (EOF)."""
    out = bytearray()
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return bytes(out)
            out += chunk
    raise AssertionError("the stream never reached EOF")


def test_an_unread_pipe_never_blocks_and_drops_whole_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r, w = os.pipe()
    try:
        bound = 200_000
        ch = channel_on(f"/proc/self/fd/{w}", stream_buffer_bytes=bound)
        os.close(w)
        w = -1
        with caplog.at_level(logging.WARNING, logger="supgrpc"):
            # 5 MB into a 64 KiB pipe nobody reads: every write returns (no blocking) and
            # the buffer stays within its bound (plus the slack to finish a line).
            for _ in range(50_000):
                ch.write(LINE)
            sink = ch._sink
            assert sink is not None and sink._out is not None
            assert sink._out.buffered <= bound + LINE_SLACK_BYTES
            info = ch.fault_info()
            assert info.failing and info.dropped_lines > 40_000
            assert info.dropped_bytes == 100 * info.dropped_lines
            assert info.write_errors == 0  # a stall is not an error
            opened = [r.getMessage() for r in caplog.records if "dropping" in r.getMessage()]
            assert len(opened) == 1 and "not being read" in opened[0]
            # The reader comes back: what was buffered arrives, whole lines only, and the
            # episode is summed up once.
            ch.close()
            data = read_all(r)
        assert data and data.endswith(b"\n")
        assert set(data.split(b"\n")[:-1]) == {LINE[:-1]}
        # Every line either arrived or was counted (the flusher counts what it could not
        # get out in its linger time after close, if the machine is slow).
        assert len(data) // 100 + ch.fault_info().dropped_lines == 50_000
        closing = [r.getMessage() for r in caplog.records if "log closed" in r.getMessage()]
        assert len(closing) <= 1
        assert ch.read(0, 1 << 30).data.count(b"\n") <= 50_000  # the ring is bounded apart
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_a_pipe_that_drains_again_resumes_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    r, w = os.pipe()
    try:
        ch = channel_on(f"/proc/self/fd/{w}", stream_buffer_bytes=10_000)
        with caplog.at_level(logging.WARNING, logger="supgrpc"):
            for _ in range(2_000):
                ch.write(LINE)
            assert ch.fault_info().failing
            received = bytearray()
            deadline = time.monotonic() + 10
            while ch.fault_info().failing and time.monotonic() < deadline:
                if select.select([r], [], [], 0.1)[0]:
                    received += os.read(r, 1 << 16)
            assert not ch.fault_info().failing, "the flusher never drained the buffer"
            ch.write(b"after\n")
            while not received.endswith(b"after\n") and time.monotonic() < deadline:
                if select.select([r], [], [], 0.1)[0]:
                    received += os.read(r, 1 << 16)
        assert received.endswith(b"after\n")
        assert set(bytes(received).split(b"\n")[:-2]) == {LINE[:-1]}
        messages = [r.getMessage() for r in caplog.records]
        assert sum("dropping whole lines" in m for m in messages) == 1
        assert sum("dropped; writing again" in m for m in messages) == 1
        ch.close()
    finally:
        os.close(r)
        os.close(w)


def test_dev_full_is_one_report_and_counts_every_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="supgrpc"):
        ch = channel_on("/dev/full")
        for i in range(100):
            ch.write(b"line %d\n" % i)
        ch.close()
    info = ch.fault_info()
    assert info.write_errors == 100
    assert info.dropped_lines == 100
    assert info.last_error == "No space left on device"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("write failed (No space left on device)" in m for m in messages) == 1
    assert sum("100 line(s)" in m and "log closed" in m for m in messages) == 1


def test_a_drop_that_ends_mid_line_skips_the_rest_of_that_line() -> None:
    ch = channel_on("/dev/full")
    ch.write(b"first half of a line ")  # fails: this line is lost from here on
    ch.write(b"second half\nnext ")
    ch.write(b"line\n")
    info = ch.fault_info()
    assert info.dropped_lines == 2
    assert info.dropped_bytes == len(b"first half of a line second half\nnext line\n")
    # "second half\n" goes with the skip, unwritten; "next " is tried and fails; "line\n"
    # ends the line skipped after it.
    assert info.write_errors == 2
    ch.close()


@pytest.mark.parametrize("kind", ["careful", "socket"])
def test_shared_blocking_descriptions_are_never_blocked_on(kind: str) -> None:
    """No /proc (careful: poll, then at most PIPE_BUF) or a socket (MSG_DONTWAIT): the
    description stays blocking for everyone else who shares it, yet we never wait on it."""
    if kind == "socket":
        a, b = socket.socketpair()
        reader, writer_fd = a, os.dup(b.fileno())
        b.close()
    else:
        r, w = os.pipe()
        reader, writer_fd = None, os.dup(w)
        os.close(w)
    assert os.get_blocking(writer_fd)
    faults = SinkFaults("t", report=lambda _m: None)
    out = StreamOut(writer_fd, kind, faults, max_buffer=50_000)
    for _ in range(30_000):  # 3 MB: far more than the pipe or socket buffer holds
        out.write(LINE)
    assert faults.failing and faults.dropped_lines > 0
    assert out.buffered <= 50_000 + LINE_SLACK_BYTES
    out.close()
    if reader is not None:
        reader.setblocking(True)
        data = b""
        while chunk := reader.recv(1 << 16):
            data += chunk
        reader.close()
    else:
        data = read_all(r)
        os.close(r)
    assert set(data.split(b"\n")[:-1]) == {LINE[:-1]}
    assert len(data) // 100 + faults.dropped_lines == 30_000


def _wait_for(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_stalled_streams_share_one_flusher_thread_and_drain_in_order() -> None:
    flusher = StreamFlusher()
    pipes = [os.pipe() for _ in range(30)]
    threads_before = threading.active_count()
    channels = []
    for k, (_, w) in enumerate(pipes):
        ch = channel_on(f"/proc/self/fd/{w}", flusher=flusher)
        for i in range(10_000):  # 100 KB: more than the pipe holds, within the buffer
            ch.write(b"%02d %06d\n" % (k, i))
        channels.append(ch)
    assert all(ch._sink is not None and ch._sink._out.buffered for ch in channels)  # type: ignore[union-attr]
    assert flusher.threads_started == 1 and flusher.active
    assert threading.active_count() <= threads_before + 1
    # The readers come back: each stream gets its lines, all of them, in order.
    for k, (r, _) in enumerate(pipes):
        got = bytearray()
        expected = b"".join(b"%02d %06d\n" % (k, i) for i in range(10_000))
        deadline = time.monotonic() + 10
        while len(got) < len(expected) and time.monotonic() < deadline:
            if select.select([r], [], [], 0.1)[0]:
                got += os.read(r, 1 << 16)
        assert bytes(got) == expected
    _wait_for(lambda: not flusher.active, "the flusher thread to leave")
    assert all(
        not ch.fault_info().failing and ch.fault_info().dropped_lines == 0 for ch in channels
    )
    for ch in channels:
        ch.close()
    for r, w in pipes:
        os.close(r)
        os.close(w)


def test_a_fifo_without_a_reader_holds_lines_until_one_comes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    flusher = StreamFlusher()
    with caplog.at_level(logging.WARNING, logger="supgrpc"):
        ch = channel_on(str(fifo), flusher=flusher)  # returns: open() did not block
        ch.write(b"first\n")
        ch.write(b"second\n")
        info = ch.fault_info()
        assert info.failing and "no reader yet" in info.last_error and info.dropped_lines == 0
        r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            got = b""
            deadline = time.monotonic() + 10
            while got != b"first\nsecond\n" and time.monotonic() < deadline:
                if select.select([r], [], [], 0.1)[0]:
                    got += os.read(r, 4096)
            assert got == b"first\nsecond\n"
            _wait_for(lambda: not ch.fault_info().failing, "the episode to end")
            ch.write(b"third\n")  # written at once now
            assert os.read(r, 4096) == b"third\n"
        finally:
            ch.close()
            os.close(r)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("no reader yet" in m for m in messages) == 1
    assert sum("0 line(s) (0 bytes) dropped; writing again" in m for m in messages) == 1


def test_a_channel_that_lost_nothing_answers_the_shared_empty_snapshot() -> None:
    """ListProcesses asks every channel; the usual answer is not built anew each time (issue
    13), and any fault still shows."""
    from supervisor_grpc.model import NO_LOG_FAULTS

    faults = SinkFaults("p stdout", lambda msg: None)
    assert faults.snapshot() is NO_LOG_FAULTS
    faults.drop(b"a\nb\n")
    got = faults.snapshot()
    assert got is not NO_LOG_FAULTS and (got.dropped_bytes, got.dropped_lines) == (4, 2)
