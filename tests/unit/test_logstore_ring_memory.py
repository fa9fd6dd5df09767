"""A log ring is bounded in real memory, not only in data bytes (issue 11, item 11).

Each pipe read used to be kept as its own bytes object with its own list slots and offset
int: 10-byte writes cost ~27x their size. tracemalloc counts what the ring really holds.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from supervisor_grpc.logstore.ring import ByteRing

CAPACITY = 1 << 20


def _ring_memory(write_size: int, total: int) -> tuple[ByteRing, int]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ring = ByteRing(CAPACITY)
        chunk = bytearray(b"x" * (write_size - 1) + b"\n")
        for _ in range(total // write_size):
            ring.append(bytes(chunk))  # a fresh object per read, as os.read returns
        del chunk
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return ring, used


@pytest.mark.parametrize("write_size", [10, 100, 4096, 65536])
def test_real_memory_stays_near_the_byte_bound(write_size: int) -> None:
    ring, used = _ring_memory(write_size, 3 * CAPACITY)
    assert ring.end - ring.start >= CAPACITY - 65536  # still holds (about) a full ring
    assert used < 1.5 * CAPACITY, f"{used / CAPACITY:.1f}x the ring's byte bound"


def test_small_writes_read_back_exactly() -> None:
    ring = ByteRing(1000)
    data = [bytes([65 + i % 26]) * (1 + i % 7) for i in range(3000)]
    for piece in data:
        ring.append(piece)
    joined = b"".join(data)
    kept = ring.read(ring.start, 1 << 20)
    assert kept.data == joined[ring.start :]
    assert ring.end == len(joined)
    assert ring.end - ring.start <= 1000 + 1000 // 16
    # Cursor reads at every offset of the kept range agree with the joined bytes.
    for cursor in range(ring.start, ring.end, 37):
        assert ring.read(cursor, 50).data == joined[cursor : cursor + 50]
