"""Writing a log to a pipe, socket or tty without ever blocking the writer.

Owns: one stream descriptor of a log sink (``/dev/stdout``, a FIFO, a tty...), the bounded
buffer of what it could not take yet, and (for a FIFO with no reader yet) the retried open.
May import: the logstore's faults and flusher, stdlib.
Threading: ``write``/``close`` on the loop thread (or under the main log handler's lock);
``flush_step`` on the shared :class:`~.flusher.StreamFlusher` thread, which serves every
stalled stream of the daemon. One lock covers the buffer and every write to the
descriptor, and is never held across a wait: all writes are non-blocking.

Why: ``/dev/stdout`` is a dup of fd 1, which shares its blocking mode with every holder of
that open file description. When nobody reads the init's stdout (a slow ``docker logs``
driver), a plain ``write`` stops the loop thread, and with it reaping, RPCs and SIGTERM. So
each stream gets a description of its own that we may make non-blocking (reopened through
``/proc/self/fd``), or ``MSG_DONTWAIT`` for a socket, which has no second description to open.
What cannot be written waits in a bounded buffer; beyond the bound whole lines are dropped,
counted and reported. A FIFO nobody has opened for reading yet is the same stall with no
descriptor yet: ``open(O_NONBLOCK)`` fails with ENXIO instead of blocking the loop, and the
flusher retries it until a reader comes.

Whole lines on a shared pipe: every program logging to ``/dev/stdout`` has a description of
its own on the same pipe (Docker and Kubernetes read it line by line), and only a write() of
at most PIPE_BUF bytes is atomic there. So on a pipe or socket each write holds whole lines
and at most PIPE_BUF bytes: a non-blocking write that small is all or nothing on a pipe (it
never comes out short), so no other writer's bytes can land inside one of our lines. A line
not finished by the end of a chunk is held back until its newline comes, or until
``PARTIAL_LINE_SECONDS`` pass (a prompt with no newline still shows), or at close. The limits:
a line longer than PIPE_BUF cannot be atomic and is written in one write() as it comes
(another writer's bytes may land inside it if that write comes out short), and so is a line
left unfinished for longer than ``PARTIAL_LINE_SECONDS``. Regular files keep large writes.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import stat
import threading
import time
from collections import deque
from collections.abc import Callable

from supervisor_grpc.logstore.faults import LineGate, SinkFaults
from supervisor_grpc.logstore.flusher import StreamFlusher

# What one stream may hold while its reader is slow; beyond it whole lines are dropped.
STREAM_BUFFER_BYTES = 1 << 20
# The bound may be exceeded by this much to finish a line already half-written, so that a
# reader never gets a torn line; a longer line is cut with a newline instead.
LINE_SLACK_BYTES = 64 * 1024
# After close, buffered bytes keep draining for this long (the flusher thread, not the
# caller, waits), then what is left is counted as dropped.
CLOSE_LINGER_SECONDS = 2.0
# On a pipe or socket, how long the unfinished last line of a chunk waits for its newline
# before it is written as it stands.
PARTIAL_LINE_SECONDS = 0.2
_PIPE_BUF = select.PIPE_BUF
_NL = 0x0A


def _piece_end(buf: bytes, start: int, force: bool) -> int:
    """Where the next write from ``buf[start:]`` ends: whole lines and at most PIPE_BUF
    bytes; a line longer than PIPE_BUF alone (it cannot be atomic anyway); ``start`` when
    only an unfinished line is left (``force``: write it too)."""
    end = len(buf)
    limit = start + _PIPE_BUF
    if end <= limit:
        if force or buf[end - 1] == _NL:
            return end
        return buf.rfind(b"\n", start, end) + 1 or start
    k = buf.rfind(b"\n", start, limit)
    if k >= 0:
        return k + 1
    k = buf.find(b"\n", limit)
    return k + 1 if k >= 0 else end


def open_private(fd: int) -> tuple[int, str]:
    """Turn a dup of a stream into something we may write without blocking.

    Returns ``(fd, kind)``: ``"plain"`` for a regular file (writes never wait on a reader),
    ``"socket"`` (send with MSG_DONTWAIT), ``"nonblock"`` (our own open file description,
    made non-blocking; the dup is closed), or ``"careful"`` when no private description can
    be had (no /proc): poll before each write of at most PIPE_BUF bytes.
    """
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return fd, "plain"
    if stat.S_ISSOCK(mode):
        return fd, "socket"
    try:
        private = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return fd, "careful"
    os.close(fd)
    return private, "nonblock"


class StreamOut:
    """A non-blocking writer over one stream descriptor (which it owns and closes).

    ``fd`` may be -1 with an ``opener`` (a FIFO without a reader yet): bytes are held as for
    a full pipe, and the flusher calls ``opener`` until it returns a descriptor.
    """

    def __init__(
        self,
        fd: int,
        kind: str,
        faults: SinkFaults,
        *,
        max_buffer: int = STREAM_BUFFER_BYTES,
        flusher: StreamFlusher | None = None,
        opener: Callable[[], int | None] | None = None,
    ) -> None:
        self._fd = fd
        # Others may write to a pipe (a FIFO yet to open is one) or socket too: whole lines.
        mode = os.fstat(fd).st_mode if fd >= 0 else stat.S_IFIFO
        self._whole_lines = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
        self._kind = kind
        self._sock = socket.socket(fileno=fd) if kind == "socket" else None
        self._opener = opener
        self.faults = faults
        self.max_buffer = max(1, max_buffer)
        # A writer made on its own (tests, tools) gets a flusher of its own; the daemon
        # hands every stream the same one.
        self._flusher = flusher if flusher is not None else StreamFlusher()
        self._lock = threading.Lock()
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._gate = LineGate()
        self._mid_line = False  # the last byte accepted (written or queued) was not "\n"
        self._closed = False
        self._registered = False  # with the flusher (changed under our lock only)
        self._linger_until: float | None = None
        # While all we hold is an unfinished line (not a stall): when it goes out anyway.
        self._hold_until: float | None = None

    @property
    def buffered(self) -> int:
        return self._pending_bytes

    # -- writer side (loop thread) ---------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Never blocks, never raises."""
        with self._lock:
            message = self._write_locked(data)
        if message:
            self.faults.report(message)

    def _write_locked(self, data: bytes) -> str | None:
        if self._closed:
            return None
        data = self._gate.admit(data, self.faults)
        if not data:
            return None
        if self._fd >= 0 and self._hold_until is not None:
            # All we hold is the start of a line this chunk may finish: write on from there.
            message = self._enqueue(data)
            message = self._drain_locked(force=False) or message
            if self._hold_until is None and self._pending and self._registered:
                self._flusher.wake()  # it waited for time; now it must wait for room
            self._register()
            return message
        held = False
        if not self._pending and self._fd >= 0:
            try:
                if self._whole_lines:
                    n, held = self._write_lines(data, force=False)
                else:
                    n = self._try_write(data)
            except OSError as exc:
                return self._error(exc, data)
            if n == len(data):
                self._mid_line = data[-1] != _NL
                return self.faults.recovered()
            data = data[n:]
        message = self._enqueue(data)
        if held and self._pending:
            # Only an unfinished line is left (the stream took all the rest).
            self._hold_until = time.monotonic() + PARTIAL_LINE_SECONDS
            message = self.faults.recovered() or message
        self._register()
        return message

    def _register(self) -> None:
        """Under our lock: let the shared flusher drain us while we hold anything."""
        if (self._pending or self._fd < 0) and not self._registered:
            self._registered = True
            self._flusher.stalled(self)

    def _write_lines(self, buf: bytes, force: bool) -> tuple[int, bool]:
        """Write whole lines of ``buf``, at most PIPE_BUF bytes per write(), from its start.

        Returns ``(written, held)``: ``held`` when it stopped only because what is left is an
        unfinished line, not because the stream is full. Stopping leaves no torn line behind
        (a pipe takes a write of at most PIPE_BUF whole or not at all); only a longer line,
        or a socket, can come out short.
        """
        view = memoryview(buf)
        start = 0
        while start < len(buf):
            end = _piece_end(buf, start, force)
            if end == start:
                return start, True
            try:
                n = self._try_write(view[start:end])
            except OSError:
                if start == 0:
                    raise
                return start, False  # met again on what is left, which is what it drops
            start += n
            if start < end:
                return start, False
        return start, False

    def _try_write(self, data: bytes | memoryview) -> int:
        """One non-blocking attempt; 0 when the stream is full. Raises for real errors."""
        try:
            if self._sock is not None:
                return self._sock.send(data, socket.MSG_DONTWAIT)
            if self._kind == "careful":
                poller = select.poll()
                poller.register(self._fd, select.POLLOUT)
                if not poller.poll(0):
                    return 0
                data = data[:_PIPE_BUF]
            n = os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            return 0
        if n <= 0:
            raise OSError(errno.EIO, "write returned 0")
        return n

    def _enqueue(self, data: bytes) -> str | None:
        room = self.max_buffer - self._pending_bytes
        if len(data) <= room:
            self._accept(data)
            return None
        # Keep the whole lines that fit; a line already begun is finished first (within the
        # slack) or cut with a newline, so what the reader gets is always whole lines.
        cut = data.rfind(b"\n", 0, max(room, 0)) + 1
        if cut == 0 and self._mid_line:
            k = data.find(b"\n", 0, max(room, 0) + LINE_SLACK_BYTES)
            if k >= 0:
                cut = k + 1
            else:
                self._accept(b"\n")
        self._accept(data[:cut])
        if cut == len(data):
            return None  # the whole chunk went in, finishing its line within the slack
        why = "no reader yet" if self._fd < 0 else "not being read"
        message = self.faults.fail(f"{why} ({self._pending_bytes} bytes buffered)")
        self._gate.dropped(data[cut:], self.faults)
        return message

    def _accept(self, data: bytes) -> None:
        if data:
            self._pending.append(data)
            self._pending_bytes += len(data)
            self._mid_line = data[-1] != 0x0A

    def _error(self, exc: OSError, data: bytes) -> str | None:
        """A real write error (EPIPE, EIO, ENOSPC on /dev/full): drop, whole lines only."""
        message = self.faults.fail(f"write failed ({exc.strerror or exc})", exc)
        if self._mid_line:
            # The stream already holds the start of a line we can no longer finish: end it,
            # so the next line that lands is not glued to it (best effort).
            try:
                self._try_write(b"\n")
                self._mid_line = False
            except OSError:
                pass
        tail = data or (self._pending[-1] if self._pending else b"")
        for chunk in self._pending:
            self.faults.drop(chunk)
        self._pending.clear()
        self._pending_bytes = 0
        self._hold_until = None
        self.faults.drop(data)
        if tail:
            self._gate.skipping = not tail.endswith(b"\n")
        return message

    # -- the shared flusher's thread -------------------------------------------------------

    def poll_fd(self) -> int:
        # Holding an unfinished line is waiting for time (or the rest of it), not for room.
        return -1 if self._hold_until is not None else self._fd

    def wake_at(self) -> float | None:
        times = [t for t in (self._linger_until, self._hold_until) if t is not None]
        return min(times) if times else None

    def flush_step(self, now: float) -> None:
        with self._lock:
            message = self._open_locked()
            if self._fd >= 0:
                hold = self._hold_until
                force = self._closed or (hold is not None and now >= hold)
                message = self._drain_locked(force) or message
            done = not self._pending and (self._fd >= 0 or self._closed)
            if self._closed and not done:
                self._linger_until = self._linger_until or now + CLOSE_LINGER_SECONDS
                if now >= self._linger_until:
                    # close() already reported the episode and what was still buffered.
                    for chunk in self._pending:
                        self.faults.drop(chunk)
                    self._pending.clear()
                    self._pending_bytes = 0
                    done = True
            if done:
                self._registered = False
                self._flusher.done(self)
                if self._closed:
                    self._release()
        if message:
            self.faults.report(message)

    def _open_locked(self) -> str | None:
        """A FIFO that had no reader: try again (never blocks; ENXIO while there is none)."""
        if self._fd >= 0 or self._opener is None or (self._closed and not self._pending):
            return None
        try:
            fd = self._opener()
        except OSError as exc:
            self.faults.last_reason = f"cannot open ({exc.strerror or exc})"
            return None
        if fd is None:
            return None
        self._fd = fd
        return None

    def _drain_locked(self, force: bool = True) -> str | None:
        """Write what the stream takes now; ``force``: an unfinished last line too (else it
        is held for a while, see the module docstring)."""
        wrote = False
        while self._pending:
            head = self._pending[0]
            try:
                if self._whole_lines:
                    n, held = self._write_lines(head, force and len(self._pending) == 1)
                else:
                    n, held = self._try_write(head), False
            except OSError as exc:
                return self._error(exc, b"")
            self._pending_bytes -= n
            wrote = wrote or n > 0
            if n == len(head):
                self._pending.popleft()
                continue
            rest = head[n:] if n else head
            if not held:
                if n == 0:
                    self._hold_until = None
                    return None  # the stream is full: the flusher waits for room
                self._pending[0] = rest
                continue
            if len(self._pending) > 1:
                # The line goes on in the next chunk: make it one piece again.
                self._pending.popleft()
                self._pending[0] = rest + self._pending[0]
                continue
            self._pending[0] = rest
            if self._hold_until is None or wrote:
                self._hold_until = time.monotonic() + PARTIAL_LINE_SECONDS
            return self.faults.recovered()
        self._hold_until = None
        return self.faults.recovered()

    # -- close -------------------------------------------------------------------------------

    def close(self) -> None:
        """Never waits: a running flusher keeps draining for a while, then closes the fd."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            message = self._drain_locked() if self._pending and self._fd >= 0 else None
            # Said now, while the main log is surely still open: the flusher may still get
            # the buffered bytes out, but the daemon may be about to exit.
            message = self.faults.closing(self._pending_bytes) or message
            if not self._registered:
                for chunk in self._pending:
                    self.faults.drop(chunk)
                self._pending.clear()
                self._pending_bytes = 0
                self._release()
        if message:
            self.faults.report(message)

    def _release(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        elif self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
