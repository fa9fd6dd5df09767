"""One event listener's side of supervisor's protocol, as a pure state machine.

Owns: parsing what a listener writes on its stdout (``READY\\n``, then ``RESULT n\\n`` and n
bytes of result), the listener states ACKNOWLEDGED / READY / BUSY / UNKNOWN with supervisor's
codes, and the event in flight. The pool decides what to send; this decides what was said.
May import: stdlib.
Threading: no I/O, no clock; owned by the loop thread through the pool dispatcher.

Differences from supervisor 4.3.0's dispatcher, none visible to a listener that follows the
protocol: a complete ``RESULT 0\\n`` is acted on at once (supervisor waits for one more byte);
a negative length is a bad result line rather than a confusing slice; and what a listener may
make us hold is bounded (supervisor buffers a result line without end, so a listener that
floods its stdout without a newline grows the daemon and slows every later search of the
buffer): a result line longer than MAX_RESULT_LINE or a length above MAX_RESULT_BYTES is a
bad result line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

READY_TOKEN = b"READY\n"
RESULT_PREFIX_LEN = len(b"RESULT ")
MAX_RESULT_LINE = 4096
MAX_RESULT_BYTES = 1 << 20


class ListenerState(enum.IntEnum):
    """supervisor's EventListenerStates codes."""

    READY = 10
    BUSY = 20
    ACKNOWLEDGED = 30
    UNKNOWN = 40


@dataclass(frozen=True, slots=True)
class BecameReady:
    """The listener asked for an event."""


@dataclass(frozen=True, slots=True)
class Processed:
    """The listener answered OK for ``event``."""

    event: object


@dataclass(frozen=True, slots=True)
class Rejected:
    """``event`` must be buffered again; ``message`` is supervisor's warning for it."""

    event: object
    message: str


@dataclass(frozen=True, slots=True)
class Violated:
    """The listener broke the protocol and is now UNKNOWN (it gets no more events)."""

    message: str


Outcome = BecameReady | Processed | Rejected | Violated


def default_result_handler(result: bytes) -> bool:
    """supervisor.dispatchers:default_handler: anything but ``OK`` rejects the event."""
    return result == b"OK"


class ListenerProtocol:
    def __init__(self, name: str) -> None:
        self.name = name
        self.state = ListenerState.ACKNOWLEDGED
        self.event: object | None = None
        self._buffer = b""
        self._result = b""
        self._result_len: int | None = None

    def reset(self) -> object | None:
        """A new process (or none): back to ACKNOWLEDGED; returns the event it had in flight."""
        event = self.event
        self.state = ListenerState.ACKNOWLEDGED
        self.event = None
        self._buffer = b""
        self._result = b""
        self._result_len = None
        return event

    def sent(self, event: object) -> None:
        if self.state is not ListenerState.READY:
            raise RuntimeError(f"{self.name}: event sent while {self.state.name}")
        self.state = ListenerState.BUSY
        self.event = event

    def feed(self, data: bytes) -> list[Outcome]:
        self._buffer += data
        out: list[Outcome] = []
        while True:
            step = self._step()
            if step is None:
                return out
            out.extend(step)

    def _violate(self, why: str | None = None) -> list[Outcome]:
        self.state = ListenerState.UNKNOWN
        self._buffer = b""
        out: list[Outcome] = []
        if why is not None and self.event is not None:
            out.append(Rejected(self.event, why))
        self.event = None
        out.append(
            Violated(
                f"{self.name}: has entered the UNKNOWN state and will no longer receive "
                "events, this usually indicates the process violated the eventlistener protocol"
            )
        )
        return out

    def _step(self) -> list[Outcome] | None:
        """Consume one protocol unit from the buffer, or None when more bytes are needed."""
        state = self.state
        if state is ListenerState.UNKNOWN:
            self._buffer = b""
            return None
        if not self._buffer and self._result_len is None:
            return None
        if state is ListenerState.ACKNOWLEDGED:
            if len(self._buffer) < len(READY_TOKEN):
                return None
            if not self._buffer.startswith(READY_TOKEN):
                return self._violate()
            self._buffer = self._buffer[len(READY_TOKEN) :]
            self.state = ListenerState.READY
            self.event = None
            return [BecameReady()]
        if state is ListenerState.READY:
            return self._violate()  # spurious output while waiting for an event
        return self._busy()

    def _busy(self) -> list[Outcome] | None:
        if self._result_len is None:
            pos = self._buffer.find(b"\n", 0, MAX_RESULT_LINE + 1)
            if pos == -1:
                if len(self._buffer) <= MAX_RESULT_LINE:
                    return None
                pos = MAX_RESULT_LINE  # a flood, not a result line
            line, self._buffer = self._buffer[:pos], self._buffer[pos + 1 :]
            try:
                length = int(line[RESULT_PREFIX_LEN:])
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_RESULT_BYTES:
                line = line if len(line) <= 80 else line[:80] + b"..."
                try:
                    shown = line.decode("utf-8")
                except UnicodeDecodeError:
                    shown = f"Undecodable: {line!r}"
                return self._violate(f"{self.name}: bad result line: '{shown}'")
            self._result_len = length
            return []
        needed = self._result_len - len(self._result)
        if needed:
            if not self._buffer:
                return None
            self._result += self._buffer[:needed]
            self._buffer = self._buffer[needed:]
            if len(self._result) < self._result_len:
                return None
        result, event = self._result, self.event
        self._result, self._result_len, self.event = b"", None, None
        self.state = ListenerState.ACKNOWLEDGED
        if default_result_handler(result):
            return [Processed(event)]
        return [Rejected(event, f"{self.name}: event was rejected")]
