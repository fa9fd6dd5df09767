"""The connection reactor: one thread accepts, reads and writes every XML-RPC connection
without blocking, and hands only complete requests to the workers.

Owns: the listening sockets while serving (with a backoff when accept runs out of
descriptors, logged once per episode), every connection's buffers, state and deadline, the
bound on connections (when full: the longest idle, else the slowest unfinished request is
closed to make room; else 503), auth as soon as a request head is in (401 before the body,
as supervisord does), head and body limits, and closing politely (drain what the client
still sends for ``linger`` seconds, so it reads our answer instead of a reset).
May import: this package's http, auth and sockets, stdlib.
Threading: the reactor thread alone touches the selector and any connection not BUSY.
Other threads hand a connection back only through ``reply`` and ``close`` (a deque and one
wakeup byte), as supervisord's medusa loop would have done it all on one thread. A slow or
half-open client thus costs a buffer and a descriptor, never a thread. (A BUSY connection is
its worker's: on a keep-alive connection the worker writes the answer and takes the next
complete request itself, see keepalive.py, and hands back anything else.)
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable

from .auth import BasicAuth
from .conn import Conn, State, error_answer
from .http import HttpError, Limits, Request, content_length, strip_blank_lines, take_head
from .sockets import Bound

log = logging.getLogger("supgrpc")
MAX_REJECTS = 8  # connections being answered 503 at once; beyond that they are just closed
REJECT_SECONDS = 1.0
ACCEPT_BURST = 32
PAUSE_FIRST, PAUSE_MAX = 0.05, 2.0  # accept backoff when out of descriptors
_OUT_OF_FDS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_QUIET = {401, 408, 503}  # refusals that are not the client's mistake in the request


Dispatch = Callable[[Conn, Request], None]


class Reactor:
    def __init__(
        self,
        listeners: list[Bound],
        limits: Limits,
        dispatch: Dispatch,
        stopping: threading.Event,
    ) -> None:
        self.listeners = listeners
        self.limits = limits
        self.dispatch = dispatch
        self.stopping = stopping
        self.auth = {id(b): BasicAuth(b.spec.username, b.spec.password) for b in listeners}
        self.thread = threading.Thread(target=self._run, name="xmlrpc-io", daemon=True)
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._inbox: deque[tuple[Conn, bytes | None, bool]] = deque()
        self._conns: set[Conn] = set()
        self._count = 0  # connections that are not being rejected
        self._rejects = 0
        self._resume_at: float | None = None
        self._pause = 0.0
        self._out_of_fds = 0  # refused accepts in this episode

    # ---- any thread -----------------------------------------------------------------------

    def reply(self, conn: Conn, data: bytes, keep: bool) -> None:
        """Send ``data`` on a BUSY connection, then read the next request (``keep``) or close."""
        self._inbox.append((conn, data, keep))
        self.wake()

    def close(self, conn: Conn) -> None:
        """A BUSY connection is finished with (a stream ended)."""
        self._inbox.append((conn, None, False))
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # a full buffer already means "woken"
            self._wake_w.send(b"\0")

    # ---- the reactor thread ---------------------------------------------------------------

    def _run(self) -> None:
        for bound in self.listeners:
            bound.sock.setblocking(False)
        self._listen(True)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        grace: float | None = None
        try:
            while True:
                now = time.monotonic()
                if self.stopping.is_set():
                    if grace is None:
                        grace = now + self.limits.stop_grace
                        self._listen(False)
                    if self._stop_step(now >= grace):
                        return
                for key, mask in self._sel.select(self._timeout(now, grace)):
                    self._event(key.data, mask)
                self._drain_inbox()
                self._expire(time.monotonic())
        finally:
            for conn in list(self._conns):
                self._drop(conn)
            self._sel.close()
            self._wake_r.close()
            self._wake_w.close()

    def _event(self, data: object, mask: int) -> None:
        if data is None:
            with contextlib.suppress(OSError):
                self._wake_r.recv(4096)
        elif isinstance(data, Bound):
            self._accept(data)
        elif isinstance(data, Conn):
            try:
                if mask & selectors.EVENT_WRITE and data.state is State.WRITE:
                    self._write(data)
                if mask & selectors.EVENT_READ and data.state is not State.WRITE:
                    self._read(data)
            except Exception:  # a bug must cost one connection, not the server
                log.error("XML-RPC: connection failed", exc_info=True)
                self._drop(data)

    def _timeout(self, now: float, grace: float | None) -> float | None:
        soonest = min((c.deadline for c in self._conns), default=math.inf)
        for extra in (self._resume_at, grace):
            if extra is not None:
                soonest = min(soonest, extra)
        return None if soonest == math.inf else max(0.0, soonest - now)

    def _stop_step(self, late: bool) -> bool:
        """Close all but answers in flight (until ``late``). True when nothing is left."""
        for conn in list(self._conns):
            in_flight = conn.state in (State.BUSY, State.WRITE) and not conn.streaming
            if late or not in_flight:
                self._drop(conn)
        return not self._conns

    def _drain_inbox(self) -> None:
        while self._inbox:
            conn, data, keep = self._inbox.popleft()
            if conn not in self._conns:
                continue
            if data is None:
                self._drop(conn)
            else:
                self._send(conn, data, keep)

    def _expire(self, now: float) -> None:
        if self._resume_at is not None and now >= self._resume_at:
            self._resume_at = None
            if not self.stopping.is_set():  # the listeners stay closed while stopping
                self._resume_accepting()
        for conn in [c for c in self._conns if c.deadline <= now]:
            if conn.reject and conn.state in (State.IDLE, State.HEAD):
                self._refuse(conn, "HTTP/1.1", HttpError(503))
            elif conn.state in (State.HEAD, State.BODY):
                version = conn.request.version if conn.request else "HTTP/1.1"
                self._refuse(conn, version, HttpError(408, "request not received in time"))
            else:
                self._drop(conn)

    # ---- accepting ------------------------------------------------------------------------

    def _resume_accepting(self) -> None:
        self._listen(True)
        # Try at once rather than wait for a client: the backlog may well be empty (the
        # EMFILE came from the accept after the one that took the last descriptor), and
        # only an attempt tells whether the episode is over.
        for bound in self.listeners:
            if self._resume_at is None:
                self._accept(bound)

    def _listen(self, on: bool) -> None:
        for bound in self.listeners:
            with contextlib.suppress(KeyError, ValueError, OSError):
                if on:
                    self._sel.register(bound.sock, selectors.EVENT_READ, bound)
                else:
                    self._sel.unregister(bound.sock)

    def _accept(self, bound: Bound) -> None:
        for _ in range(ACCEPT_BURST):
            try:
                sock, _ = bound.sock.accept()
            except BlockingIOError:
                # Linux takes the descriptor before it looks at the backlog: EAGAIN means
                # one was free, so an out-of-descriptors episode is over (nobody queued).
                self._accepting_again()
                return
            except InterruptedError:
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    self._back_off(exc)
                else:  # the client gave up before we accepted (ECONNABORTED...)
                    log.warning("XML-RPC: accept failed: %s", exc)
                return
            self._accepting_again()
            self._admit(sock, bound)

    def _accepting_again(self) -> None:
        if self._out_of_fds:
            log.info(
                "XML-RPC: accepting connections again (%d attempts failed meanwhile)",
                self._out_of_fds,
            )
            self._out_of_fds, self._pause = 0, 0.0

    def _back_off(self, exc: OSError) -> None:
        """Stop watching the listeners for a growing delay: a listener with a queued
        connection stays readable, so retrying at once spins (and logged 20 lines/s)."""
        if not self._out_of_fds:
            log.error("XML-RPC: cannot accept connections: %s; retrying with backoff", exc)
        self._out_of_fds += 1
        self._pause = min(PAUSE_MAX, self._pause * 2 or PAUSE_FIRST)
        self._listen(False)
        self._resume_at = time.monotonic() + self._pause

    def _admit(self, sock: socket.socket, bound: Bound) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(sock, self.auth[id(bound)])
        if self._count >= self.limits.max_connections and not self._evict():
            if self._rejects >= MAX_REJECTS:
                sock.close()
                return
            if not self._rejects:
                log.warning("XML-RPC: %d connections busy; refusing new ones", self._count)
            conn.reject = True
            self._rejects += 1
        else:
            self._count += 1
        self._conns.add(conn)
        wait = REJECT_SECONDS if conn.reject else self.limits.request_timeout
        conn.deadline = conn.since + wait
        self._watch(conn, selectors.EVENT_READ)

    def _evict(self) -> bool:
        """Make room: a lingering one, else the longest idle, else the oldest unfinished."""
        for states in ((State.LINGER,), (State.IDLE,), (State.HEAD, State.BODY)):
            victims = [c for c in self._conns if c.state in states and not c.reject]
            if victims:
                self._drop(min(victims, key=lambda c: c.since))
                return True
        return False

    # ---- reading --------------------------------------------------------------------------

    def _read(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
        elif conn.state is not State.LINGER:
            conn.inbuf += data
            self._advance(conn)

    def _advance(self, conn: Conn) -> None:
        """Take what the buffer holds as far as it goes: begin, head, body, dispatch."""
        if conn.state is State.IDLE:
            strip_blank_lines(conn.inbuf)
            if not conn.inbuf:
                return
            conn.state, conn.since = State.HEAD, time.monotonic()
            if not conn.reject:
                conn.deadline = conn.since + self.limits.request_timeout
        if conn.state is State.HEAD:
            try:
                request = take_head(conn.inbuf, self.limits)
                if request is None:
                    return
                self._check(conn, request)
            except HttpError as exc:
                self._refuse(conn, conn.request.version if conn.request else "HTTP/1.1", exc)
                return
            conn.state = State.BODY
        if conn.state is State.BODY and conn.request is not None:
            if len(conn.inbuf) < conn.need:
                return
            request, conn.request = conn.request, None
            with memoryview(conn.inbuf) as view:  # one copy of the body, no more
                request.body = bytes(view[: conn.need])
                rest = bytearray(view[conn.need :])
            conn.inbuf = rest  # (deleting a prefix would keep the whole allocation)
            conn.state, conn.deadline = State.BUSY, math.inf
            self._watch(conn, 0)
            self.dispatch(conn, request)

    def _check(self, conn: Conn, request: Request) -> None:
        """Everything that can be refused from the head alone, before any body is read."""
        conn.request = request
        if conn.reject:
            raise HttpError(503)
        if not conn.auth.allows(request.header("authorization")):
            raise HttpError(401)
        conn.need = content_length(request)
        if conn.need > self.limits.max_body:
            raise HttpError(413, f"body of {conn.need} bytes is over {self.limits.max_body}")
        if (
            conn.need > len(conn.inbuf)
            and request.version == "HTTP/1.1"
            and (request.header("expect") or "").lower() == "100-continue"
        ):
            with contextlib.suppress(OSError):  # nothing else is being sent now
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _refuse(self, conn: Conn, version: str, exc: HttpError) -> None:
        if exc.status not in _QUIET:
            log.warning("XML-RPC: refused a request (%d): %s", exc.status, exc)
        self._send(conn, error_answer(version, exc.status, keep_alive=False), False)

    # ---- writing and closing --------------------------------------------------------------

    def _send(self, conn: Conn, data: bytes, keep: bool) -> None:
        conn.out, conn.keep, conn.state = memoryview(data), keep, State.WRITE
        conn.request = None
        conn.deadline = time.monotonic() + self.limits.send_timeout
        self._write(conn)

    def _write(self, conn: Conn) -> None:
        assert conn.out is not None
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(conn)
            return
        conn.out = conn.out[sent:]
        if conn.out:
            if sent:
                conn.deadline = time.monotonic() + self.limits.send_timeout
            self._watch(conn, selectors.EVENT_WRITE)
            return
        conn.out = None
        now = time.monotonic()
        if conn.keep and not self.stopping.is_set():
            conn.state, conn.since, conn.served = State.IDLE, now, True
            conn.deadline = now + self.limits.idle_timeout
            self._watch(conn, selectors.EVENT_READ)
            self._advance(conn)  # a pipelined request may be buffered already
            return
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)
        conn.state, conn.since, conn.deadline = State.LINGER, now, now + self.limits.linger
        conn.inbuf.clear()
        self._watch(conn, selectors.EVENT_READ)

    def _watch(self, conn: Conn, events: int) -> None:
        if events == conn.events:
            return
        if not events:
            self._sel.unregister(conn.sock)
        elif not conn.events:
            self._sel.register(conn.sock, events, conn)
        else:
            self._sel.modify(conn.sock, events, conn)
        conn.events = events

    def _drop(self, conn: Conn) -> None:
        if conn not in self._conns:
            return
        self._conns.discard(conn)
        if conn.reject:
            self._rejects -= 1
        else:
            self._count -= 1
        if conn.events:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(conn.sock)
        if conn.state is State.BUSY:
            # A worker or stream thread still holds it: wake it, let it finish on a dead
            # socket; the descriptor is closed here all the same.
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            conn.sock.close()
