"""LogChannel against real files: rotation, supervisor's read/tail semantics, clear/reopen,
non-regular targets, AUTO names, write errors."""

from __future__ import annotations

import os
import random
import re
import threading
from pathlib import Path

import pytest
from supervisor import options as sup_options  # type: ignore[import-untyped]
from supervisor.dispatchers import stripEscapes  # type: ignore[import-untyped]

from supervisor_grpc import errors
from supervisor_grpc.logstore import LogChannel, cleanup_auto_logs, strip_ansi
from supervisor_grpc.model import LogSpec


def numbered_chunks(rng: random.Random, total_lines: int) -> list[bytes]:
    """Numbered lines cut at random points, so chunk and line boundaries disagree."""
    text = b"".join(
        b"line %06d %s\n" % (i, b"x" * rng.randrange(0, 40)) for i in range(total_lines)
    )
    chunks, pos = [], 0
    while pos < len(text):
        n = rng.randrange(1, 300)
        chunks.append(text[pos : pos + n])
        pos += n
    return chunks


def make_channel(path: Path | str | None, **kw: object) -> LogChannel:
    spec_kw = {k: kw.pop(k) for k in ("maxbytes", "backups") if k in kw}
    spec = LogSpec(path=str(path) if path is not None else None, **spec_kw)  # type: ignore[arg-type]
    ch = LogChannel("prog", spec, **kw)  # type: ignore[arg-type]
    ch.open()
    return ch


def backups_then_current(path: Path) -> list[Path]:
    n = 1
    while Path(f"{path}.{n}").exists():
        n += 1
    return [Path(f"{path}.{i}") for i in range(n - 1, 0, -1)] + [path]


# -- rotation -------------------------------------------------------------------------------


