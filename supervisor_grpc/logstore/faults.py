"""What a log sink could not write: counters, the current failure episode, and whole-line drops.

Owns: one channel's record of dropped bytes/lines and write errors (what process info shows),
the "once per episode" rule for reporting them in the main log, and the line gate that makes a
sink resume only at the start of a line after it had to drop.
May import: supervisor_grpc.model, stdlib.
Threading: a sink updates the record under its own lock (or on the loop thread); any thread
may take a :meth:`SinkFaults.snapshot`. ``report`` is only ever called with no sink lock held,
because reporting logs, and the main log's own sink may be the one that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from supervisor_grpc.model import NO_LOG_FAULTS, LogFaults

log = logging.getLogger("supgrpc")


def _warn(message: str) -> None:
    log.warning("%s", message)


class SinkFaults:
    """Counters for the channel's life, plus the episode in progress (if any).

    An episode starts with the first failed or dropped write and ends with the first write
    that lands in full again; each end is reported once, so a full disk produces two main-log
    lines, not one per chunk.
    """

    def __init__(self, label: str, report: Callable[[str], None] = _warn) -> None:
        self.label = label
        self.report = report
        self.dropped_bytes = 0
        self.dropped_lines = 0
        self.write_errors = 0
        self.last_error: OSError | None = None
        self.last_reason = ""
        self.failing = False
        self._episode_bytes = 0
        self._episode_lines = 0

    def fail(self, reason: str, exc: OSError | None = None) -> str | None:
        """Something could not be written; returns the message to report when this opens an
        episode (the caller reports it once its locks are released)."""
        if exc is not None:
            self.write_errors += 1
            self.last_error = exc
        self.last_reason = reason
        if self.failing:
            return None
        self.failing = True
        self._episode_bytes = self._episode_lines = 0
        return f"{self.label}: {reason}; dropping whole lines until it can be written again"

    def drop(self, data: bytes) -> None:
        if not data:
            return
        lines = data.count(b"\n")
        self.dropped_bytes += len(data)
        self.dropped_lines += lines
        self._episode_bytes += len(data)
        self._episode_lines += lines

    def torn(self, nbytes: int) -> None:
        """Bytes of an unfinished line that were cut off the file again."""
        self.dropped_bytes += nbytes
        self._episode_bytes += nbytes

    def recovered(self) -> str | None:
        """A write landed in full: returns the closing message when an episode was open."""
        if not self.failing:
            return None
        self.failing = False
        message = (
            f"{self.label}: {self._episode_lines} line(s) ({self._episode_bytes} bytes) "
            "dropped; writing again"
        )
        self._episode_bytes = self._episode_lines = 0
        return message

    def closing(self, still_buffered: int = 0) -> str | None:
        """The sink goes away: the open episode (if any) is summed up, never left unsaid."""
        if not self.failing and not still_buffered:
            return None
        self.failing = False
        extra = f", {still_buffered} bytes still unwritten at close" if still_buffered else ""
        return (
            f"{self.label}: {self._episode_lines} line(s) ({self._episode_bytes} bytes) "
            f"dropped{extra}; log closed while it still could not be written"
        )

    def snapshot(self) -> LogFaults:
        exc = self.last_error
        if exc is None and not (
            self.dropped_bytes or self.write_errors or self.failing or self.last_reason
        ):
            # The usual answer, shared: every ListProcesses asks it twice per program on the
            # loop thread, and building a frozen dataclass each time was a fifth of its job.
            return NO_LOG_FAULTS
        error = ""
        if exc is not None:
            error = exc.strerror or str(exc)
        elif self.last_reason:
            error = self.last_reason
        return LogFaults(
            dropped_bytes=self.dropped_bytes,
            dropped_lines=self.dropped_lines,
            write_errors=self.write_errors,
            last_error=error,
            failing=self.failing,
        )


class LineGate:
    """After a drop that ended mid-line, discard up to and including the next newline, so the
    sink only ever gets whole lines (a torn line would glue two unrelated lines together)."""

    def __init__(self) -> None:
        self.skipping = False

    def admit(self, data: bytes, faults: SinkFaults) -> bytes:
        if not self.skipping or not data:
            return data
        k = data.find(b"\n")
        if k < 0:
            faults.drop(data)
            return b""
        self.skipping = False
        faults.drop(data[: k + 1])
        return data[k + 1 :]

    def dropped(self, data: bytes, faults: SinkFaults) -> None:
        """``data`` (the tail of a chunk) was dropped: skip the rest of its last line."""
        faults.drop(data)
        if data:
            self.skipping = not data.endswith(b"\n")
