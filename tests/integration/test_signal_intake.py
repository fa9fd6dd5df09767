"""SignalIntake.read: one recv per wake-up when the bytes fit (a short read means the socket is
empty), more only while reads come back full; nothing is lost either way."""

from __future__ import annotations

import socket

from supervisor_grpc.runtime import signals
from supervisor_grpc.runtime.signals import SignalIntake


class CountingSocket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.calls = 0

    def recv(self, n: int) -> bytes:
        self.calls += 1
        return self.sock.recv(n)


def intake() -> tuple[SignalIntake, CountingSocket, socket.socket]:
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    s = SignalIntake()
    counting = CountingSocket(reader)
    s._reader = counting  # type: ignore[assignment]
    return s, counting, writer


def test_short_read_needs_one_recv() -> None:
    s, counting, writer = intake()
    writer.send(bytes([17, 17, 15]))
    assert s.read() == [17, 17, 15]
    assert counting.calls == 1  # no second recv just to see EAGAIN
    assert s.read() == [] and counting.calls == 2  # an empty socket: EAGAIN, nothing lost
    counting.sock.close()
    writer.close()


def test_full_reads_continue_until_a_short_one() -> None:
    s, counting, writer = intake()
    pending = bytes([17]) * (signals._READ_BYTES * 2 + 5)
    writer.send(pending)
    assert s.read() == list(pending)
    assert counting.calls == 3
    counting.sock.close()
    writer.close()
