"""Forwarding children's output to the init's own stdout/stderr, one line at a time.

Owns: splitting chunks into lines per (program, stream) (a line may span two reads; a last
line without a newline is flushed when the stream ends), formatting them (``name | line`` or a
JSON object per line), and a bounded hand-off to a writer thread.
May import: supervisor_grpc.model, stdlib.
Threading: ``feed``/``flush`` on the loop thread; one writer thread does the blocking writes.

Why a thread: a container's stdout is a pipe that a log shipper may drain slowly. Setting
O_NONBLOCK on fd 1 would change the open file description that children in single-command
mode share, so instead the loop appends to a bounded buffer and a writer thread blocks. When
the buffer is full, new lines are dropped and counted, and a line saying how many were lost is
written to stderr as soon as the writer is free again, as JSON in json mode (never silent,
never blocking the loop).

The mode is the model's ``LogFormat`` (``ForwardOutput.line_format``): the daemon decides
whether to forward at all, this only shapes lines.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import select
import threading

from supervisor_grpc.model import LogFormat

# A line longer than this is emitted in pieces rather than held forever (a child that never
# prints a newline must not grow our memory).
MAX_LINE_BYTES = 64 * 1024


class Forwarder:
    def __init__(
        self,
        mode: LogFormat,
        *,
        out_fd: int = 1,
        err_fd: int = 2,
        max_buffer_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.mode = mode
        self.fds = {"stdout": out_fd, "stderr": err_fd}
        self.max_buffer_bytes = max_buffer_bytes
        self._partial: dict[tuple[str, str], bytes] = {}
        self._queue: collections.deque[tuple[int, bytes]] = collections.deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.dropped_lines = 0
        self.dropped_bytes = 0
        self._unreported_drops = 0
        self.write_errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="supgrpc-forward", daemon=True)
        self._thread.start()

    # ---- loop side ----------------------------------------------------------------------

    def feed(self, program: str, stream: str, data: bytes) -> None:
        key = (program, stream)
        pending = self._partial.pop(key, b"") + data
        lines = pending.split(b"\n")
        rest = lines.pop()
        for line in lines:
            self._emit(program, stream, line)
        while len(rest) > MAX_LINE_BYTES:
            self._emit(program, stream, rest[:MAX_LINE_BYTES])
            rest = rest[MAX_LINE_BYTES:]
        if rest:
            self._partial[key] = rest

    def flush(self, program: str, stream: str) -> None:
        """The stream ended: emit its last line even without a newline."""
        rest = self._partial.pop((program, stream), b"")
        if rest:
            self._emit(program, stream, rest)

    def write_raw(self, stream: str, data: bytes) -> None:
        """Any thread: queue already formatted bytes (the daemon's own log echo) under the
        same bound, so a slow stdout never blocks whoever logs."""
        self._enqueue(self.fds[stream], data)

    def _format(self, program: str, stream: str, line: bytes) -> bytes:
        if self.mode is LogFormat.TEXT:
            return program.encode() + b" | " + line + b"\n"
        record = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "program": program,
            "stream": stream,
            "line": line.decode("utf-8", "replace"),
        }
        return json.dumps(record, ensure_ascii=False).encode() + b"\n"

    def _emit(self, program: str, stream: str, line: bytes) -> None:
        self._enqueue(self.fds[stream], self._format(program, stream, line))

    def _enqueue(self, fd: int, text: bytes) -> None:
        with self._cond:
            if self._queued_bytes + len(text) > self.max_buffer_bytes:
                self.dropped_lines += 1
                self.dropped_bytes += len(text)
                self._unreported_drops += 1
                self._cond.notify()
                return
            self._queue.append((fd, text))
            self._queued_bytes += len(text)
            self._cond.notify()

    # ---- writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed and not self._unreported_drops:
                    self._cond.wait()
                dropped, self._unreported_drops = self._unreported_drops, 0
                item = self._queue.popleft() if self._queue else None
                if item is not None:
                    self._queued_bytes -= len(item[1])
                elif not dropped:
                    return  # closed, and everything was written
            # Drops are reported even when no line follows them (a last line that alone was
            # larger than the buffer, or drops just before close).
            if dropped:
                self._write(self.fds["stderr"], self._drop_note(dropped))
            if item is not None:
                self._write(*item)

    def _drop_note(self, dropped: int) -> bytes:
        """What stderr says about lost lines: in JSON mode a JSON line too, so that a
        shipper that parses every line never meets a plain-text one."""
        message = (
            f"dropped {dropped} forwarded line(s): output was produced faster than stdout "
            "took it (the log files have every byte)"
        )
        if self.mode is LogFormat.TEXT:
            return f"supgrpcd: {message}\n".encode()
        record = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "level": "WARN",
            "message": message,
            "dropped": dropped,
        }
        return json.dumps(record).encode() + b"\n"

    def _write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except InterruptedError:
                continue
            except BlockingIOError:
                select.select([], [fd], [], 1.0)
                continue
            except OSError:
                self.write_errors += 1
                return
            view = view[n:]

    def close(self, timeout: float = 2.0) -> None:
        """Flush every partial line, let the writer drain (up to ``timeout``), then stop."""
        for program, stream in list(self._partial):
            self.flush(program, stream)
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
