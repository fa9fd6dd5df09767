"""Cursor reads over the ring and the event journal, followers in threads, the main log."""

from __future__ import annotations

import hashlib
import io
import logging
import random
import re
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_grpc import errors
from supervisor_grpc.logstore import (
    BLATHER,
    TRACE,
    EventJournal,
    LogChannel,
    MainLogHandler,
    ReadResult,
    level_number,
)
from supervisor_grpc.model import LogSpec


def ring(ring_bytes: int) -> LogChannel:
    ch = LogChannel("p", None, ring_bytes=ring_bytes)
    ch.open()
    return ch


# -- ring ---------------------------------------------------------------------------------------


def test_absolute_offsets_trimming_and_exact_gaps() -> None:
    ch = ring(10)
    ch.write(b"aaaa")  # 0..4
    ch.write(b"bbbb")  # 4..8
    ch.write(b"cccc")  # 8..12 -> 12 > 10: drop "aaaa"
    assert (ch.start_offset, ch.end_offset) == (4, 12)
    assert ch.read(0) == ReadResult(b"bbbbcccc", 4, 12, 4)
    assert ch.read(3) == ReadResult(b"bbbbcccc", 4, 12, 1)
    assert ch.read(4) == ReadResult(b"bbbbcccc", 4, 12, 0)
    assert ch.read(6, max_bytes=4) == ReadResult(b"bbcc", 6, 10, 0)  # across a chunk boundary
    assert ch.read(12) == ReadResult(b"", 12, 12, 0)
    assert ch.read(99) == ReadResult(b"", 12, 12, 0)  # beyond the end clamps
    assert ch.read(-5).skipped == 4


def test_a_chunk_bigger_than_the_ring_is_kept_whole() -> None:
    ch = ring(4)
    ch.write(b"ab")
    ch.write(b"0123456789")
    assert (ch.start_offset, ch.end_offset) == (2, 12)
    assert ch.read(0) == ReadResult(b"0123456789", 2, 12, 2)


def test_max_bytes_is_honoured_and_cursor_walks() -> None:
    ch = ring(1 << 20)
    data = bytes(range(256)) * 40
    for i in range(0, len(data), 333):
        ch.write(data[i : i + 333])
    out, cur = bytearray(), 0
    while True:
        r = ch.read(cur, max_bytes=1000)
        assert len(r.data) <= 1000 and r.skipped == 0 and r.offset == cur
        if not r.data:
            break
        out += r.data
        cur = r.next_cursor
    assert bytes(out) == data
    assert ch.read(0, max_bytes=0) == ReadResult(b"", 0, 0, 0)


def test_read_from_end_and_last_lines() -> None:
    ch = ring(1 << 20)
    for piece in (b"one\ntw", b"o\nthree\n", b"four\nfi", b"ve"):
        ch.write(piece)
    text = b"one\ntwo\nthree\nfour\nfive"
    assert ch.read(ch.cursor_for_last_lines(1)).data == b"five"
    assert ch.read(ch.cursor_for_last_lines(2)).data == b"four\nfive"
    assert ch.read(ch.cursor_for_last_lines(4)).data == b"two\nthree\nfour\nfive"
    assert ch.cursor_for_last_lines(5) == 0
    assert ch.cursor_for_last_lines(50) == 0
    assert ch.cursor_for_last_lines(0) == len(text)
    ch.write(b"\n")
    assert ch.read(ch.cursor_for_last_lines(1)).data == b"five\n"
    assert ch.read(ch.cursor_for_last_lines(2)).data == b"four\nfive\n"
    assert ch.read_from_end(5) == len(text) + 1 - 5
    assert ch.read_from_end(10**9) == 0
    small = ring(8)
    small.write(b"a\nb\nc\n")
    small.write(b"d\ne\n")
    assert small.cursor_for_last_lines(10) == small.start_offset == 6
    assert small.read_from_end(100) == 6
    assert ring(8).cursor_for_last_lines(3) == 0


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 64),
    sizes=st.lists(st.integers(0, 40), max_size=30),
    cursor=st.integers(-5, 700),
    max_bytes=st.integers(0, 100),
)
def test_ring_read_matches_a_model(
    capacity: int, sizes: list[int], cursor: int, max_bytes: int
) -> None:
    ch = ring(capacity)
    written = b""
    for i, n in enumerate(sizes):
        piece = bytes([97 + i % 26]) * n
        ch.write(piece)
        written += piece
    nonempty = [n for n in sizes if n]
    assert ch.end_offset == len(written)
    # whole chunks: the kept window is the newest chunks whose total fits (at least one)
    kept, total = 0, 0
    for n in reversed(nonempty):
        if kept and total + n > capacity:
            break
        kept, total = kept + 1, total + n
    assert ch.start_offset == len(written) - total
    r = ch.read(cursor, max_bytes)
    c = min(max(cursor, 0), len(written))
    assert r.skipped == max(0, ch.start_offset - c)
    assert r.offset == max(c, ch.start_offset)
    assert r.data == written[r.offset : r.offset + max_bytes]
    assert r.next_cursor == r.offset + len(r.data)


