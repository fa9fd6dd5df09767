"""Stream logs on a pipe write whole lines of at most PIPE_BUF bytes (atomic lines), against
real pipes shared by several writers, as programs logging to ``/dev/stdout`` share one."""

from __future__ import annotations

import os
import random
import select
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

from supervisor_grpc.logstore import streamout
from supervisor_grpc.logstore.faults import SinkFaults
from supervisor_grpc.logstore.flusher import StreamFlusher
from supervisor_grpc.logstore.streamout import StreamOut, open_private

PIPE_BUF = select.PIPE_BUF


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def writer_on(fd: int, flusher: StreamFlusher | None = None, **kw: int) -> StreamOut:
    """A sink on its own description of ``fd``, as each ``/dev/stdout`` log gets one."""
    private, kind = open_private(os.dup(fd))
    faults = SinkFaults("t", report=lambda _m: None)
    return StreamOut(private, kind, faults, flusher=flusher, **kw)  # type: ignore[arg-type]


def available(r: int) -> bytes:
    try:
        return os.read(r, 1 << 20)
    except BlockingIOError:
        return b""


def test_a_line_split_across_chunks_is_never_cut_by_another_writer(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streamout, "PARTIAL_LINE_SECONDS", 3600.0)  # only its newline frees it
    r, w = pipe
    a, b = writer_on(w), writer_on(w)
    a.write(b"a one\na two, begun ")
    b.write(b"b one\n")
    a.write(b"and finished\n")
    assert available(r) == b"a one\nb one\na two, begun and finished\n"
    a.close()
    b.close()


def test_an_unfinished_line_is_written_at_close(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streamout, "PARTIAL_LINE_SECONDS", 3600.0)
    r, w = pipe
    out = writer_on(w)
    out.write(b"whole\nno newline yet")
    assert available(r) == b"whole\n"
    out.close()
    assert available(r) == b"no newline yet"
    assert out.faults.dropped_bytes == 0


def test_an_unfinished_line_still_shows_after_a_while(pipe: tuple[int, int]) -> None:
    """A prompt without a newline is not held forever (the shared flusher writes it)."""
    r, w = pipe
    flusher = StreamFlusher()
    out = writer_on(w, flusher)
    out.write(b"Password: ")
    got = b""
    deadline = time.monotonic() + 10
    while got != b"Password: " and time.monotonic() < deadline:
        if select.select([r], [], [], 0.1)[0]:
            got += available(r)
    assert got == b"Password: "
    deadline = time.monotonic() + 10
    while flusher.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not flusher.active  # nothing held: the thread is gone again
    out.close()


def _lines(rng: random.Random, count: int) -> bytes:
    return b"".join(
        b"%05d %s\n" % (i, b"x" * rng.choice([10, 100, 3000, PIPE_BUF, 3 * PIPE_BUF]))
        for i in range(count)
    )


