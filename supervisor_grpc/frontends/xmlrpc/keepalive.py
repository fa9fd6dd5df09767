"""The worker's fast path on a keep-alive connection: write the answer itself, and take the
next request itself when it arrives complete within a very short window.

Why: a client that makes one call after another (supervisorctl, xmlrpc.client) otherwise
pays two thread hand-offs per call on top of the call itself (reactor -> worker, worker ->
reactor via the deque and a wakeup byte, then a selector re-registration), which made
getState 0.7x of the thread-per-connection server this reactor replaced. On this path the
worker that answered sends without blocking and, if the client's next request is complete
within ``WINDOW`` seconds, answers it too; the reactor is not involved at all.

Nothing the reactor guards is given up: anything but a complete, authorised request within
the limits (a partial head or body, a refusal, ``Expect: 100-continue``, EOF, an answer that
does not fit the socket buffer) goes back to the reactor unchanged, which then reads,
refuses or writes it as before. A slow client can thus hold a worker for ``WINDOW`` at
most, and only after it has sent a complete request.
Owns: nothing beyond the call; the connection stays BUSY (owned by this worker) throughout.
May import: this package's conn, http and reactor, stdlib.
Threading: the worker that holds the BUSY connection.
"""

from __future__ import annotations

import select
import threading

from .conn import Conn
from .http import HttpError, Limits, Request, content_length, strip_blank_lines, take_head
from .reactor import Reactor

WINDOW = 0.005  # seconds a worker waits for the next request before handing back
_READ = 65536


def finish(
    reactor: Reactor, conn: Conn, data: bytes, keep: bool, stopping: threading.Event
) -> Request | None:
    """Send ``data``; the next complete request to answer on this worker, or None once the
    connection has been handed back to the reactor (or closed)."""
    try:
        sent = conn.sock.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:  # the client went away: the reactor drops it
        reactor.close(conn)
        return None
    if sent < len(data) or not keep or stopping.is_set():
        reactor.reply(conn, data[sent:], keep)
        return None
    request = _next(conn, reactor.limits)
    if request is None:
        reactor.reply(conn, b"", keep)  # the reactor reads on (or closes, if stopping)
    return request


def _next(conn: Conn, limits: Limits) -> Request | None:
    request = complete(conn, limits)
    if request is not None:
        return request
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    try:
        if not poller.poll(WINDOW * 1000):
            return None
        chunk = conn.sock.recv(_READ)
    except (BlockingIOError, InterruptedError):
        return None
    except (OSError, ValueError):  # closed under us (stop): the reactor sees it too
        return None
    if not chunk:
        return None  # EOF: the reactor's read sees it and drops the connection
    conn.inbuf += chunk
    return complete(conn, limits)


def complete(conn: Conn, limits: Limits) -> Request | None:
    """The request at the start of ``conn.inbuf`` if it is complete and nothing in it is to be
    refused (then taken out of the buffer); else None and the buffer is left for the
    reactor, which refuses or waits exactly as for any other connection."""
    buf = conn.inbuf
    strip_blank_lines(buf)
    end, sep = buf.find(b"\r\n\r\n"), 4
    lf = buf.find(b"\n\n")
    if lf >= 0 and (end < 0 or lf < end):
        end, sep = lf, 2
    if end < 0 or end > limits.max_head:
        return None
    start = end + sep
    try:
        request = take_head(bytearray(buf[:start]), limits)
        if request is None or not conn.auth.allows(request.header("authorization")):
            return None
        need = content_length(request)
    except HttpError:
        return None
    if need > limits.max_body or len(buf) - start < need:
        return None
    with memoryview(buf) as view:
        request.body = bytes(view[start : start + need])
        rest = bytearray(view[start + need :])
    conn.inbuf = rest
    return request