def test_follower_gets_every_byte_of_20_mib_in_order() -> None:
    ch = ring(32 << 20)
    rng = random.Random(5)
    total = 20 << 20
    block = rng.randbytes(1 << 16)
    written = hashlib.sha256()
    received = hashlib.sha256()
    got = [0, 0]  # bytes, gaps
    failure: list[BaseException] = []

    def follow() -> None:
        try:
            cur = 0
            while True:
                r = ch.read(cur, max_bytes=1 << 18)
                got[1] += r.skipped
                if r.data:
                    received.update(r.data)
                    got[0] += len(r.data)
                    cur = r.next_cursor
                    continue
                if ch.closed and cur == ch.end_offset:
                    return
                ch.wait(cur, timeout=10)
        except BaseException as exc:
            failure.append(exc)

    t = threading.Thread(target=follow)
    t.start()
    sent = 0
    while sent < total:
        n = min(rng.randrange(1, 1 << 16), total - sent)
        start = rng.randrange(0, len(block) - n + 1)
        chunk = block[start : start + n]
        written.update(chunk)
        ch.write(chunk)
        sent += n
    ch.close()
    t.join(60)
    assert not t.is_alive() and not failure
    assert got == [total, 0]
    assert received.digest() == written.digest()


def test_slow_follower_on_tiny_ring_accounts_for_every_byte() -> None:
    ch = ring(64)
    rng = random.Random(9)
    written = bytearray()
    go = threading.Semaphore(0)
    results: list[ReadResult] = []

    def follow() -> None:
        cur = 0
        while True:
            go.acquire()  # one small read per write the writer does: it falls behind
            r = ch.read(cur, max_bytes=7)
            results.append(r)
            cur = r.next_cursor
            if ch.closed and not r.data and cur == ch.end_offset:
                return

    t = threading.Thread(target=follow)
    t.start()
    for _ in range(2000):
        chunk = rng.randbytes(rng.randrange(1, 40))
        written += chunk
        ch.write(chunk)
        go.release()
    ch.close()
    go.release(len(written) + 1)  # enough permits to drain what is left
    t.join(10)
    assert not t.is_alive()
    cur = 0
    for r in results:
        assert r.offset == cur + r.skipped
        assert r.data == bytes(written[r.offset : r.offset + len(r.data)])
        cur = r.next_cursor
    assert cur == len(written)
    assert sum(r.skipped for r in results) > 0
    assert sum(len(r.data) + r.skipped for r in results) == len(written)


def test_wait_wakes_on_write_from_the_loop() -> None:
    ch = ring(100)
    woke = threading.Event()
    ready = threading.Event()

    def waiter() -> None:
        ready.set()
        if ch.wait(0, timeout=30):
            woke.set()

    t = threading.Thread(target=waiter)
    t.start()
    assert ready.wait(5)
    ch.write(b"x")
    assert woke.wait(10)
    t.join(5)


# -- event journal ---------------------------------------------------------------------------------


def test_journal_read_gap_and_close() -> None:
    j: EventJournal[str] = EventJournal(capacity=5)
    assert j.read(0) == ([], 0, 0)
    assert [j.append(f"e{i}") for i in range(1, 4)] == [1, 2, 3]
    assert j.read(0) == ([(1, "e1"), (2, "e2"), (3, "e3")], 3, 0)
    assert j.read(1, max_items=1) == ([(2, "e2")], 2, 0)
    assert j.read(3) == ([], 3, 0)
    assert j.read(99) == ([], 3, 0)
    for i in range(4, 10):
        j.append(f"e{i}")
    assert j.last_seq == 9
    items, nxt, skipped = j.read(2)
    assert (items[0], nxt, skipped) == ((5, "e5"), 9, 2)
    assert [s for s, _ in items] == [5, 6, 7, 8, 9]
    assert j.read(8) == ([(9, "e9")], 9, 0)  # the near-the-tail path
    assert j.read(6, max_items=2) == ([(7, "e7"), (8, "e8")], 8, 0)
    assert j.read(7, max_items=1) == ([(8, "e8")], 8, 0)  # tail path, capped
    assert j.read(0, max_items=2) == ([(5, "e5"), (6, "e6")], 6, 4)
    assert j.wait(9, timeout=0.01) is False
    assert j.wait(8, timeout=0) is True
    ready = threading.Event()
    out: list[bool] = []

    def waiter() -> None:
        ready.set()
        out.append(j.wait(9, timeout=30))

    t = threading.Thread(target=waiter)
    t.start()
    assert ready.wait(5)
    j.close()
    t.join(10)
    assert out == [True] and j.closed
    assert j.read(7) == ([(8, "e8"), (9, "e9")], 9, 0)


