"""``GET /logtail/<namespec>[/stdout|/stderr]`` and ``GET /mainlogtail``: never-ending streams.

Owns: resolving the log a tail URL names, the response head supervisor sends, and following
the log until the client leaves or the server stops.
May import: control, model, errors, this package's http, stdlib.
Threading: runs on the requesting connection's thread, holding one stream slot.

Like supervisor, a stream starts with the last 1024 bytes of the log file and then sends what
is appended. Unlike supervisor (which polls the file every 0.1 s and can lose the bytes of a
rotation), what follows comes from the channel's in-memory ring by absolute offset: a wait on
its condition wakes us as soon as bytes arrive, and rotation, reopen or clear never lose or
repeat a byte. A follower more than the ring's size behind is told how much it skipped.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import urllib.parse
from email.utils import formatdate
from typing import TYPE_CHECKING

from ...control import Control
from ...errors import SupervisorError
from ...model import Channel
from .http import LAST_CHUNK, HttpError, Request, chunk, response_head, send_all
from .structs import split_namespec

if TYPE_CHECKING:
    from ...logstore import LogChannel

HEAD_BYTES = 1024
WAKE_SECONDS = 1.0  # how often an idle stream checks for a vanished client or a stop


def resolve(control: Control, request: Request, *, main: bool) -> LogChannel:
    """The log channel a tail URL names (its read side is thread-safe), or HTTP 404."""
    if request.method != "GET":
        raise HttpError(400, "logtail needs GET", close=not request.keep_alive)
    try:
        if main:
            channel = control.log_channel(None)
        else:
            name, which = _parse_path(request.path)
            group, process = split_namespec(name)
            if process is None or which is None:
                raise HttpError(404, close=not request.keep_alive)
            channel = control.log_channel(f"{group}:{process}", which)
    except SupervisorError:
        raise HttpError(404, close=not request.keep_alive) from None
    path = channel.path
    if path is None or not os.path.isfile(path):
        # supervisor: no log file is a 404 (a temporary condition: config may change)
        raise HttpError(404, close=not request.keep_alive)
    return channel


def _parse_path(path: str) -> tuple[str, Channel | None]:
    rest = urllib.parse.unquote(path).lstrip("/")
    _, _, rest = rest.partition("/")  # drop "logtail"
    name, sep, which = rest.partition("/")
    if not sep:
        return name, Channel.STDOUT
    return name, {"stdout": Channel.STDOUT, "stderr": Channel.STDERR}.get(which)


def _client_gone(sock: socket.socket) -> bool:
    """True when the client closed its end. Bytes it sends are read and ignored (supervisor's
    own tail client sends a stray CRLF after its request)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        sock.settimeout(0)
        return not sock.recv(4096)
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):
        # ValueError: the reactor closed the socket under us (it drops every stream when the
        # server stops, after shutting the socket down to wake us): the stream is over.
        return True


def stream(
    sock: socket.socket,
    request: Request,
    channel: LogChannel,
    accel_header: bool,
    stopping: threading.Event,
    send_timeout: float,
) -> None:
    """Send the head, the last 1024 bytes, then follow. Returns when the stream is over (the
    caller closes the connection)."""
    path = channel.path or ""
    chunked = request.version == "HTTP/1.1"
    headers = [("Last-Modified", _mtime(path)), ("Content-Type", "text/plain;charset=utf-8")]
    if accel_header:
        headers.append(("X-Accel-Buffering", "no"))
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))

    def send(data: bytes) -> None:
        if data:
            send_all(sock, chunk(data) if chunked else data, send_timeout)

    cursor, head = _start(channel)
    version = "HTTP/1.1" if chunked else "HTTP/1.0"
    try:
        send_all(sock, response_head(version, 200, headers, keep_alive=False), send_timeout)
        send(head)
        while not stopping.is_set():
            result = channel.read(cursor, 65536)
            if result.skipped:
                send(f"\n==> {result.skipped} bytes skipped (reader fell behind) <==\n".encode())
            if result.data:
                send(result.data)
                cursor = result.next_cursor
                continue
            cursor = result.next_cursor
            if channel.closed:
                break
            channel.wait(cursor, WAKE_SECONDS)
            if _client_gone(sock):
                return
        if chunked:
            send_all(sock, LAST_CHUNK, send_timeout)
    except OSError:
        return


def _start(channel: LogChannel) -> tuple[int, bytes]:
    """Where to start following, and any bytes to send first.

    The head and what follows must come from one source, or a chunk can be sent twice. So
    once this run has written anything, the head is the ring's last HEAD_BYTES and following
    starts there; only while the ring is empty (a fresh start over an old file) is the head
    read from the file.
    """
    if channel.end_offset == 0:
        head, _, _ = channel.tail_file(0, HEAD_BYTES)
        # The channel appends to its ring before its file: if the ring is still empty now,
        # the file held nothing of this run when we read it, so following from 0 repeats
        # nothing. Otherwise a chunk raced us: forget the file, use the ring alone.
        if channel.end_offset == 0:
            return 0, head
    end = channel.end_offset
    return max(channel.start_offset, end - HEAD_BYTES), b""


def _mtime(path: str) -> str:
    with contextlib.suppress(OSError):
        return formatdate(os.stat(path).st_mtime, usegmt=True)
    return formatdate(usegmt=True)