def test_every_write_to_a_pipe_is_whole_lines_within_pipe_buf(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, w = pipe
    writes: list[bytes] = []
    real_write = os.write

    out = writer_on(w, max_buffer=16 << 20)  # never full: every byte must arrive
    target = out.poll_fd()

    def recording(fd: int, data: bytes) -> int:
        n = real_write(fd, data)
        if fd == target:  # not the flusher's wakeups
            writes.append(bytes(data[:n]))
        return n

    rng = random.Random(7)
    data = _lines(rng, 400)
    got = bytearray()
    monkeypatch.setattr(streamout.os, "write", recording)
    # Chunks cut anywhere, as reads from a child's pipe come; the reader keeps up.
    at = 0
    while at < len(data):
        step = rng.randrange(1, 70_000)
        out.write(data[at : at + step])
        at += step
        got += available(r)
    out.close()
    os.close(w)
    # What the pipe could not take yet drains from the flusher; EOF once it is done.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if select.select([r], [], [], 0.1)[0]:
            chunk = available(r)
            if not chunk:
                break
            got += chunk
    monkeypatch.undo()
    assert bytes(got) == data
    # No write ends inside a line of at most PIPE_BUF bytes, and a write longer than that is
    # (the rest of) one line alone: only a line longer than PIPE_BUF may be cut.
    pos = 0
    for piece in writes:
        pos += len(piece)
        if pos < len(data):
            start = data.rfind(b"\n", 0, pos) + 1
            end = data.find(b"\n", pos) + 1
            assert start == pos or end - start > PIPE_BUF, (pos, len(piece), piece[:20])
        assert len(piece) <= PIPE_BUF or b"\n" not in piece[:-1], (pos, len(piece))
    assert pos == len(data)


def test_a_regular_file_keeps_large_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``/dev/stdout`` redirected to a file: no cutting, one write per chunk."""
    with tempfile.TemporaryFile() as fh:
        fd, kind = open_private(os.dup(fh.fileno()))
        assert kind == "plain"
        out = StreamOut(fd, kind, SinkFaults("t", report=lambda _m: None))
        sizes: list[int] = []
        real_write = os.write

        def recording(fd: int, data: bytes) -> int:
            sizes.append(len(data))
            return real_write(fd, data)

        chunk = _lines(random.Random(3), 40) + b"unfinished"
        monkeypatch.setattr(streamout.os, "write", recording)
        out.write(chunk)
        monkeypatch.undo()
        out.close()
        assert sizes == [len(chunk)]
        fh.seek(0)
        assert fh.read() == chunk


def test_a_held_line_that_then_fills_the_pipe_keeps_draining(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flusher waited for time (an unfinished line); the next chunk finishes it but the
    pipe fills: the flusher must now wait for room, not sleep on."""
    from supervisor_grpc.logstore import flusher as flusher_module

    for name in ("REOPEN_SECONDS", "IDLE_POLL_SECONDS"):
        monkeypatch.setattr(flusher_module, name, 3600.0)
    monkeypatch.setattr(streamout, "PARTIAL_LINE_SECONDS", 3600.0)
    r, w = pipe
    flusher = StreamFlusher()
    out = writer_on(w, flusher)
    out.write(b"begun ")
    assert flusher.active
    assert flusher._thread is not None
    _wait_asleep(flusher._thread)  # in its wait for time
    rest = b"finished\n" + LONG
    out.write(rest)  # far more than the pipe holds
    expected = b"begun " + rest
    got = bytearray()
    deadline = time.monotonic() + 10
    while len(got) < len(expected) and time.monotonic() < deadline:
        if select.select([r], [], [], 0.1)[0]:
            got += available(r)
    assert bytes(got) == expected
    out.close()


def _wait_asleep(thread: threading.Thread) -> None:
    """Until this flusher's thread sleeps in the kernel (its poll), per /proc. (Found by
    object, not by name: another test's flusher, still draining, has the same name.)"""
    path = f"/proc/self/task/{thread.native_id}/stat"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(path) as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "S":
                return
        time.sleep(0.005)
    raise AssertionError(f"{thread.name} never went to sleep")


LONG = b"".join(b"%06d %s\n" % (i, b"z" * 200) for i in range(2000))  # 414 KB


def test_an_error_after_some_pieces_counts_only_the_lines_not_written(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, w = pipe
    out = writer_on(w)
    target = out.poll_fd()
    lines = [b"%04d %s\n" % (i, b"q" * 1000) for i in range(20)]  # 4 lines per write
    real_write = os.write
    calls = 0

    def failing(fd: int, data: bytes) -> int:
        nonlocal calls
        if fd == target:
            calls += 1
            if calls > 2:
                raise BrokenPipeError(32, "Broken pipe")
        return real_write(fd, data)

    monkeypatch.setattr(streamout.os, "write", failing)
    out.write(b"".join(lines))  # two writes land, then the reader is "gone"
    deadline = time.monotonic() + 10
    while not out.faults.write_errors and time.monotonic() < deadline:
        time.sleep(0.01)
    monkeypatch.undo()
    assert available(r) == b"".join(lines[:8])
    assert out.faults.write_errors >= 1
    assert (out.faults.dropped_lines, out.faults.dropped_bytes) == (12, 12 * 1006)
    out.close()