def test_rotation_keeps_every_byte_and_never_splits_a_chunk(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    chunks = numbered_chunks(random.Random(7), 3000)
    ch = make_channel(path, maxbytes=4096, backups=1000)
    boundaries, pos = {0}, 0
    for c in chunks:
        ch.write(c)
        pos += len(c)
        boundaries.add(pos)
    ch.close()
    files = backups_then_current(path)
    assert len(files) > 20
    assert b"".join(f.read_bytes() for f in files) == b"".join(chunks)
    start = 0
    for f in files:
        assert start in boundaries  # each file starts on a chunk boundary
        size = f.stat().st_size
        if f != path:
            assert size >= 4096 and size - 4096 < 300  # rotated once it reached maxbytes
        start += size
    assert ch.write_errors == 0
    assert ch.end_offset == pos


def test_backups_beyond_the_limit_are_deleted(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    chunks = numbered_chunks(random.Random(3), 2000)
    ch = make_channel(path, maxbytes=1000, backups=3)
    for c in chunks:
        ch.write(c)
    ch.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["app.log", "app.log.1", "app.log.2", "app.log.3"]
    kept = b"".join(f.read_bytes() for f in backups_then_current(path))
    assert b"".join(chunks).endswith(kept)


def test_backups_zero_truncates_in_place(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    ch = make_channel(path, maxbytes=10, backups=0)
    ch.write(b"12345")
    assert path.read_bytes() == b"12345"
    ch.write(b"678901")  # reaches maxbytes: written whole, then truncated
    assert path.read_bytes() == b""
    ch.write(b"ab")
    assert path.read_bytes() == b"ab"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log"]
    assert ch.end_offset == 13


def test_maxbytes_zero_never_rotates(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    ch = make_channel(path, maxbytes=0, backups=5)
    data = b"".join(numbered_chunks(random.Random(1), 500))
    for i in range(0, len(data), 100):
        ch.write(data[i : i + 100])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log"]
    assert path.read_bytes() == data


def test_open_appends_to_existing_file_and_counts_its_size(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"x" * 90)
    ch = make_channel(path, maxbytes=100, backups=2)
    ch.write(b"y" * 10)
    assert Path(f"{path}.1").read_bytes() == b"x" * 90 + b"y" * 10
    assert path.read_bytes() == b""
    assert ch.end_offset == 10  # absolute offsets count this run's bytes only


def test_open_unwritable_path_raises_oserror(tmp_path: Path) -> None:
    ch = LogChannel("p", LogSpec(path=str(tmp_path / "missing" / "x.log")))
    with pytest.raises(OSError):
        ch.open()


def test_no_file_channels_still_keep_a_ring() -> None:
    for spec in (None, LogSpec(path=None)):
        ch = LogChannel("p", spec)
        ch.open()
        ch.write(b"abc")
        assert ch.path is None
        assert ch.read(0).data == b"abc"
        with pytest.raises(errors.NoFile):
            ch.read_file(0, 0)
        assert ch.tail_file(0, 10) == (b"", 0, False)
        assert ch.file_size() == 0


# -- supervisor's readFile / tailFile as oracle ------------------------------------------------

OFFSETS = [-1000, -200, -100, -51, -50, -1, 0, 1, 10, 49, 50, 99, 100, 101, 150, 1000]
LENGTHS = [-5, -1, 0, 1, 10, 49, 50, 51, 100, 101, 500]


@pytest.mark.parametrize("size", [0, 1, 100])
def test_read_file_matches_supervisor(tmp_path: Path, size: int) -> None:
    path = tmp_path / "app.log"
    ch = make_channel(path, maxbytes=0)
    if size:
        ch.write(bytes(33 + i % 90 for i in range(size)))
    for offset in OFFSETS:
        for length in LENGTHS:
            try:
                expected: object = sup_options.readFile(str(path), offset, length)
            except ValueError as exc:
                expected = exc.args[0]
            try:
                got: object = ch.read_file(offset, length)
            except errors.SupervisorError as exc:
                got = exc.code
            assert got == expected, (offset, length)


@pytest.mark.parametrize("size", [0, 1, 100])
def test_tail_file_matches_supervisor(tmp_path: Path, size: int) -> None:
    path = tmp_path / "app.log"
    ch = make_channel(path, maxbytes=0)
    if size:
        ch.write(bytes(33 + i % 90 for i in range(size)))
    for offset in OFFSETS:
        for length in LENGTHS:
            if length < 0:
                with pytest.raises(errors.BadArgument):
                    ch.tail_file(offset, length)
                continue
            data, new_offset, overflow = sup_options.tailFile(str(path), offset, length)
            assert ch.tail_file(offset, length) == (
                data.encode(),
                new_offset,
                overflow,
            ), (offset, length)
    assert ch.file_size() == size


def test_read_and_tail_when_the_file_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    ch = make_channel(path)
    path.unlink()
    with pytest.raises(errors.NoFile):
        ch.read_file(0, 0)
    assert ch.tail_file(0, 10) == (b"", 0, False)


# -- clear, reopen, close -----------------------------------------------------------------


def test_clear_removes_current_file_keeps_backups_and_empties_ring(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    ch = make_channel(path, maxbytes=10, backups=2)
    ch.write(b"0123456789")  # rotated to .1
    ch.write(b"abc")
    ch.clear()
    assert path.read_bytes() == b""
    assert Path(f"{path}.1").read_bytes() == b"0123456789"
    assert ch.start_offset == ch.end_offset == 13
    r = ch.read(0)
    assert (r.data, r.skipped, r.next_cursor) == (b"", 13, 13)
    ch.write(b"new")
    assert path.read_bytes() == b"new"
    assert ch.read(13).data == b"new"
    assert ch.end_offset == 16


def test_reopen_after_external_rename_writes_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    ch = make_channel(path)
    ch.write(b"before\n")
    os.rename(path, tmp_path / "app.log.rotated")
    ch.write(b"still old\n")  # fd follows the renamed file until reopen
    ch.reopen()
    ch.write(b"after\n")
    assert (tmp_path / "app.log.rotated").read_bytes() == b"before\nstill old\n"
    assert path.read_bytes() == b"after\n"
    assert ch.read(0).data == b"before\nstill old\nafter\n"


def test_reopen_failure_is_retried_by_the_next_write(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    path = d / "app.log"
    ch = make_channel(path)
    os.rename(d, tmp_path / "gone")
    assert ch.reopen() is False  # reported, never raised (SIGUSR2 goes on to the others)
    assert ch.fault_info().failing
    ch.write(b"lost\n")
    assert ch.write_errors == 2  # the reopen, then the write's own retry
    d.mkdir()
    ch.write(b"found\n")
    assert path.read_bytes() == b"found\n"
    assert ch.read(0).data == b"lost\nfound\n"
    info = ch.fault_info()
    assert not info.failing
    assert (info.dropped_lines, info.dropped_bytes) == (1, 5)


def test_close_wakes_waiters(tmp_path: Path) -> None:
    ch = make_channel(tmp_path / "app.log")
    started = threading.Event()
    result: list[bool] = []

    def waiter() -> None:
        started.set()
        result.append(ch.wait(0, timeout=30))

    t = threading.Thread(target=waiter)
    t.start()
    assert started.wait(5)
    ch.close()
    t.join(10)
    assert not t.is_alive()
    assert result == [True]
    assert ch.closed
    ch.write(b"late")  # after close: ring only, no error
    assert ch.read(0).data == b"late"
    assert ch.write_errors == 0


def test_wait_times_out_and_sees_existing_data(tmp_path: Path) -> None:
    ch = make_channel(tmp_path / "app.log")
    assert ch.wait(0, timeout=0.01) is False
    ch.write(b"x")
    assert ch.wait(0, timeout=0) is True
    assert ch.wait(1, timeout=0.01) is False


# -- non-regular targets and write errors ----------------------------------------------------


def test_pipe_target_never_rotates_and_writes_whole_chunks(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        # The sink's own description is non-blocking: big chunks meet partial writes and
        # EAGAIN, and wait in its buffer (big enough here for all of them) for the reader.
        ch = make_channel(f"/proc/self/fd/{w}", maxbytes=10, backups=2, stream_buffer_bytes=8 << 20)
        received = bytearray()
        done = threading.Event()

        def drain() -> None:
            while chunk := os.read(r, 7919):
                received.extend(chunk)
            done.set()

        t = threading.Thread(target=drain, daemon=True)
        t.start()
        chunks = [bytes([65 + i % 26]) * (300_000 if i % 3 == 0 else 5) for i in range(12)]
        for c in chunks[:6]:
            ch.write(c)
        ch.clear()  # never removes the pipe's path, keeps writing to it
        for c in chunks[6:]:
            ch.write(c)
        ch.close()
        os.close(w)
        w = -1
        assert done.wait(10)
        assert bytes(received) == b"".join(chunks)
        assert ch.write_errors == 0
        assert ch.file_size() == 0
        with pytest.raises(errors.NoFile):
            ch.read_file(0, 0)
        assert not any(p.name.endswith(".1") for p in tmp_path.iterdir())
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_fifo_target(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        ch = make_channel(fifo, maxbytes=3, backups=1)
        ch.write(b"hello")
        ch.write(b"world")
        ch.close()
        assert os.read(r, 100) == b"helloworld"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]
    finally:
        os.close(r)


def test_write_error_is_counted_not_raised() -> None:
    ch = make_channel("/dev/full")
    ch.write(b"abc\n")
    ch.write(b"def\n")
    assert ch.write_errors == 2
    assert ch.last_write_error is not None
    assert ch.read(0).data == b"abc\ndef\n"
    assert ch.end_offset == 8


def test_dev_stdout_is_a_dup_not_closed(capfd: pytest.CaptureFixture[str]) -> None:
    ch = make_channel("/dev/stdout", maxbytes=1)
    ch.write(b"to stdout\n")
    ch.write(b"again\n")
    ch.close()
    os.write(1, b"fd 1 still open\n")
    assert capfd.readouterr().out == "to stdout\nagain\nfd 1 still open\n"


# -- strip_ansi, AUTO names -------------------------------------------------------------------

ANSI_CASES = [
    b"plain",
    b"\x1b[31mred\x1b[0m text",
    b"a\x1b[1;32;40mb\x1b[Kc",
    b"unterminated \x1b[12;3",
    b"\x1b[H\x1b[2Jcleared",
    b"esc without bracket \x1b(B stays",
    b"\x1b[\x1b[mnested",
    b"",
    b"\x1b[",
]


@pytest.mark.parametrize("data", ANSI_CASES)
def test_strip_ansi_matches_supervisor(data: bytes) -> None:
    assert strip_ansi(data) == stripEscapes(data)


def test_strip_ansi_applies_to_file_and_ring(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    ch = make_channel(path, strip_ansi=True)
    ch.write(b"\x1b[31mred\x1b[0m\n")
    ch.write(b"\x1b[0m")  # strips to nothing: no offset bump
    assert path.read_bytes() == b"red\n"
    assert ch.read(0).data == b"red\n"
    assert ch.end_offset == 4


def test_auto_naming_and_cleanup(tmp_path: Path) -> None:
    ch = LogChannel(
        "web", LogSpec(auto=True), childlogdir=str(tmp_path), identifier="sup", channel="stderr"
    )
    assert ch.path is None
    ch.open()
    assert ch.path is not None
    name = os.path.basename(ch.path)
    assert re.fullmatch(r"web-stderr---sup-\w{8}\.log", name), name
    ch.write(b"hi")
    ch.reopen()
    ch.write(b"!")
    assert Path(ch.path).read_bytes() == b"hi!"
    ch.close()
    (tmp_path / f"{name}.1").write_bytes(b"old")
    (tmp_path / "other-stdout---someoneelse-abcdefgh.log").write_bytes(b"")
    (tmp_path / "unrelated.log").write_bytes(b"")
    (tmp_path / "x-stdout---sup-dir.log").mkdir()
    assert cleanup_auto_logs(str(tmp_path), "sup") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "other-stdout---someoneelse-abcdefgh.log",
        "unrelated.log",
        "x-stdout---sup-dir.log",
    ]
    assert cleanup_auto_logs(str(tmp_path / "nope"), "sup") == 0


def test_a_byte_reaches_the_ring_before_the_file(tmp_path: Path) -> None:
    """The /logtail head relies on it: what a reader finds in the file is already in the
    ring, so "ring still empty after reading the file" proves the file held nothing new."""
    ch = LogChannel("p", LogSpec(path=str(tmp_path / "p.log")))
    ch.open()
    assert ch._sink is not None
    real_write = ch._sink.write
    seen_at_file_write: list[int] = []

    def spy(data: bytes) -> None:
        seen_at_file_write.append(ch.end_offset)
        real_write(data)

    ch._sink.write = spy  # type: ignore[method-assign]
    ch.write(b"one\n")
    ch.write(b"two\n")
    assert seen_at_file_write == [4, 8]
    ch.close()
