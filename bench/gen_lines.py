"""Numbered lines for the log benchmarks: the generator, and the checks that read them back.

Every line is ``LINE_BYTES`` (64) long: a 15-digit line number, a space, a fixed filler and a
newline, so the byte at any absolute offset is known without reading what came before. That
lets the verifier compare a whole log byte for byte against a regenerated stream (fast, in C),
and lets a TailLog follower check each chunk against the bytes expected at its offset.

Lines are built ``BLOCK_LINES`` at a time with one ``bytes.join`` (the high digits are shared
by the whole block, the low four digits are a constant table), so the generator itself writes
at well over 1 GiB/s and is never what a benchmark measures.

As a program::

    python gen_lines.py --bytes N [--stamp FILE]

writes N bytes (a multiple of 64 is best) of numbered lines to stdout. With ``--stamp`` it first
writes its start time (``time.monotonic()``, system-wide on Linux, so comparable with the bench
process) to FILE, then after the last byte the end time on a second line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable, Iterator

LINE_BYTES = 64
BLOCK_LINES = 10_000
BLOCK_BYTES = LINE_BYTES * BLOCK_LINES
_FILLER = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"  # 47 bytes: 15 + 1 + 47 + 1 = 64
_SUFFIXES = [b"%04d " % j + _FILLER + b"\n" for j in range(BLOCK_LINES)]
assert all(len(s) == LINE_BYTES - 11 for s in _SUFFIXES)


def block(k: int) -> bytes:
    """Lines ``k*BLOCK_LINES`` .. ``(k+1)*BLOCK_LINES - 1``."""
    prefix = b"%011d" % k
    return prefix + prefix.join(_SUFFIXES)


def stream(total: int) -> Iterator[bytes]:
    """The first ``total`` bytes of the numbered-line stream, one block at a time."""
    k = 0
    left = total
    while left > 0:
        data = block(k)
        if left < len(data):
            data = data[:left]
        yield data
        left -= len(data)
        k += 1


class Expected:
    """Random access into the stream (a follower checks chunks at arbitrary offsets)."""

    def __init__(self) -> None:
        self._cache: dict[int, bytes] = {}

    def _block(self, k: int) -> bytes:
        data = self._cache.get(k)
        if data is None:
            if len(self._cache) > 8:
                self._cache.clear()
            data = self._cache[k] = block(k)
        return data

    def slice(self, offset: int, length: int) -> bytes:
        out = []
        pos, end = offset, offset + length
        while pos < end:
            k, a = divmod(pos, BLOCK_BYTES)
            b = min(BLOCK_BYTES, a + (end - pos))
            out.append(self._block(k)[a:b])
            pos += b - a
        return b"".join(out)


def _read_concatenated(paths: Iterable[str], size: int) -> Iterator[bytes]:
    """The files one after the other, re-cut into ``size``-byte pieces."""
    pending = b""
    for path in paths:
        with open(path, "rb") as f:
            while True:
                data = f.read(size - len(pending))
                if not data:
                    break
                pending += data
                if len(pending) == size:
                    yield pending
                    pending = b""
    if pending:
        yield pending


def verify(paths: list[str], total: int) -> dict[str, int | bool]:
    """Did the files (concatenated in order) receive exactly the stream, every line once, in
    order? Fast path: byte comparison. On a mismatch, a line-level account of what went
    wrong (lost, duplicated, out of order, garbled)."""
    expected_lines = total // LINE_BYTES
    got = 0
    same = True
    for want, have in zip(stream(total), _read_concatenated(paths, BLOCK_BYTES), strict=False):
        got += len(have)
        if want != have:
            same = False
            break
    if same:
        extra = sum(os.path.getsize(p) for p in paths) - total
        if extra == 0:
            return {
                "ok": True,
                "lines": expected_lines,
                "lost": 0,
                "duplicated": 0,
                "out_of_order": 0,
                "garbled": 0,
                "extra_bytes": 0,
            }
    return _account(paths, total)


def _account(paths: list[str], total: int) -> dict[str, int | bool]:
    expected_lines = total // LINE_BYTES
    data = b"".join(open(p, "rb").read() for p in paths)  # noqa: SIM115 (short-lived)
    seen = bytearray(expected_lines)
    duplicated = out_of_order = garbled = 0
    last = -1
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            n = int(line[:15])
        except ValueError:
            garbled += 1
            continue
        if len(line) != LINE_BYTES - 1 or not 0 <= n < expected_lines:
            garbled += 1
            continue
        if seen[n]:
            duplicated += 1
        seen[n] = 1
        if n < last:
            out_of_order += 1
        last = n
    lost = expected_lines - sum(seen)
    return {
        "ok": False,
        "lines": expected_lines,
        "lost": lost,
        "duplicated": duplicated,
        "out_of_order": out_of_order,
        "garbled": garbled,
        "extra_bytes": len(data) - total,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--stamp")
    a = p.parse_args(argv)
    if a.stamp:
        with open(a.stamp, "w") as f:
            f.write(f"{time.monotonic()!r}\n")
    fd = sys.stdout.fileno()
    for data in stream(a.bytes):
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    if a.stamp:
        with open(a.stamp, "a") as f:
            f.write(f"{time.monotonic()!r}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
