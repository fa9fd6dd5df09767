"""Capture mode: a program's output split into log bytes and PROCESS_COMMUNICATION bodies.

Owns: finding ``<!--XSUPERVISOR:BEGIN-->`` ... ``<!--XSUPERVISOR:END-->`` in a stream that
arrives in arbitrary chunks (a token may be split across reads), and bounding what is captured
by ``*_capture_maxbytes`` with supervisor's BoundIO rule (a write that would overflow first drops
as many bytes from the front as it brings).
May import: stdlib.
Threading: pure; one instance per channel, fed by the loop thread.

Unlike supervisor, plain output is not held back until more than a token's length has
arrived: only a possible token prefix at the very end waits, and ``flush`` (at EOF) releases it.
"""

from __future__ import annotations

BEGIN_TOKEN = b"<!--XSUPERVISOR:BEGIN-->"
END_TOKEN = b"<!--XSUPERVISOR:END-->"


def _prefix_at_end(data: bytes, token: bytes) -> int:
    """Length of the longest proper prefix of ``token`` that ``data`` ends with."""
    for n in range(min(len(token) - 1, len(data)), 0, -1):
        if data.endswith(token[:n]):
            return n
    return 0


class CaptureSplitter:
    def __init__(self, maxbytes: int) -> None:
        self.maxbytes = maxbytes
        self.capturing = False
        self._pending = b""
        self._captured = b""

    def feed(self, data: bytes) -> tuple[bytes, list[bytes]]:
        """Returns (bytes for the normal log, the bodies of the events completed)."""
        data = self._pending + data
        self._pending = b""
        log = bytearray()
        bodies: list[bytes] = []
        while data:
            token = END_TOKEN if self.capturing else BEGIN_TOKEN
            before, found, after = data.partition(token)
            if not found:
                keep = _prefix_at_end(data, token)
                if keep:
                    self._pending, data = data[-keep:], data[:-keep]
                self._take(data, log)
                break
            self._take(before, log)
            if self.capturing:
                bodies.append(self._captured)
                self._captured = b""
            self.capturing = not self.capturing
            data = after
        return bytes(log), bodies

    def flush(self) -> bytes:
        """At EOF: a held-back partial token was plain output (or captured) after all."""
        held, self._pending = self._pending, b""
        log = bytearray()
        self._take(held, log)
        self.capturing = False
        self._captured = b""
        return bytes(log)

    def _take(self, data: bytes, log: bytearray) -> None:
        if not data:
            return
        if not self.capturing:
            log += data
            return
        if len(self._captured) + len(data) > self.maxbytes:
            self._captured = self._captured[len(data) :]
        self._captured += data
