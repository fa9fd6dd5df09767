"""Output forwarding: line framing across reads, JSON lines, bounded buffering with counts."""

from __future__ import annotations

import json
import os
import threading
import time

from supervisor_grpc.logstore import Forwarder
from supervisor_grpc.model import LogFormat


def read_all(fd: int, until: bytes, timeout: float = 5.0) -> bytes:
    os.set_blocking(fd, False)
    buf = b""
    deadline = time.monotonic() + timeout
    while until not in buf and time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            threading.Event().wait(0.01)
            continue
        buf += chunk
    return buf


def pipes() -> tuple[int, int, int, int]:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    return out_r, out_w, err_r, err_w


def test_lines_spanning_reads_and_a_final_line_without_newline() -> None:
    out_r, out_w, err_r, err_w = pipes()
    fw = Forwarder(LogFormat.TEXT, out_fd=out_w, err_fd=err_w)
    fw.start()
    fw.feed("web", "stdout", b"hel")
    fw.feed("web", "stdout", b"lo\nwor")
    fw.feed("db", "stderr", b"oops\n")
    fw.feed("web", "stdout", b"ld\nno newline")
    fw.flush("web", "stdout")
    fw.close()
    assert read_all(out_r, b"no newline\n") == b"web | hello\nweb | world\nweb | no newline\n"
    assert read_all(err_r, b"\n") == b"db | oops\n"


def test_json_lines_parse() -> None:
    out_r, out_w, _, err_w = pipes()
    fw = Forwarder(LogFormat.JSON, out_fd=out_w, err_fd=err_w)
    fw.start()
    fw.feed("api", "stdout", "ünï\n".encode() + b"\xff bad\n")
    fw.close()
    records = [json.loads(line) for line in read_all(out_r, b"bad").splitlines()]
    assert [r["line"] for r in records] == ["ünï", "\ufffd bad"]
    assert {r["program"] for r in records} == {"api"}
    assert {r["stream"] for r in records} == {"stdout"}
    assert all(r["time"].endswith("+00:00") for r in records)


def test_slow_stdout_drops_and_counts_instead_of_blocking() -> None:
    out_r, out_w, err_r, err_w = pipes()
    fw = Forwarder(LogFormat.TEXT, out_fd=out_w, err_fd=err_w, max_buffer_bytes=10_000)
    fw.start()
    line = b"x" * 1000 + b"\n"
    started = time.monotonic()
    for _ in range(2000):  # ~2 MB: far more than the pipe (64 KiB) + buffer (10 kB) hold
        fw.feed("chatty", "stdout", line)
    assert time.monotonic() - started < 2.0  # feeding never waited for the reader
    assert fw.dropped_lines > 0
    received = b""
    deadline = time.monotonic() + 10
    os.set_blocking(out_r, False)
    while time.monotonic() < deadline:
        try:
            chunk = os.read(out_r, 1 << 20)
        except BlockingIOError:
            with fw._cond:
                if not fw._queue:
                    break
            threading.Event().wait(0.01)
            continue
        received += chunk
    fw.close()
    delivered = received.count(b"chatty | ")
    assert delivered + fw.dropped_lines == 2000
    assert b"dropped" in read_all(err_r, b"dropped")