def test_journal_follower_thread_sees_every_record() -> None:
    j: EventJournal[int] = EventJournal(capacity=100_000)
    seen: list[int] = []

    def follow() -> None:
        cur = 0
        while True:
            items, cur, skipped = j.read(cur)
            assert skipped == 0
            seen.extend(item for _, item in items)
            if not items:
                if j.closed and cur == j.last_seq:
                    return
                j.wait(cur, timeout=10)

    t = threading.Thread(target=follow)
    t.start()
    for i in range(50_000):
        j.append(i)
    j.close()
    t.join(30)
    assert seen == list(range(50_000))


# -- main log ------------------------------------------------------------------------------

LINE = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w{4}) (.*)\n")


def test_main_log_format_and_level_names() -> None:
    ch = ring(1 << 20)
    echo = io.StringIO()
    logger = logging.getLogger("supgrpc.test.mainlog")
    logger.propagate = False
    logger.setLevel(BLATHER)
    handler = MainLogHandler(ch, echo_stream=echo)
    logger.addHandler(handler)
    try:
        for lvl in ("critical", "error", "warn", "info", "debug", "trace", "blather"):
            logger.log(level_number(lvl), "msg %s", lvl)
    finally:
        logger.removeHandler(handler)
    data = ch.read(0).data
    lines = data.splitlines(keepends=True)
    parsed = [LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    assert [(m.group(1), m.group(2)) for m in parsed if m] == [
        (b"CRIT", b"msg critical"),
        (b"ERRO", b"msg error"),
        (b"WARN", b"msg warn"),
        (b"INFO", b"msg info"),
        (b"DEBG", b"msg debug"),
        (b"TRAC", b"msg trace"),
        (b"BLAT", b"msg blather"),
    ]
    assert echo.getvalue().encode() == data


def test_main_log_channel_ops_go_through_the_handler(tmp_path: Path) -> None:
    path = tmp_path / "supervisord.log"
    ch = LogChannel("supervisord", LogSpec(path=str(path)))
    ch.open()
    logger = logging.getLogger("supgrpc.test.mainlog2")
    logger.propagate = False
    handler = MainLogHandler(ch)
    logger.addHandler(handler)
    try:
        logger.warning("one")
        path.rename(tmp_path / "old.log")
        handler.reopen_channel()
        logger.warning("two")
        assert b"WARN one\n" in (tmp_path / "old.log").read_bytes()
        assert path.read_bytes().endswith(b"WARN two\n")
        handler.clear_channel()
        assert path.read_bytes() == b""
        assert ch.read(0).skipped == ch.end_offset
        handler.close_channel()
        assert ch.closed
    finally:
        logger.removeHandler(handler)


def test_main_log_lines_from_threads_do_not_interleave() -> None:
    ch = ring(1 << 22)
    logger = logging.getLogger("supgrpc.test.mainlog3")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = MainLogHandler(ch)
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")

        def spam(n: int) -> None:
            for i in range(300):
                logger.info("thread %d line %d %s", n, i, "z" * (i % 50))

        threads = [threading.Thread(target=spam, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        logger.removeHandler(handler)
    text = ch.read(0, max_bytes=1 << 22).data
    head, _, rest = text.partition(b"Traceback (most recent call last):\n")
    assert LINE.fullmatch(head) and b"ERRO failed" in head
    assert b"RuntimeError: boom\n" in rest
    body = rest.split(b"RuntimeError: boom\n", 1)[1]
    lines = body.splitlines(keepends=True)
    assert len(lines) == 8 * 300
    assert all(LINE.fullmatch(line) for line in lines)


def test_level_number() -> None:
    assert level_number("info") == logging.INFO
    assert level_number("WARN") == logging.WARNING
    assert (level_number("trace"), level_number("blather")) == (TRACE, BLATHER) == (5, 3)
    with pytest.raises(errors.BadArgument):
        level_number("verbose")
